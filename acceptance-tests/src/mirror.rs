//! Installing the provider the way users get it: `terraform init` from a `filesystem_mirror`,
//! with the dependency lock file (`.terraform.lock.hcl`) recording its hashes, instead of the
//! `dev_overrides` a [`Workdir`] uses.
//!
//! * [`FilesystemMirror`] is a temporary mirror directory in the packed layout
//!   (`HOST/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_OS_ARCH.zip`) with its own CLI
//!   configuration; [`FilesystemMirror::use_in`] points a [`Workdir`] at it.
//! * [`write_zip`], [`sha256_hex`] and [`zip_h1_hash`] build the archives and compute the hashes
//!   Terraform records (`zh:` = SHA-256 of the zip, `h1:` = Go's `dirhash.Hash1` over its
//!   entries), independently of Terraform, with the venv's Python.
//! * [`read_lock_file`] reads one provider's entry of a lock file.
//!
//! ```no_run
//! use acceptance_tests::mirror::{read_lock_file, FilesystemMirror};
//! use acceptance_tests::{provider_bin, provider_source, Moto, Workdir};
//!
//! let moto = Moto::start();
//! let mut wd = Workdir::new(&moto);
//! let mirror = FilesystemMirror::new();
//! mirror.add_packed("0.1.0", &provider_bin());
//! mirror.use_in(&mut wd);
//! wd.run_ok(&["init", "-input=false", "-no-color"]);
//! let locked = read_lock_file(wd.path(), &provider_source()).unwrap();
//! assert_eq!(locked.version, "0.1.0");
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::{provider_source, venv, Workdir, PROVIDER_NAMESPACE_TYPE};

/// OS and architecture of the packages this machine can run (the only target built here).
pub const PLATFORM: (&str, &str) = ("linux", "amd64");

/// A temporary provider mirror in the packed layout, and a CLI configuration that installs
/// [`provider_source`] from it only (no `direct {}`: nothing is fetched from the network, and no
/// `dev_overrides`). Deleted on drop.
pub struct FilesystemMirror {
    dir: TempDir,
    root: PathBuf,
    /// The provider's address under the CLI of this run: the mirror's layout starts with it.
    source: String,
    cli_config: PathBuf,
}

impl Default for FilesystemMirror {
    fn default() -> Self {
        Self::new()
    }
}

impl FilesystemMirror {
    /// Creates an empty mirror and its CLI configuration:
    ///
    /// ```hcl
    /// provider_installation {
    ///   filesystem_mirror {
    ///     path    = "<mirror>"
    ///     include = ["registry.terraform.io/seedlabs/efs"]
    ///   }
    /// }
    /// ```
    pub fn new() -> FilesystemMirror {
        let dir = tempfile::Builder::new().prefix("efs-mirror-").tempdir().expect("create mirror dir");
        let root = dir.path().join("mirror");
        let source = provider_source();
        fs::create_dir_all(root.join(&source)).expect("create mirror layout");
        let cli_config = dir.path().join("terraformrc");
        fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path    = {}\n    include = [{}]\n  }}\n}}\n",
                hcl_string(&root.to_string_lossy()),
                hcl_string(&source)
            ),
        )
        .expect("write mirror CLI config");
        FilesystemMirror { dir, root, source, cli_config }
    }

    /// The mirror directory (the `path` of the `filesystem_mirror` block).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The CLI configuration file that installs from this mirror.
    pub fn cli_config(&self) -> &Path {
        &self.cli_config
    }

    /// A scratch directory that lives as long as the mirror (outside the mirror tree).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Where the packed archive of `version` for [`PLATFORM`] lives in the mirror.
    pub fn package_path(&self, version: &str) -> PathBuf {
        let (os, arch) = PLATFORM;
        let kind = PROVIDER_NAMESPACE_TYPE.rsplit('/').next().expect("source has a type");
        self.root.join(&self.source).join(format!("terraform-provider-{kind}_{version}_{os}_{arch}.zip"))
    }

    /// Writes (or replaces) the packed archive of `version`: a zip holding `binary` as
    /// `terraform-provider-efs_v<version>`, as GoReleaser packs releases. Returns its path.
    pub fn add_packed(&self, version: &str, binary: &Path) -> PathBuf {
        let kind = PROVIDER_NAMESPACE_TYPE.rsplit('/').next().expect("source has a type");
        let zip = self.package_path(version);
        write_zip(&zip, &[(&format!("terraform-provider-{kind}_v{version}"), binary)]);
        zip
    }

    /// Makes later Terraform commands of `wd` use this mirror's CLI configuration instead of the
    /// harness's `dev_overrides` (through `TF_CLI_CONFIG_FILE`).
    pub fn use_in(&self, wd: &mut Workdir) {
        wd.env("TF_CLI_CONFIG_FILE", self.cli_config.to_str().expect("UTF-8 temp path"));
    }
}

/// Runs a Python snippet with the venv's interpreter; returns its stdout, panics on failure.
fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run the venv's python (run scripts/setup.sh)");
    assert!(out.status.success(), "python failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes a zip at `zip` (replacing it) with `entries` (name in the archive, file to store) as
/// executable regular files. Entries are stored uncompressed with a fixed timestamp: the
/// hashes depend only on names and contents, and large debug binaries are packed in seconds.
pub fn write_zip(zip: &Path, entries: &[(&str, &Path)]) {
    const SCRIPT: &str = r#"
import shutil, sys, zipfile
target, pairs = sys.argv[1], sys.argv[2:]
with zipfile.ZipFile(target + ".tmp", "w") as z:
    for name, src in zip(pairs[0::2], pairs[1::2]):
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.create_system = 3
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_STORED
        with open(src, "rb") as f, z.open(info, "w", force_zip64=True) as out:
            shutil.copyfileobj(f, out, 1 << 20)
import os
os.replace(target + ".tmp", target)
"#;
    let mut args: Vec<&Path> = vec![zip];
    for (name, src) in entries {
        args.push(Path::new(name));
        args.push(src);
    }
    python(SCRIPT, &args);
}

/// Lowercase hex SHA-256 of a file (what a `zh:` hash holds for a zip).
pub fn sha256_hex(path: &Path) -> String {
    const SCRIPT: &str = r#"
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
"#;
    python(SCRIPT, &[path])
}

/// The `h1:` hash of a zip package: Go's `dirhash.Hash1` over its entries (SHA-256 of the
/// sorted lines `<sha256 hex of entry>  <entry name>\n`, base64).
pub fn zip_h1_hash(zip: &Path) -> String {
    const SCRIPT: &str = r#"
import base64, hashlib, sys, zipfile
summary = hashlib.sha256()
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in sorted(z.namelist()):
        h = hashlib.sha256()
        with z.open(name) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        summary.update(f"{h.hexdigest()}  {name}\n".encode())
print("h1:" + base64.b64encode(summary.digest()).decode())
"#;
    python(SCRIPT, &[zip])
}

/// One provider's entry of a dependency lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedProvider {
    /// `version = "..."`.
    pub version: String,
    /// The `hashes` list, in file order (`h1:...`, `zh:...`).
    pub hashes: Vec<String>,
}

impl LockedProvider {
    /// The hashes of one scheme (`"h1:"`, `"zh:"`).
    pub fn hashes_with(&self, scheme: &str) -> Vec<&str> {
        self.hashes.iter().filter(|h| h.starts_with(scheme)).map(String::as_str).collect()
    }
}

/// Reads the entry for `source` (e.g. [`provider_source`]) of `<dir>/.terraform.lock.hcl`;
/// `None` if the file or the entry is missing.
pub fn read_lock_file(dir: &Path, source: &str) -> Option<LockedProvider> {
    let text = fs::read_to_string(dir.join(".terraform.lock.hcl")).ok()?;
    parse_lock_file(&text, source)
}

/// Parses the entry for `source` out of the text of a lock file (the simple layout Terraform
/// writes: one attribute per line, one hash per line).
pub fn parse_lock_file(text: &str, source: &str) -> Option<LockedProvider> {
    let header = format!("provider {} {{", hcl_string(source));
    let start = text.find(&header)? + header.len();
    let body = &text[start..];
    let body = &body[..body.find("\n}")?];
    let quoted = |line: &str| {
        let first = line.find('"')?;
        let last = line.rfind('"')?;
        (last > first).then(|| line[first + 1..last].to_string())
    };
    let mut version = None;
    let mut hashes = Vec::new();
    let mut in_hashes = false;
    for line in body.lines().map(str::trim) {
        if in_hashes {
            if line.starts_with(']') {
                in_hashes = false;
            } else if let Some(h) = quoted(line) {
                hashes.push(h);
            }
        } else if line.starts_with("version") {
            version = quoted(line);
        } else if line.starts_with("hashes") {
            in_hashes = !line.ends_with(']');
        }
    }
    Some(LockedProvider { version: version?, hashes })
}

fn hcl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_lock_file_terraform_writes() {
        let text = r#"# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/hashicorp/null" {
  version = "3.0.0"
  hashes = [
    "h1:other",
  ]
}

provider "registry.terraform.io/seedlabs/efs" {
  version     = "0.1.0"
  constraints = ">= 0.1.0"
  hashes = [
    "h1:sYfcVQAlVvKALIK2f5zN6hhUy7Dxnv4yM/ksBGgISIk=",
    "zh:c9001dfce850d09982cdf627812127cee9837e86652f7ea9bb32e958e2244561",
  ]
}
"#;
        let locked = parse_lock_file(text, "registry.terraform.io/seedlabs/efs").unwrap();
        assert_eq!(locked.version, "0.1.0");
        assert_eq!(locked.hashes_with("h1:"), ["h1:sYfcVQAlVvKALIK2f5zN6hhUy7Dxnv4yM/ksBGgISIk="]);
        assert_eq!(locked.hashes_with("zh:").len(), 1);
        assert_eq!(parse_lock_file(text, "registry.terraform.io/hashicorp/null").unwrap().hashes, ["h1:other"]);
        assert_eq!(parse_lock_file(text, "registry.terraform.io/x/y"), None);
    }
}
