"""Creates (or deletes) a small stand-in self-managed Kubernetes cluster in an AWS API, the way the
manual flow starts: a VPC with DNS support and hostnames, one subnet per availability zone, a
security group for the nodes, and a master plus two workers spread over the subnets.

Used by scripts/run-example.sh against moto; prints the ids as JSON on stdout.

    python standin_cluster.py create --endpoint http://127.0.0.1:PORT [--region us-east-1]
    python standin_cluster.py delete --endpoint ... --state cluster.json
"""

import argparse
import json
import sys

import boto3


def client(args):
    return boto3.client(
        "ec2",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id="AKIAEXAMPLEFAKE00000",
        aws_secret_access_key="example-fake-secret",
    )


def create(args):
    ec2 = client(args)
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnets, zones = [], []
    for i, letter in enumerate("abc"):
        zone = f"{args.region}{letter}"
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{i + 1}.0/24", AvailabilityZone=zone)
        subnets.append(subnet["Subnet"]["SubnetId"])
        zones.append(zone)
    group_id = ec2.create_security_group(
        GroupName="k8s-nodes", Description="Kubernetes nodes", VpcId=vpc_id
    )["GroupId"]
    instances = []
    for i, name in enumerate(["k8s-master", "k8s-worker-1", "k8s-worker-2"]):
        reservation = ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="t3.medium",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnets[i % len(subnets)],
            SecurityGroupIds=[group_id],
            # The manual flow's nodes: IMDSv2 required, and hop limit 2 so pods reach credentials.
            MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
        )
        instances.append(reservation["Instances"][0]["InstanceId"])
    json.dump(
        {
            "vpc_id": vpc_id,
            "subnet_ids": subnets,
            "availability_zones": zones,
            "node_security_group_id": group_id,
            "instance_ids": instances,
        },
        sys.stdout,
        indent=2,
    )
    print()


def delete(args):
    ec2 = client(args)
    with open(args.state) as f:
        cluster = json.load(f)
    ec2.terminate_instances(InstanceIds=cluster["instance_ids"])
    ec2.delete_security_group(GroupId=cluster["node_security_group_id"])
    for subnet in cluster["subnet_ids"]:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=cluster["vpc_id"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["create", "delete"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--state")
    args = parser.parse_args()
    create(args) if args.action == "create" else delete(args)


if __name__ == "__main__":
    main()
