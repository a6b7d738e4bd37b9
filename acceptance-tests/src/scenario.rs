//! The scenario every acceptance test runs in: a [`Workdir`] against a [`Moto`] that always ends
//! with `destroy` and a check that moto is back where it began, as terraform-provider-aws's
//! acceptance tests end with `CheckDestroy`.
//!
//! The end runs when the [`Scenario`] is dropped (or at [`Scenario::finish`]), so no test can
//! forget it, and also when the test body panics: then what it finds is printed instead of
//! raising a second panic (which would abort the test process). It checks:
//!
//! * every AWS object named in the state (the current one and the local backend's backups, the
//!   states before the last changes) is gone from moto;
//! * moto holds no object of a kind the provider makes ([`OBJECT_KINDS`]) that it did not hold
//!   when the scenario began; or, for a scenario told to [`Scenario::compare_everything`] (the
//!   fault and crash suites'), moto's whole [`Inventory`] (also what is set on objects: policy
//!   versions, attachments, rules, tags, interfaces, file system settings, metadata options)
//!   equals the one it had when the scenario began: nothing extra, nothing gone, nothing
//!   changed. Exceptions: what the states name may be gone (an imported or adopted object that
//!   destroy deleted, and what belongs to it); the instance metadata options of instances a state
//!   names may differ (an `efs_csi_node_identity` sets them, and destroy leaves them as set), and
//!   their associations from before may be gone (replaced); and the objects a test declares with
//!   [`Scenario::made_by_test`] or [`Scenario::changed_by_test`] may be anything. Objects a test
//!   makes out of band for its setup belong before [`Scenario::new`], or the test declares them.

use std::collections::BTreeSet;
use std::fs;
use std::ops::{Deref, DerefMut};
use std::process::Stdio;
use std::thread;

use serde_json::Value;

use crate::cli::{self, Cli};
use crate::inventory::{object_of, owner_key, KINDS, OBJECT_KINDS};
use crate::{Inventory, Moto, Workdir};

const DESTROY: &[&str] = &["destroy", "-auto-approve", "-input=false", "-no-color"];

/// A test's work directory that destroys what it applied and checks that moto is left clean.
/// Dereferences to its [`Workdir`].
pub struct Scenario<'m> {
    moto: &'m Moto,
    workdir: Workdir,
    baseline: Inventory,
    /// Objects (ids) the test made or changed itself after the scenario began.
    exempt: BTreeSet<String>,
    /// What earlier states named ([`Scenario::remember_state`]).
    remembered: StateObjects,
    /// Compare every kind of the inventory, both ways ([`Scenario::compare_everything`]).
    everything: bool,
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
        Scenario {
            moto,
            workdir,
            baseline,
            exempt: BTreeSet::new(),
            remembered: StateObjects::default(),
            everything: false,
            finished: false,
        }
    }

    /// The moto this scenario runs against.
    pub fn moto(&self) -> &'m Moto {
        self.moto
    }

    /// Records an object the test itself made after the scenario began (a fixture broken or
    /// added between steps), so the end does not count it, nor anything on it (its tags, rules
    /// ...), as left behind. `kind` is one of the [`Inventory`] kinds.
    pub fn made_by_test(&mut self, kind: &'static str, id: &str) {
        assert!(KINDS.iter().any(|(k, _)| *k == kind), "{kind:?} is not an inventory kind: {KINDS:?}");
        self.exempt.insert(id.to_string());
        self.exempt.insert(owner_key(kind, id));
    }

    /// Records an object that was there when the scenario began and that the test itself
    /// changed or deleted out of band, so the end does not count the change against the provider.
    /// `kind` is one of the [`Inventory`] kinds.
    pub fn changed_by_test(&mut self, kind: &'static str, id: &str) {
        assert!(KINDS.iter().any(|(k, _)| *k == kind), "{kind:?} is not an inventory kind: {KINDS:?}");
        self.exempt.insert(id.to_string());
        self.exempt.insert(owner_key(kind, id));
    }

    /// Keeps what the current state names for the end's checks, as a backup of it would: for a
    /// test whose next commands overwrite every state file that names it (two destroys in a row,
    /// the first one killed, leave only the states after it).
    pub fn remember_state(&mut self) {
        let now = self.state_objects().unwrap_or_else(|e| panic!("reading the state: {e}"));
        self.remembered.objects.extend(now.objects);
        self.remembered.instances.extend(now.instances);
    }

    /// From now on the end (and [`Scenario::assert_back_to_start`]) compares every kind of the
    /// inventory both ways: nothing extra, nothing gone, nothing changed. Without it, the end checks
    /// that no object of [`OBJECT_KINDS`] is new, which suits tests that change their fixtures
    /// out of band on purpose.
    pub fn compare_everything(&mut self) {
        self.everything = true;
    }

    /// What moto's inventory holds now that it did not when the scenario began (for a change, the
    /// new line), objects the test made or changed left out.
    pub fn new_since_start(&self) -> Inventory {
        let now = Inventory::of(self.moto).unwrap_or_else(|e| panic!("reading moto's inventory: {e}"));
        now.without(&self.baseline).filtered(|kind, entry| {
            (self.everything || OBJECT_KINDS.contains(&kind)) && !self.exempt.contains(object_of(entry))
        })
    }

    /// Panics, listing them, when moto holds objects (or settings) that were not there when the
    /// scenario began: "a failed plan or apply created nothing".
    pub fn assert_nothing_new(&self) {
        let new = self.new_since_start();
        assert!(new.is_empty(), "moto holds objects the scenario began without: {new}");
    }

    /// Panics, saying what differs, unless moto's inventory is back to the one the scenario began
    /// with (the check of the end, without its destroy): for a test that destroys by itself.
    pub fn assert_back_to_start(&self) {
        if let Err(problem) = self.state_objects().and_then(|state| self.compare_with_start(&state)) {
            panic!("{problem}");
        }
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
        self.compare_with_start(&state)
    }

    /// The objects the states name are gone, and the inventory is the one the scenario began
    /// with (but for the exceptions in the module's doc).
    fn compare_with_start(&self, state: &StateObjects) -> Result<(), String> {
        let now = Inventory::of(self.moto)?;
        let still_there: Vec<String> = state
            .objects
            .iter()
            .filter(|(kind, id)| now.holds_object(kind, id))
            .map(|(kind, id)| format!("{kind} {id}"))
            .collect();
        if !still_there.is_empty() {
            return Err(format!("destroy left objects the state named: {}", still_there.join(", ")));
        }
        let exempt = |entry: &str| self.exempt.contains(object_of(entry));
        let set_on_nodes = |kind: &str, entry: &str| {
            NODE_SETTINGS.contains(&kind) && entry.split(' ').any(|word| state.instances.contains(word))
        };
        // Objects the states name (adopted or imported ones too) may be gone, with all that
        // belongs to them or names them; the nodes' associations and profiles with them.
        let named: BTreeSet<String> =
            state.objects.iter().flat_map(|(kind, id)| [id.clone(), owner_key(kind, id)]).collect();
        let names_ours = |entry: &str| entry.split(' ').any(|word| named.contains(word));
        let new = now.without(&self.baseline).filtered(|kind, entry| {
            (self.everything || OBJECT_KINDS.contains(&kind))
                && !exempt(entry)
                && !(kind == "metadata_options" && set_on_nodes(kind, entry))
        });
        let gone = self.baseline.without(&now).filtered(|kind, entry| {
            self.everything && !exempt(entry) && !names_ours(entry) && !set_on_nodes(kind, entry)
        });
        match (new.is_empty(), gone.is_empty()) {
            (true, true) => Ok(()),
            (false, true) => Err(format!("objects left in moto that the scenario began without: {new}")),
            (true, false) => Err(format!("objects the scenario began with are gone or changed: {gone}")),
            (false, false) => Err(format!(
                "moto is not as the scenario began: new or changed: {new}\ngone or as they were before: {gone}"
            )),
        }
    }

    /// The managed resources of the state, and the AWS objects named by it and its backups.
    fn state_objects(&self) -> Result<StateObjects, String> {
        let mut found = StateObjects {
            managed_resources: 0,
            objects: self.remembered.objects.clone(),
            instances: self.remembered.instances.clone(),
        };
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
                    let instance_ids = instance["attributes"]["instance_ids"].as_array().cloned().unwrap_or_default();
                    found.instances.extend(instance_ids.iter().filter_map(|i| i.as_str().map(str::to_string)));
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

/// What an `efs_csi_node_identity` sets on the instances it names: their metadata options stay as
/// it set them after destroy, and an association it replaced (`replace_existing_association`) is
/// not restored.
const NODE_SETTINGS: &[&str] = &["metadata_options", "associations"];

#[derive(Default)]
struct StateObjects {
    /// Managed resource instances in the current state.
    managed_resources: usize,
    /// `(inventory kind, id)` of every AWS object the states name.
    objects: BTreeSet<(&'static str, String)>,
    /// The instances the states' `efs_csi_node_identity` resources name (their metadata options
    /// stay as the resource set them).
    instances: BTreeSet<String>,
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
