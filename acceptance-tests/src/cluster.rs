//! A stand-in self-managed Kubernetes cluster in moto, the way the manual flow starts: a VPC with
//! DNS support, one subnet per availability zone, a security group for the nodes, a master and
//! workers spread over the subnets.

use aws_sdk_ec2::types::{AttributeBooleanValue, InstanceType};

use crate::{block_on, Moto, REGION};

/// The ids of a stand-in cluster.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub vpc_id: String,
    pub vpc_cidr: String,
    /// One subnet per availability zone, in AZ order (`us-east-1a`, `-b`, `-c`, ...).
    pub subnet_ids: Vec<String>,
    pub availability_zones: Vec<String>,
    pub node_security_group_id: String,
    /// The master first, then the workers.
    pub instance_ids: Vec<String>,
}

impl Cluster {
    /// A cluster with `azs` subnets (at most 6) and `1 + workers` instances spread round-robin.
    pub fn create(moto: &Moto, azs: usize, workers: usize) -> Cluster {
        block_on(create(moto, azs, workers))
    }

    /// Starts `count` more instances in the cluster's subnets and returns their ids.
    pub fn add_instances(&mut self, moto: &Moto, count: usize) -> Vec<String> {
        let ec2 = moto.ec2();
        let start = self.instance_ids.len();
        let ids: Vec<String> = (0..count)
            .map(|i| {
                let subnet = &self.subnet_ids[(start + i) % self.subnet_ids.len()];
                block_on(run_instance(&ec2, subnet, &self.node_security_group_id, &format!("worker-{}", start + i)))
            })
            .collect();
        self.instance_ids.extend(ids.iter().cloned());
        ids
    }

    /// The instance ids as an HCL list literal.
    pub fn instance_ids_hcl(&self) -> String {
        hcl_list(&self.instance_ids)
    }

    /// The subnet ids as an HCL list literal.
    pub fn subnet_ids_hcl(&self) -> String {
        hcl_list(&self.subnet_ids)
    }

    /// A `module "prometheus_storage"` block calling the example module `examples/prometheus-on-ec2`
    /// for this cluster, with base name `name` and `extra` argument lines (e.g. `tags = {...}`).
    pub fn example_module_block(&self, name: &str, extra: &str) -> String {
        format!(
            r#"module "prometheus_storage" {{
  source = "{module}"

  name                   = "{name}"
  instance_ids           = {instances}
  subnet_ids             = {subnets}
  node_security_group_id = "{group}"
{extra}}}
"#,
            module = crate::repo_root().join("examples/prometheus-on-ec2").display(),
            instances = self.instance_ids_hcl(),
            subnets = self.subnet_ids_hcl(),
            group = self.node_security_group_id,
        )
    }
}

/// Renders strings as an HCL list literal: `["a", "b"]`.
pub fn hcl_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", "))
}

async fn create(moto: &Moto, azs: usize, workers: usize) -> Cluster {
    assert!((1..=6).contains(&azs), "a stand-in cluster has 1 to 6 availability zones");
    let ec2 = moto.ec2();
    let vpc_cidr = "10.20.0.0/16".to_string();
    let vpc = ec2.create_vpc().cidr_block(&vpc_cidr).send().await.expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
    for attribute in ["dns_support", "dns_hostnames"] {
        let on = AttributeBooleanValue::builder().value(true).build();
        let request = ec2.modify_vpc_attribute().vpc_id(&vpc_id);
        let request =
            if attribute == "dns_support" { request.enable_dns_support(on) } else { request.enable_dns_hostnames(on) };
        request.send().await.expect("ModifyVpcAttribute");
    }
    let mut subnet_ids = Vec::new();
    let mut availability_zones = Vec::new();
    for (i, letter) in ['a', 'b', 'c', 'd', 'e', 'f'].iter().take(azs).enumerate() {
        let az = format!("{REGION}{letter}");
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.20.{}.0/24", i + 1))
            .availability_zone(&az)
            .send()
            .await
            .expect("CreateSubnet");
        subnet_ids.push(subnet.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
        availability_zones.push(az);
    }
    let group = ec2
        .create_security_group()
        .group_name("k8s-nodes")
        .description("Kubernetes nodes")
        .vpc_id(&vpc_id)
        .send()
        .await
        .expect("CreateSecurityGroup");
    let node_security_group_id = group.group_id().expect("group id").to_string();
    let mut instance_ids = Vec::new();
    for i in 0..=workers {
        let name = if i == 0 { "master".to_string() } else { format!("worker-{i}") };
        let subnet = &subnet_ids[i % subnet_ids.len()];
        instance_ids.push(run_instance(&ec2, subnet, &node_security_group_id, &name).await);
    }
    Cluster { vpc_id, vpc_cidr, subnet_ids, availability_zones, node_security_group_id, instance_ids }
}

async fn run_instance(ec2: &aws_sdk_ec2::Client, subnet: &str, group: &str, name: &str) -> String {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key("Name").value(name).build())
        .build();
    let reservation = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .security_group_ids(group)
        .tag_specifications(tags)
        .send()
        .await
        .expect("RunInstances");
    reservation.instances()[0].instance_id().expect("instance id").to_string()
}
