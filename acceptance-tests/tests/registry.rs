//! Installing the provider the way users get it, from a registry: `tofu init` / `terraform init` against a
//! provider registry on 127.0.0.1 (HTTPS, test CA) serving the release GoReleaser made
//! (`Release::snapshot`: the linux_amd64 zip, SHA256SUMS, its signature by a fresh RSA key and the
//! manifest, from `.goreleaser.yml` through `scripts/package.sh --snapshot`).
//! Init must discover the registry, download the package, verify the signature of `SHA256SUMS`
//! and the package's checksum, record the `h1:` and `zh:` hashes in `.terraform.lock.hcl`, and the
//! installed provider must then apply a configuration. A tampered package and a signature by
//! another key must make init fail, installing nothing.

use std::fs;
use std::path::Path;
use std::process::Command;

use acceptance_tests::mirror::{read_lock_file, sha256_hex, zip_h1_hash, LockedProvider};
use acceptance_tests::packaging::{Release, SigningKey};
use acceptance_tests::registry::ProviderRegistry;
use acceptance_tests::{provider_block, skip_unless_acceptance, venv, Moto, Output, Workdir};

const INIT: [&str; 3] = ["init", "-input=false", "-no-color"];

/// The data source needs no AWS object; its output shows the installed provider ran.
const POLICY_OUTPUT: &str = r#"
data "efs_csi_driver_iam_policy" "driver" {}

output "driver_policy" {
  value = data.efs_csi_driver_iam_policy.driver.json
}
"#;

/// A work directory whose configuration requires the provider from `registry` at `version`,
/// configured for `moto` (the harness's provider block, with the registry's source address).
fn registry_workdir(moto: &Moto, registry: &ProviderRegistry, version: &str) -> Workdir {
    let mut wd = Workdir::new(moto);
    registry.use_in(&mut wd);
    let provider = provider_block(moto);
    // The harness's block without its `terraform` block: the registry's replaces it.
    let provider_only = &provider[provider.find("provider \"efs\"").expect("provider block")..];
    wd.write("main.tf", &format!("{}\n{provider_only}{POLICY_OUTPUT}", registry.required_providers_block(version)));
    wd
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts that `init` of `version` failed with every text of `wanted` and installed nothing.
fn assert_init_refused(wd: &Workdir, out: &Output, source: &str, version: &str, wanted: &[&str]) {
    assert_eq!(out.code, Some(1), "init accepted the package: {out}");
    let text = squash(&out.combined());
    assert!(text.contains(&format!("Failed to install provider Error while installing {source} v{version}")), "{out}");
    for want in wanted {
        assert!(text.contains(want), "output lacks {want:?}:\n{out}");
    }
    // OpenTofu leaves the directories it staged and its install lock file; no provider may be there.
    let installed: Vec<_> = installed_files(&wd.path().join(".terraform/providers").join(source))
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("terraform-provider-")))
        .collect();
    assert!(installed.is_empty(), "a refused package was installed: {installed:?}");
    assert!(!wd.path().join(".terraform.lock.hcl").exists(), "a refused package was locked");
}

/// Every file below `dir` (none when it does not exist).
fn installed_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(installed_files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// A copy of the GoReleaser snapshot served by a registry, and a moto for the configurations that
/// use it.
struct PublishedRelease {
    release: Release,
    registry: ProviderRegistry,
    moto: Moto,
}

impl PublishedRelease {
    fn new() -> PublishedRelease {
        let release = Release::snapshot();
        let registry = ProviderRegistry::start(&release);
        PublishedRelease { release, registry, moto: Moto::start() }
    }
}

/// The one file in `zip`, as (name, contents).
fn only_entry(zip: &Path) -> (String, Vec<u8>) {
    const SCRIPT: &str = r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert len(z.namelist()) == 1, z.namelist()
name = z.namelist()[0]
sys.stdout.buffer.write(name.encode() + b"\n" + z.read(name))
"#;
    let out = Command::new(venv().join("bin/python")).args(["-c", SCRIPT]).arg(zip).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let newline = out.stdout.iter().position(|b| *b == b'\n').expect("a name line");
    (String::from_utf8(out.stdout[..newline].to_vec()).expect("UTF-8 name"), out.stdout[newline + 1..].to_vec())
}

#[test]
fn registry_install_verifies_the_signed_release_records_hashes_and_applies() {
    skip_unless_acceptance!();
    let PublishedRelease { release, registry, moto } = PublishedRelease::new();
    let (source, version) = (registry.source(), release.version().to_string());
    let wd = registry_workdir(&moto, &registry, &version);

    let out = wd.run_ok(&INIT);
    let text = squash(&out.combined());
    let signed = wd.cli().installed_signed_line(&source, &version, release.key_id());
    assert!(text.contains(&signed), "{out}");
    assert!(!text.contains("development overrides"), "{out}");

    // The whole protocol was spoken: discovery, versions, download metadata, the signed checksums
    // and the package.
    let zip_name = release.zip().file_name().unwrap().to_string_lossy().into_owned();
    let shasums_name = release.shasums().file_name().unwrap().to_string_lossy().into_owned();
    let requests = registry.requests();
    let expected = [
        "GET /.well-known/terraform.json".to_string(),
        "GET /v1/providers/seedlabs/efs/versions".to_string(),
        format!("GET /v1/providers/seedlabs/efs/{version}/download/linux/amd64"),
        format!("GET /files/{shasums_name}"),
        format!("GET /files/{shasums_name}.sig"),
        format!("GET /files/{zip_name}"),
    ];
    for request in &expected {
        assert!(requests.contains(request), "{request} not among {requests:#?}");
    }

    // The lock file pins both kinds of hash: h1: of the package's contents, and the zh: hashes
    // that the signed SHA256SUMS lists (Terraform 1.0.3 takes every line, the manifest's too; only
    // a signed SHA256SUMS gives it zh: hashes, a mirror does not).
    let locked = read_lock_file(wd.path(), &source).unwrap_or_else(|| panic!("no lock entry: {out}"));
    let zip_zh = format!("zh:{}", release.listed_sha256(&zip_name).expect("SHA256SUMS lists the zip"));
    assert_eq!(zip_zh, format!("zh:{}", sha256_hex(&release.zip())));
    let mut listed: Vec<String> = fs::read_to_string(release.shasums())
        .unwrap()
        .lines()
        .map(|l| format!("zh:{}", l.split_whitespace().next().unwrap()))
        .collect();
    listed.sort();
    assert!(listed.contains(&zip_zh));
    let expected_hashes = [vec![zip_h1_hash(&release.zip())], listed].concat();
    assert_eq!(
        locked,
        LockedProvider { version: version.clone(), hashes: expected_hashes },
        "lock file:\n{}",
        fs::read_to_string(wd.path().join(".terraform.lock.hcl")).unwrap()
    );
    // The package's one file, the binary GoReleaser built, is installed under its own name.
    let (entry, binary) = only_entry(&release.zip());
    assert_eq!(entry, format!("terraform-provider-efs_v{version}"));
    let installed = wd.path().join(format!(".terraform/providers/{source}/{version}/linux_amd64/{entry}"));
    assert!(fs::read(&installed).expect("installed binary") == binary, "the installed binary is not the release's");

    // The installed provider runs.
    let out = wd.apply();
    assert!(!squash(&out.combined()).contains("development overrides"), "{out}");
    let policy = wd.output_json()["driver_policy"]["value"].as_str().expect("policy output").to_string();
    assert!(policy.contains("elasticfilesystem:CreateAccessPoint"), "{policy}");

    // A second init in a fresh checkout, with the lock file, installs the same package again.
    registry.clear_requests();
    fs::remove_dir_all(wd.path().join(".terraform")).unwrap();
    wd.run_ok(&INIT);
    assert_eq!(read_lock_file(wd.path(), &source).unwrap(), locked);
    assert!(registry.requests().contains(&format!("GET /files/{zip_name}")));
}

#[test]
fn registry_install_refuses_a_tampered_package_and_a_foreign_signature() {
    skip_unless_acceptance!();
    let PublishedRelease { release, registry, moto } = PublishedRelease::new();
    let (source, version) = (registry.source(), release.version().to_string());

    // 1. The zip differs from what the signed SHA256SUMS lists (one byte changed after signing).
    let zip = release.zip();
    let original = fs::read(&zip).unwrap();
    let mut tampered = original.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    fs::write(&zip, &tampered).unwrap();
    let wd = registry_workdir(&moto, &registry, &version);
    let out = wd.run(&INIT);
    let expected = release.listed_sha256(&zip.file_name().unwrap().to_string_lossy()).unwrap();
    let actual = sha256_hex(&zip);
    assert_init_refused(
        &wd,
        &out,
        &source,
        &version,
        &[&format!("archive has incorrect checksum zh:{actual} (expected zh:{expected})")],
    );
    fs::write(&zip, &original).unwrap();

    // 2. SHA256SUMS signed by a key other than the one the registry announces for the provider.
    let other = SigningKey::generate("someone else");
    other.sign_detached(&release.shasums(), &release.signature());
    let wd = registry_workdir(&moto, &registry, &version);
    let out = wd.run(&INIT);
    assert_init_refused(&wd, &out, &source, &version, &["authentication signature from unknown issuer"]);

    // The release with GoReleaser's own signature installs: the failures above were the tampering.
    release.restore(&release.signature().file_name().unwrap().to_string_lossy());
    let wd = registry_workdir(&moto, &registry, &version);
    wd.run_ok(&INIT);
}
