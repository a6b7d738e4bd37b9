//! Which Terraform state owns an AWS object: the owner mark every object a resource creates carries,
//! and the rule for adopting what already exists.
//!
//! # The contract
//!
//! * Each resource instance has an **owner id** (the computed `owner_id` attribute), planned when the
//!   instance is created and kept for its life. Every object its create makes carries it in the
//!   [`OWNER_TAG`] tag, beside [`MANAGED_BY_TAG`](super::tags::MANAGED_BY_TAG), which says which
//!   resource type and name made the object.
//! * A create that meets an object of its own name (a creation token, a role, policy or instance
//!   profile name) **adopts it only when its owner tag is this instance's owner id**: the object is
//!   then what an earlier, interrupted attempt of this same create made. An object with another owner
//!   id (another state's), or with no owner tag (made by hand, or by a version of this provider that
//!   did not write one), is never adopted: the create fails before changing anything, naming the
//!   object and the `import` that takes it over on purpose. The plan of a create reports the same
//!   conflict already, where it can look the object up by name.
//! * Destroy deletes nothing that carries another owner id than the state's: the resource then
//!   leaves the state with a warning and AWS is not touched. Objects without an owner tag are deleted
//!   when the state holds them (a state written before owner ids existed, or an import of objects
//!   that have no mark: the state then holds them on purpose).
//! * Import takes the owner id from the imported object's owner tag, so importing is the one way to
//!   share an object between states, and a deliberate one.
//!
//! # Where the owner id comes from
//!
//! After a crash the CLI knows nothing of the interrupted create (no state was written) and plans
//! it again, so a random id chosen at plan would differ from the one the first attempt tagged, and
//! nothing in AWS can tell "my own create, whose answer was lost" from "another state's finished
//! create". The owner id is therefore derived, at plan, from what is the same for both attempts and
//! differs between states: the working directory the CLI runs in (the provider runs in it too), the
//! selected workspace (`TF_WORKSPACE`, else the `environment` file of the data directory) and the
//! resource type. Two working directories, two workspaces, or a copy of the module get different ids.
//!
//! What this cannot tell apart, honestly:
//! * two resources of one type with the same name in one configuration (same working directory and
//!   workspace): they share the objects, as before owner ids; names must be unique per configuration;
//! * one working directory used with two different states (`-state`, a changed backend without
//!   a workspace change): they get the same owner id;
//! * a create retried from another directory after a crash (a CI job in a fresh directory each
//!   run): the retry gets another owner id, so it refuses what the first attempt made and names the
//!   import that takes it over. That is safe, not silent.
//! * a replacement (destroy, then create with the same name) in a state whose owner id is not this
//!   directory's (a state from before owner ids, or one imported elsewhere): the create's plan sees
//!   the old object, which is still there at plan, as another owner's and refuses. Destroying the
//!   resource first (`destroy -target=...`), then applying, works;
//! * two states creating objects of the same name at the same moment: each looks before it creates,
//!   so both may find nothing; AWS then refuses the second creation (the name or token is taken),
//!   and the second create fails on the owner check instead of adopting.

use std::path::Path;

use crate::framework::schema::Attribute;
use crate::framework::{PlanContext, Type, Value};

/// Tag key of the owner mark; the value is the owner id of the resource instance that made the object.
pub const OWNER_TAG: &str = "terraform-provider-efs:owner";

/// The computed `owner_id` attribute both resources have.
pub fn owner_id_attribute() -> Attribute {
    Attribute::computed("owner_id", Type::String)
        .description(format!(
            "Which state owns the AWS objects this resource made: planned when the resource is created (from the \
             working directory, the workspace and the resource type) and written to their `{OWNER_TAG}` tag. A \
             create adopts an existing object of its name only when it carries this owner id (an interrupted \
             earlier attempt made it); one of another state, or one made by hand, makes the plan fail and is never \
             changed or deleted: import it to manage it here. Null for a state written before owner ids and for an \
             import of objects without the tag."
        ))
        .use_state_for_unknown()
}

/// Plans `owner_id`: a new one for a create; otherwise the prior one, kept by the schema.
pub fn plan_owner_id(plan: &mut PlanContext<'_>, type_name: &str) {
    if plan.is_create() && !plan.is_destroy() {
        plan.set("owner_id", Value::string(owner_id(type_name)));
    }
}

/// How an existing object relates to a resource instance with owner id `ours`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Made by this instance (an earlier attempt of its create, or the instance itself).
    Ours,
    /// Carries another instance's owner id.
    OtherOwner(String),
    /// Carries no owner mark: made by hand, or by a provider version without owner ids.
    Unmarked,
}

impl Claim {
    /// What the owner tag `tag` of an object says to an instance whose owner id is `ours`. A state
    /// without an owner id (written before owner ids existed) counts unmarked objects as its own.
    pub fn of(tag: Option<&str>, ours: Option<&str>) -> Claim {
        match (tag, ours) {
            (Some(tag), Some(ours)) if tag == ours => Claim::Ours,
            (None, None) => Claim::Ours,
            (Some(tag), _) => Claim::OtherOwner(tag.to_string()),
            (None, Some(_)) => Claim::Unmarked,
        }
    }

    /// Whom the object belongs to, for a diagnostic.
    pub fn describe(&self) -> String {
        match self {
            Claim::Ours => "this resource".to_string(),
            Claim::OtherOwner(id) => {
                format!("another Terraform state (owner id {id} in its {OWNER_TAG} tag)")
            }
            Claim::Unmarked => format!(
                "no state of this resource: it has no {OWNER_TAG} tag, so it was made outside Terraform or by a \
                 provider version before owner ids"
            ),
        }
    }
}

/// The owner id of a resource of `type_name` created from the current working directory and workspace.
pub fn owner_id(type_name: &str) -> String {
    let dir = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok()).unwrap_or_default();
    let workspace = workspace(&dir);
    derive(&dir.to_string_lossy(), &workspace, type_name)
}

/// The selected workspace as the CLI sees it: `TF_WORKSPACE`, else the data directory's
/// `environment` file (`TF_DATA_DIR`, default `.terraform`), else `default`.
fn workspace(dir: &Path) -> String {
    if let Some(name) = std::env::var("TF_WORKSPACE").ok().filter(|w| !w.is_empty()) {
        return name;
    }
    let data_dir = std::env::var("TF_DATA_DIR").ok().filter(|d| !d.is_empty()).unwrap_or_else(|| ".terraform".into());
    std::fs::read_to_string(dir.join(data_dir).join("environment"))
        .ok()
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// 128-bit FNV-1a of the parts, as 32 hex digits: stable across builds and platforms (unlike std's
/// hasher), and it keeps the directory path out of the tag.
fn derive(dir: &str, workspace: &str, type_name: &str) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    for part in [dir, workspace, type_name] {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_ids_differ_by_directory_workspace_and_type_and_are_stable() {
        let a = derive("/work/a", "default", "efs_prometheus_volume");
        assert_eq!(a, derive("/work/a", "default", "efs_prometheus_volume"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, derive("/work/b", "default", "efs_prometheus_volume"));
        assert_ne!(a, derive("/work/a", "staging", "efs_prometheus_volume"));
        assert_ne!(a, derive("/work/a", "default", "efs_csi_node_identity"));
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(derive("/w/ab", "c", "t"), derive("/w/a", "bc", "t"));
        // Pinned: the id must not change between provider versions, or a retried create would
        // refuse what the first attempt made.
        assert_eq!(derive("", "", ""), "a68bb3934c8b5822836dbc78c7423ce7");
    }

    #[test]
    fn only_the_same_owner_id_is_ours() {
        assert_eq!(Claim::of(Some("x"), Some("x")), Claim::Ours);
        assert_eq!(Claim::of(Some("y"), Some("x")), Claim::OtherOwner("y".into()));
        assert_eq!(Claim::of(None, Some("x")), Claim::Unmarked);
        // A state from before owner ids holds unmarked objects, and no marked one.
        assert_eq!(Claim::of(None, None), Claim::Ours);
        assert_eq!(Claim::of(Some("y"), None), Claim::OtherOwner("y".into()));
    }
}
