//! The scenario every acceptance test runs in: a [`Workdir`] against a [`Moto`] that always ends
//! with `destroy` and a check that nothing is left, as terraform-provider-aws's acceptance tests
//! end with `CheckDestroy`.
//!
//! The end runs when the [`Scenario`] is dropped (or at [`Scenario::finish`]), so no test can
//! forget it, and also when the test body panics: then what it finds is printed instead of
//! raising a second panic (which would abort the test process). It checks two things:
//!
//! * every AWS object named in the state (the current one and the local backend's backups, the
//!   states before the last changes) is gone from moto;
//! * moto holds no object of a kind the provider makes (an [`Inventory`]) that was not there when
//!   the scenario began. Objects a test makes out of band for its setup belong before
//!   [`Scenario::new`], or the test removes them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::ops::{Deref, DerefMut};
use std::process::Stdio;
use std::thread;

use serde_json::Value;

use crate::cli::{self, Cli};
use crate::{block_on, Moto, Workdir};

const DESTROY: &[&str] = &["destroy", "-auto-approve", "-input=false", "-no-color"];

/// A test's work directory that destroys what it applied and checks that moto is left clean.
/// Dereferences to its [`Workdir`].
pub struct Scenario<'m> {
    moto: &'m Moto,
    workdir: Workdir,
    baseline: Inventory,
    finished: bool,
}

impl<'m> Scenario<'m> {
    /// A scenario in a new [`Workdir`] for the CLI of this run.
    pub fn new(moto: &'m Moto) -> Scenario<'m> {
        Scenario::in_workdir(moto, Workdir::new(moto))
    }

    /// A scenario for a given CLI (tests of what only one CLI has; see [`Workdir::with_cli`]).
    pub fn with_cli(moto: &'m Moto, cli: Cli) -> Scenario<'m> {
        Scenario::in_workdir(moto, Workdir::with_cli(moto, cli))
    }

    /// A scenario in an existing work directory (one already written, such as
    /// [`crate::example_module::Bench::fresh`] makes). What moto holds now is the baseline.
    pub fn in_workdir(moto: &'m Moto, workdir: Workdir) -> Scenario<'m> {
        let baseline = Inventory::of(moto).unwrap_or_else(|e| panic!("reading moto's inventory: {e}"));
        Scenario { moto, workdir, baseline, finished: false }
    }

    /// The moto this scenario runs against.
    pub fn moto(&self) -> &'m Moto {
        self.moto
    }

    /// Records an object the test itself made after the scenario began (a fixture broken or
    /// added between steps), so the end does not count it as left behind. `kind` is one of the
    /// [`Inventory`] kinds.
    pub fn made_by_test(&mut self, kind: &'static str, id: &str) {
        assert!(KINDS.contains(&kind), "{kind:?} is not an inventory kind: {KINDS:?}");
        self.baseline.0.entry(kind).or_default().insert(id.to_string());
    }

    /// Panics, listing them, when moto holds objects of a kind the provider makes that were not
    /// there when the scenario began: "a failed plan or apply created nothing".
    pub fn assert_nothing_new(&self) {
        let now = Inventory::of(self.moto).unwrap_or_else(|e| panic!("reading moto's inventory: {e}"));
        let new = now.without(&self.baseline);
        assert!(new.is_empty(), "moto holds objects the scenario began without: {new}");
    }

    /// Ends the scenario now: destroys what the state holds and checks that nothing is left;
    /// panics saying what is wrong.
    pub fn finish(mut self) {
        self.finished = true;
        if let Err(problem) = self.end() {
            panic!("{problem}");
        }
    }

    /// Destroy and the checks; never panics, so it can run while the test is panicking.
    fn end(&self) -> Result<(), String> {
        let state = self.state_objects()?;
        if state.managed_resources > 0 {
            let cmd = {
                let mut cmd = self.workdir.command_unchecked(DESTROY);
                cmd.stdin(Stdio::null());
                cmd
            };
            let out = cli::try_run_to_end(cmd, self.workdir.cli(), DESTROY)?;
            if !out.success() {
                return Err(format!("the scenario's closing destroy failed: {out}"));
            }
        }
        let now = Inventory::of(self.moto)?;
        let still_there: Vec<String> = state
            .objects
            .iter()
            .filter(|(kind, id)| now.contains(kind, id))
            .map(|(kind, id)| format!("{kind} {id}"))
            .collect();
        if !still_there.is_empty() {
            return Err(format!("destroy left objects the state named: {}", still_there.join(", ")));
        }
        let new = now.without(&self.baseline);
        if !new.is_empty() {
            return Err(format!("objects left in moto that the scenario began without: {new}"));
        }
        Ok(())
    }

    /// The managed resources of the state, and the AWS objects named by it and its backups.
    fn state_objects(&self) -> Result<StateObjects, String> {
        let mut found = StateObjects::default();
        // `terraform.tfstate`, then the backups: `terraform.tfstate.backup` (the state before the
        // last apply or destroy) and `terraform.tfstate.<time>.backup` (before a `state` command).
        let mut names = vec!["terraform.tfstate".to_string()];
        let entries = fs::read_dir(self.workdir.path()).map_err(|e| format!("list the work dir: {e}"))?;
        names.extend(
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("terraform.tfstate.") && n.ends_with(".backup")),
        );
        for (i, name) in names.iter().enumerate() {
            let path = self.workdir.path().join(name);
            let Ok(text) = fs::read_to_string(&path) else { continue };
            if text.trim().is_empty() {
                continue;
            }
            let state: Value =
                serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
            let resources = state["resources"].as_array().cloned().unwrap_or_default();
            for resource in resources.iter().filter(|r| r["mode"] == "managed") {
                for instance in resource["instances"].as_array().into_iter().flatten() {
                    if i == 0 {
                        found.managed_resources += 1;
                    }
                    found.objects.extend(named_objects(resource["type"].as_str().unwrap_or_default(), instance));
                }
            }
        }
        Ok(found)
    }
}

impl Deref for Scenario<'_> {
    type Target = Workdir;

    fn deref(&self) -> &Workdir {
        &self.workdir
    }
}

impl DerefMut for Scenario<'_> {
    fn deref_mut(&mut self) -> &mut Workdir {
        &mut self.workdir
    }
}

impl Drop for Scenario<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        match self.end() {
            Ok(()) => {}
            // A second panic while unwinding would abort the whole test binary.
            Err(problem) if thread::panicking() => eprintln!("--- after the failure, the scenario's end: {problem}"),
            Err(problem) => panic!("{problem}"),
        }
    }
}

#[derive(Default)]
struct StateObjects {
    /// Managed resource instances in the current state.
    managed_resources: usize,
    /// `(inventory kind, id)` of every AWS object the states name.
    objects: BTreeSet<(&'static str, String)>,
}

/// The AWS objects one resource instance of the state names, as `(inventory kind, id)`.
fn named_objects(resource_type: &str, instance: &Value) -> Vec<(&'static str, String)> {
    let attributes = &instance["attributes"];
    let text = |name: &str| attributes[name].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let mut objects = Vec::new();
    let mut add = |kind: &'static str, id: Option<String>| objects.extend(id.map(|id| (kind, id)));
    match resource_type {
        "efs_prometheus_volume" => {
            add("file_systems", text("file_system_id"));
            add("access_points", text("access_point_id"));
            add("security_groups", text("security_group_id"));
            for mount_target in attributes["mount_targets"].as_array().into_iter().flatten() {
                add("mount_targets", mount_target["mount_target_id"].as_str().map(str::to_string));
            }
        }
        "efs_csi_node_identity" => {
            add("roles", text("role_name"));
            add("policies", text("policy_arn"));
            add("instance_profiles", text("instance_profile_name"));
            for association in attributes["associations"].as_object().into_iter().flat_map(|m| m.values()) {
                add("associations", association["association_id"].as_str().map(str::to_string));
            }
        }
        _ => {}
    }
    objects
}

/// What moto holds of each kind of object the provider makes, by id: `roles` (names),
/// `policies` (customer-managed, ARNs), `instance_profiles` (names), `associations` (live
/// instance profile associations), `file_systems`, `mount_targets`, `access_points` and
/// `security_groups` (the NFS groups a volume makes, named `efs-prometheus-*`). Kinds with
/// nothing are left out.
/// The kinds of an [`Inventory`].
const KINDS: &[&str] = &[
    "roles",
    "policies",
    "instance_profiles",
    "associations",
    "file_systems",
    "mount_targets",
    "access_points",
    "security_groups",
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory(BTreeMap<&'static str, BTreeSet<String>>);

impl Inventory {
    /// Reads moto's inventory; an error names the call that failed.
    pub fn of(moto: &Moto) -> Result<Inventory, String> {
        block_on(read_inventory(moto))
    }

    /// The ids of one kind.
    pub fn ids(&self, kind: &str) -> impl Iterator<Item = &String> {
        self.0.get(kind).into_iter().flatten()
    }

    pub fn contains(&self, kind: &str, id: &str) -> bool {
        self.0.get(kind).is_some_and(|ids| ids.contains(id))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many objects of each kind.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.0.iter().map(|(kind, ids)| (*kind, ids.len())).collect()
    }

    /// The objects of this inventory that `earlier` does not hold.
    pub fn without(&self, earlier: &Inventory) -> Inventory {
        let mut left = BTreeMap::new();
        for (kind, ids) in &self.0 {
            let new: BTreeSet<String> = ids.iter().filter(|id| !earlier.contains(kind, id)).cloned().collect();
            if !new.is_empty() {
                left.insert(*kind, new);
            }
        }
        Inventory(left)
    }

    /// The inventory as lists of ids per kind.
    pub fn into_map(self) -> BTreeMap<&'static str, Vec<String>> {
        self.0.into_iter().map(|(kind, ids)| (kind, ids.into_iter().collect())).collect()
    }
}

impl std::fmt::Display for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// An SDK error as the message of a failed inventory read.
fn failed<E: std::fmt::Debug>(call: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{call}: {e:?}")
}

async fn read_inventory(moto: &Moto) -> Result<Inventory, String> {
    let (iam, ec2, efs) = (moto.iam(), moto.ec2(), moto.efs());
    let mut found: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    let roles = iam.list_roles().send().await.map_err(failed("ListRoles"))?;
    found.insert("roles", roles.roles().iter().map(|r| r.role_name().to_string()).collect());
    let policies = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .map_err(|e| e.to_string())
        .map_err(failed("ListPolicies"))?;
    found.insert("policies", policies.policies().iter().filter_map(|p| p.arn().map(str::to_string)).collect());
    let profiles =
        iam.list_instance_profiles().send().await.map_err(|e| e.to_string()).map_err(failed("ListInstanceProfiles"))?;
    found.insert(
        "instance_profiles",
        profiles.instance_profiles().iter().map(|p| p.instance_profile_name().to_string()).collect(),
    );
    let associations = ec2
        .describe_iam_instance_profile_associations()
        .send()
        .await
        .map_err(|e| e.to_string())
        .map_err(failed("DescribeIamInstanceProfileAssociations"))?;
    found.insert(
        "associations",
        associations
            .iam_instance_profile_associations()
            .iter()
            .filter(|a| a.state().is_some_and(|s| matches!(s.as_str(), "associated" | "associating")))
            .filter_map(|a| a.association_id().map(str::to_string))
            .collect(),
    );
    let file_systems = efs.describe_file_systems().send().await.map_err(failed("DescribeFileSystems"))?;
    let fs_ids: BTreeSet<String> = file_systems.file_systems().iter().map(|f| f.file_system_id().to_string()).collect();
    let mut mount_targets = BTreeSet::new();
    for fs_id in &fs_ids {
        let mts = efs
            .describe_mount_targets()
            .file_system_id(fs_id)
            .send()
            .await
            .map_err(|e| e.to_string())
            .map_err(failed("DescribeMountTargets"))?;
        mount_targets.extend(mts.mount_targets().iter().map(|m| m.mount_target_id().to_string()));
    }
    found.insert("file_systems", fs_ids);
    found.insert("mount_targets", mount_targets);
    let access_points = efs.describe_access_points().send().await.map_err(failed("DescribeAccessPoints"))?;
    found.insert(
        "access_points",
        access_points.access_points().iter().filter_map(|a| a.access_point_id().map(str::to_string)).collect(),
    );
    let groups = ec2.describe_security_groups().send().await.map_err(failed("DescribeSecurityGroups"))?;
    found.insert(
        "security_groups",
        groups
            .security_groups()
            .iter()
            .filter(|g| g.group_name().unwrap_or_default().starts_with("efs-prometheus-"))
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
    );
    found.retain(|_, ids| !ids.is_empty());
    Ok(Inventory(found))
}
