//! Releases as the project ships them: [`Release::package`] runs `scripts/package.sh --binary`
//! (the same artifacts, with the same names, as `.goreleaser.yml`) and signs them with a
//! [`SigningKey`], a fresh RSA key in a private GnuPG home.
//!
//! ```no_run
//! use acceptance_tests::packaging::{Release, SigningKey};
//! use acceptance_tests::provider_bin;
//!
//! let key = SigningKey::generate("Seed Labs release signing");
//! let release = Release::package(&provider_bin(), "0.1.0", &key);
//! assert!(release.zip().ends_with("terraform-provider-efs_0.1.0_linux_amd64.zip"));
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

use crate::mirror::PLATFORM;
use crate::{repo_root, venv};

const PROJECT: &str = "terraform-provider-efs";

/// An RSA-2048 signing key made for one test in its own GnuPG home (deleted on drop, with the
/// gpg-agent GnuPG started for it). RSA because Terraform 1.0 refuses ed25519 keys.
pub struct SigningKey {
    home: TempDir,
    fingerprint: String,
}

impl SigningKey {
    /// Generates the key, without a passphrase, for user id `<name> <release@example.invalid>`.
    pub fn generate(name: &str) -> SigningKey {
        // A short path: gpg-agent's socket lives in the home, and socket paths are limited to ~100 bytes.
        let home = tempfile::Builder::new().prefix("efs-gpg-").tempdir_in("/tmp").expect("create GnuPG home");
        let user_id = format!("{name} <release@example.invalid>");
        let quick_gen = ["--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", &user_id];
        gpg(home.path(), &[&quick_gen[..], &["rsa2048", "sign", "never"]].concat());
        let listing =
            String::from_utf8_lossy(&gpg(home.path(), &["--with-colons", "--list-secret-keys"]).stdout).into_owned();
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:").map(|rest| rest.trim_matches(':').to_string()))
            .unwrap_or_else(|| panic!("no fingerprint in gpg's listing:\n{listing}"));
        SigningKey { home, fingerprint }
    }

    /// The key's GnuPG home.
    pub fn gnupghome(&self) -> &Path {
        self.home.path()
    }

    /// The full fingerprint (40 hex digits), what `GPG_FINGERPRINT` holds for the release scripts.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The long key id (the fingerprint's last 16 hex digits), as registries and Terraform show it.
    pub fn key_id(&self) -> &str {
        &self.fingerprint[self.fingerprint.len() - 16..]
    }

    /// The public key, ASCII-armoured, as a registry publishes it.
    pub fn public_key_armor(&self) -> String {
        String::from_utf8(self.gpg(&["--armor", "--export", &self.fingerprint]).stdout).expect("armour is ASCII")
    }

    /// Writes a binary detached signature of `file` to `signature` (replacing it).
    pub fn sign_detached(&self, file: &Path, signature: &Path) {
        let (file, signature) = (file.to_str().expect("UTF-8 path"), signature.to_str().expect("UTF-8 path"));
        self.gpg(&["--yes", "--local-user", &self.fingerprint, "--output", signature, "--detach-sign", file]);
    }

    /// True when `signature` is a valid detached signature of `file` by this key.
    pub fn verify_detached(&self, signature_of: &Path, signature: &Path) -> bool {
        Command::new("gpg")
            .args(["--batch", "--verify"])
            .arg(signature)
            .arg(signature_of)
            .env("GNUPGHOME", self.home.path())
            .stdin(Stdio::null())
            .output()
            .expect("run gpg")
            .status
            .success()
    }

    fn gpg(&self, args: &[&str]) -> Output {
        gpg(self.home.path(), args)
    }
}

/// Runs `gpg --batch` with `GNUPGHOME=home`; panics with its output on failure.
fn gpg(home: &Path, args: &[&str]) -> Output {
    let out = Command::new("gpg")
        .arg("--batch")
        .args(args)
        .env("GNUPGHOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("run gpg (run scripts/setup.sh, which installs gnupg)");
    assert!(out.status.success(), "gpg {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        // gpg started an agent for this home; it would outlive the test otherwise.
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A linux_amd64 release made by `scripts/package.sh` in a temporary directory (deleted on drop).
pub struct Release {
    dir: TempDir,
    version: String,
}

impl Release {
    /// Packages `binary` as release `version`, signed with `key`: runs
    /// `scripts/package.sh --binary BINARY --version VERSION --out DIR --gnupghome HOME` with
    /// `GPG_FINGERPRINT` set, as a release pipeline would.
    pub fn package(binary: &Path, version: &str, key: &SigningKey) -> Release {
        let dir = tempfile::Builder::new().prefix("efs-release-").tempdir().expect("create release dir");
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/package.sh"))
            .arg("--binary")
            .arg(binary)
            .args(["--version", version, "--out"])
            .arg(dir.path())
            .arg("--gnupghome")
            .arg(key.gnupghome())
            .env("GPG_FINGERPRINT", key.fingerprint())
            .env("EFS_VENV", venv())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/package.sh");
        assert!(
            out.status.success(),
            "scripts/package.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Release { dir, version: version.to_string() }
    }

    /// The release version, e.g. `0.1.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory holding the artifacts.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `terraform-provider-efs_<version>_linux_amd64.zip`.
    pub fn zip(&self) -> PathBuf {
        let (os, arch) = PLATFORM;
        self.artifact(&format!("{os}_{arch}.zip"))
    }

    /// `terraform-provider-efs_<version>_SHA256SUMS`.
    pub fn shasums(&self) -> PathBuf {
        self.artifact("SHA256SUMS")
    }

    /// `terraform-provider-efs_<version>_SHA256SUMS.sig`.
    pub fn signature(&self) -> PathBuf {
        self.artifact("SHA256SUMS.sig")
    }

    /// `terraform-provider-efs_<version>_manifest.json`.
    pub fn manifest(&self) -> PathBuf {
        self.artifact("manifest.json")
    }

    /// The plugin protocol versions the release's manifest declares.
    pub fn protocol_versions(&self) -> Vec<String> {
        let manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(self.manifest()).expect("read the manifest")).expect("JSON");
        manifest["metadata"]["protocol_versions"]
            .as_array()
            .expect("metadata.protocol_versions")
            .iter()
            .map(|v| v.as_str().expect("a version string").to_string())
            .collect()
    }

    /// The SHA-256 that `SHA256SUMS` lists for the artifact `file_name`, if any.
    pub fn listed_sha256(&self, file_name: &str) -> Option<String> {
        sha256_listed_in(&self.shasums(), file_name)
    }

    fn artifact(&self, suffix: &str) -> PathBuf {
        self.dir.path().join(format!("{PROJECT}_{}_{suffix}", self.version))
    }
}

/// The SHA-256 (hex) that the checksum file `shasums` (`<sha256>  <file name>` lines) lists for
/// `file_name`; `None` if it lists none or cannot be read.
pub fn sha256_listed_in(shasums: &Path, file_name: &str) -> Option<String> {
    let sums = fs::read_to_string(shasums).ok()?;
    sums.lines().find_map(|l| {
        let (hash, name) = l.split_once("  ")?;
        (name == file_name).then(|| hash.to_string())
    })
}
