//! Releases as the project ships them, made by GoReleaser: [`Release::snapshot`] is a private copy
//! of a signed snapshot that `scripts/package.sh --snapshot --builds linux-amd64` made (the
//! `.goreleaser.yml` release, for the one platform this machine builds), and [`SigningKey`] a fresh
//! RSA key in a private GnuPG home.
//!
//! A release build takes minutes, so the snapshot is made once per state of the sources that go
//! into it ([`RELEASE_INPUTS`]) and kept in `target/goreleaser/snapshots/<key>/`: every test that
//! needs it, in every test binary and in both CLI passes of the suite, shares it. The first test
//! to need it builds it under a file lock (`flock`), the others wait for it and copy it.
//!
//! ```no_run
//! use acceptance_tests::packaging::Release;
//!
//! let release = Release::snapshot();
//! assert!(release.zip().to_string_lossy().ends_with("_linux_amd64.zip"));
//! println!("signed by key {}", release.key_id());
//! ```

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;
use tempfile::TempDir;

use crate::mirror::PLATFORM;
use crate::{repo_root, venv};

const PROJECT: &str = "terraform-provider-efs";

/// The build group of `.goreleaser.yml` that this machine builds (the only Rust standard library
/// installed is x86_64 Linux's).
pub const SNAPSHOT_BUILDS: &str = "linux-amd64";

/// The files and directories (relative to the repository) whose contents make a release: a change
/// to any of them makes the next test build a new snapshot.
pub const RELEASE_INPUTS: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    ".goreleaser.yml",
    "terraform-registry-manifest.json",
    "scripts/package.sh",
    "scripts/goreleaser-cargo.sh",
    "scripts/go-tools.sh",
    "scripts/tool-versions.sh",
    "scripts/requirements-release.txt",
    "proto",
    "provider",
];

/// An RSA-2048 signing key made for one test in its own GnuPG home (deleted on drop, with the
/// gpg-agent GnuPG started for it). RSA because Terraform 1.0 refuses ed25519 keys.
pub struct SigningKey {
    home: TempDir,
    fingerprint: String,
}

impl SigningKey {
    /// Generates an RSA key, without a passphrase, for user id `<name> <release@example.invalid>`.
    pub fn generate(name: &str) -> SigningKey {
        SigningKey::generate_with(name, "rsa2048")
    }

    /// Generates a key of GnuPG's algorithm `algorithm` (`rsa2048`, `ed25519`, ...).
    pub fn generate_with(name: &str, algorithm: &str) -> SigningKey {
        // A short path: gpg-agent's socket lives in the home, and socket paths are limited to ~100 bytes.
        let home = tempfile::Builder::new().prefix("efs-gpg-").tempdir_in("/tmp").expect("create GnuPG home");
        let user_id = format!("{name} <release@example.invalid>");
        let quick_gen = ["--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", &user_id];
        gpg(home.path(), &[&quick_gen[..], &[algorithm, "sign", "never"]].concat());
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

/// Stops the gpg-agent that GnuPG started for `home`; it would outlive the test otherwise.
fn kill_gpg_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        kill_gpg_agent(self.home.path());
    }
}

/// True when `signature` is a valid detached signature of `signed` by the ASCII-armoured public
/// key `public_key` (checked in a fresh keyring that holds only that key).
pub fn signature_verifies(public_key: &str, signed: &Path, signature: &Path) -> bool {
    let home = tempfile::Builder::new().prefix("efs-gpgv-").tempdir_in("/tmp").expect("create GnuPG home");
    let armor = home.path().join("key.asc");
    fs::write(&armor, public_key).expect("write the public key");
    gpg(home.path(), &["--import", armor.to_str().expect("UTF-8 path")]);
    let verified = Command::new("gpg")
        .args(["--batch", "--verify"])
        .arg(signature)
        .arg(signed)
        .env("GNUPGHOME", home.path())
        .stdin(Stdio::null())
        .output()
        .expect("run gpg")
        .status
        .success();
    kill_gpg_agent(home.path());
    verified
}

/// A private copy (deleted on drop) of the shared GoReleaser snapshot: the linux_amd64 zip,
/// `SHA256SUMS`, its signature and the manifest, with the public key that signed them.
pub struct Release {
    dir: TempDir,
    version: String,
    key_id: String,
    public_key: String,
    snapshot: PathBuf,
}

impl Release {
    /// A copy of the snapshot of the current sources, made first if there is none (minutes).
    pub fn snapshot() -> Release {
        let snapshot = shared_snapshot();
        let dir = tempfile::Builder::new().prefix("efs-release-").tempdir().expect("create release dir");
        for entry in fs::read_dir(snapshot.join("release")).expect("read the snapshot") {
            let entry = entry.expect("snapshot entry");
            fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy a release artifact");
        }
        let read = |name: &str| fs::read_to_string(snapshot.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
        Release {
            dir,
            version: read("version").trim().to_string(),
            key_id: read("signing-key.id").trim().to_string(),
            public_key: read("signing-key.asc"),
            snapshot: snapshot.to_path_buf(),
        }
    }

    /// The release version GoReleaser gave the snapshot, e.g. `0.0.0-SNAPSHOT-1e8bf5b`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory holding this copy's artifacts (a test may change them).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `dist/metadata.json` and `dist/artifacts.json` of the GoReleaser run, by file name.
    pub fn goreleaser_json(&self, name: &str) -> Value {
        let path = self.snapshot.join(name);
        serde_json::from_str(&fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
            .expect("GoReleaser's JSON")
    }

    /// The long id of the key that signed `SHA256SUMS`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// That key's public half, ASCII-armoured, as a registry publishes it.
    pub fn public_key_armor(&self) -> &str {
        &self.public_key
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

    /// Puts the artifact `file_name` back as the snapshot made it.
    pub fn restore(&self, file_name: &str) {
        fs::copy(self.snapshot.join("release").join(file_name), self.dir.path().join(file_name))
            .expect("restore an artifact");
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

/// The cargo target directory of release builds: `<repo>/target/goreleaser`, apart from the
/// debug build's, whose lock `cargo test` holds while the tests run.
pub fn release_target_dir() -> PathBuf {
    repo_root().join("target/goreleaser")
}

/// A key over the contents of [`RELEASE_INPUTS`] (a change to any file under them changes it).
pub fn release_inputs_key() -> String {
    fn add(path: &Path, root: &Path, hasher: &mut DefaultHasher) {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> =
                fs::read_dir(path).expect("read a source directory").map(|e| e.expect("entry").path()).collect();
            entries.sort();
            for entry in entries {
                add(&entry, root, hasher);
            }
        } else if let Ok(contents) = fs::read(path) {
            path.strip_prefix(root).unwrap_or(path).hash(hasher);
            contents.hash(hasher);
        }
    }
    let root = repo_root();
    let mut hasher = DefaultHasher::new();
    SNAPSHOT_BUILDS.hash(&mut hasher);
    for input in RELEASE_INPUTS {
        add(&root.join(input), &root, &mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

/// The snapshot directory of the current sources, made once per process (and per key, across
/// processes).
fn shared_snapshot() -> &'static Path {
    static SNAPSHOT: OnceLock<PathBuf> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let snapshots = release_target_dir().join("snapshots");
        fs::create_dir_all(&snapshots).expect("create the snapshots directory");
        let dir = snapshots.join(release_inputs_key());
        let lock = FileLock::acquire(&snapshots.join(".lock"));
        if !dir.join("version").is_file() {
            make_snapshot(&snapshots, &dir);
        }
        drop(lock);
        dir
    })
}

/// An exclusive lock on a file, held by a `flock` child process until drop (or until this process
/// dies, which closes the child's input).
struct FileLock {
    child: Child,
}

impl FileLock {
    fn acquire(path: &Path) -> FileLock {
        let mut child = Command::new("flock")
            .arg(path)
            .args(["sh", "-c", "echo locked; exec cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run flock (util-linux)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("flock's output")).read_line(&mut line).expect("read from flock");
        assert_eq!(line.trim(), "locked", "flock {} did not take the lock", path.display());
        FileLock { child }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Runs `scripts/package.sh --snapshot` signed with a fresh key and keeps what it made in `dir`;
/// older snapshots are removed.
fn make_snapshot(snapshots: &Path, dir: &Path) {
    let repo = repo_root();
    let key = SigningKey::generate("terraform-provider-efs snapshot");
    let log_path = snapshots.join("package.log");
    let log = fs::File::create(&log_path).expect("create the package log");
    eprintln!(
        "making the release snapshot with GoReleaser (a release build: minutes when cold); log: {}",
        log_path.display()
    );
    let started = Instant::now();
    let status = Command::new("bash")
        .arg(repo.join("scripts/package.sh"))
        .args(["--snapshot", "--builds", SNAPSHOT_BUILDS])
        .current_dir(&repo)
        .env("GNUPGHOME", key.gnupghome())
        .env("GPG_FINGERPRINT", key.fingerprint())
        .env("EFS_VENV", venv())
        .env("CARGO_TARGET_DIR", release_target_dir())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .status()
        .expect("run scripts/package.sh");
    let log_text = fs::read_to_string(&log_path).unwrap_or_default();
    let tail: Vec<&str> = log_text.lines().rev().take(60).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(status.success(), "scripts/package.sh --snapshot failed ({status}):\n{tail}");

    let dist = repo.join("dist");
    let metadata: Value =
        serde_json::from_str(&fs::read_to_string(dist.join("metadata.json")).expect("read dist/metadata.json"))
            .expect("metadata.json");
    let version = metadata["version"].as_str().expect("metadata.version").to_string();

    let partial = snapshots.join(format!("{}.partial", dir.file_name().unwrap().to_string_lossy()));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(partial.join("release")).expect("create the snapshot directory");
    let prefix = format!("{PROJECT}_{version}_");
    for entry in fs::read_dir(&dist).expect("read dist/") {
        let entry = entry.expect("dist entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && name.starts_with(&prefix) {
            fs::copy(entry.path(), partial.join("release").join(&name)).expect("copy an artifact");
        }
    }
    // The manifest is uploaded by GoReleaser's release pipe (release.extra_files in .goreleaser.yml:
    // terraform-registry-manifest.json under this name), which a snapshot skips; SHA256SUMS lists it.
    fs::copy(
        repo.join("terraform-registry-manifest.json"),
        partial.join("release").join(format!("{prefix}manifest.json")),
    )
    .expect("copy the registry manifest");
    for name in ["metadata.json", "artifacts.json"] {
        fs::copy(dist.join(name), partial.join(name)).unwrap_or_else(|e| panic!("copy dist/{name}: {e}"));
    }
    fs::write(partial.join("signing-key.asc"), key.public_key_armor()).expect("write the public key");
    fs::write(partial.join("signing-key.id"), key.key_id()).expect("write the key id");
    // Written last: a snapshot with a version file is complete.
    fs::write(partial.join("version"), &version).expect("write the version");

    for entry in fs::read_dir(snapshots).expect("read the snapshots directory").flatten() {
        if entry.path().is_dir() && entry.path() != partial {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    fs::rename(&partial, dir).expect("move the snapshot into place");
    eprintln!("release snapshot {version} made in {} s: {}", started.elapsed().as_secs(), dir.display());
}
