//! The release, made by the real GoReleaser: `goreleaser check` accepts `.goreleaser.yml` (and
//! refuses a broken one), and the snapshot that `scripts/package.sh --snapshot` makes for
//! linux_amd64 is what the Terraform and OpenTofu registries require: a zip named
//! `terraform-provider-efs_<version>_linux_amd64.zip` holding only the executable
//! `terraform-provider-efs_v<version>`, a `SHA256SUMS` listing the zip and the manifest with their
//! hashes, a binary detached signature of it by an RSA key, and the protocol 6 manifest. The
//! binary is a stripped release build that needs nothing newer than glibc 2.17.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use acceptance_tests::cli::go_tool;
use acceptance_tests::mirror::sha256_hex;
use acceptance_tests::packaging::{signature_verifies, Release, SigningKey};
use acceptance_tests::{repo_root, skip_unless_acceptance, venv};
use serde_json::Value;

fn goreleaser() -> std::path::PathBuf {
    go_tool("goreleaser", "GORELEASER_VERSION", "GORELEASER_BIN")
}

/// Runs `goreleaser check CONFIG` in the repository; (success, output).
fn goreleaser_check(config: &Path) -> (bool, String) {
    let out = Command::new(goreleaser())
        .arg("check")
        .arg(config)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("run goreleaser");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn goreleaser_check_accepts_the_release_configuration() {
    skip_unless_acceptance!();
    let (ok, out) = goreleaser_check(&repo_root().join(".goreleaser.yml"));
    assert!(ok, "goreleaser check refused .goreleaser.yml:\n{out}");
    assert!(out.contains("1 configuration file(s) validated"), "{out}");

    // The check is real: a target the Rust builder does not know, and a field GoReleaser does
    // not have, are refused.
    let scratch = tempfile::tempdir().unwrap();
    let config = fs::read_to_string(repo_root().join(".goreleaser.yml")).unwrap();
    for (broken, wanted) in [
        (
            config.replace("x86_64-pc-windows-msvc", "x86_64-pc-windows-cobol"),
            "invalid target: x86_64-pc-windows-cobol",
        ),
        (
            config.replace("name_template: \"{{ .ProjectName }}_{{ .Version }}_SHA256SUMS\"", "name_templat: x"),
            "name_templat",
        ),
    ] {
        assert_ne!(broken, config, "the replacement did not apply");
        let path = scratch.path().join(".goreleaser.yml");
        fs::write(&path, broken).unwrap();
        let (ok, out) = goreleaser_check(&path);
        assert!(!ok && out.contains(wanted), "goreleaser check accepted a broken configuration:\n{out}");
    }
}

#[test]
fn registry_manifest_declares_protocol_6() {
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(repo_root().join("terraform-registry-manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["metadata"]["protocol_versions"], serde_json::json!(["6.0"]));
}

/// `(mode, name)` of every entry of a zip.
fn zip_entries(zip: &Path) -> Vec<(u32, String)> {
    const SCRIPT: &str =
        "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.external_attr >> 16, i.filename)";
    let out = Command::new(venv().join("bin/python")).args(["-c", SCRIPT]).arg(zip).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (mode, name) = l.split_once(' ').unwrap();
            (mode.parse().unwrap(), name.to_string())
        })
        .collect()
}

/// Extracts the entry `name` of `zip` to `to`.
fn extract(zip: &Path, name: &str, to: &Path) {
    const SCRIPT: &str =
        "import sys, zipfile\nopen(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))";
    let status =
        Command::new(venv().join("bin/python")).args(["-c", SCRIPT]).arg(zip).arg(name).arg(to).status().unwrap();
    assert!(status.success());
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn the_goreleaser_snapshot_is_what_the_registries_require() {
    skip_unless_acceptance!();
    let release = Release::snapshot();
    let version = release.version().to_string();
    let (zip, sums, sig, manifest) = (release.zip(), release.shasums(), release.signature(), release.manifest());

    // What GoReleaser would upload is exactly the four files, named as the registries expect.
    let prefix = format!("terraform-provider-efs_{version}_");
    let mut expected: Vec<String> = ["linux_amd64.zip", "SHA256SUMS", "SHA256SUMS.sig", "manifest.json"]
        .iter()
        .map(|suffix| format!("{prefix}{suffix}"))
        .collect();
    expected.sort();
    // GoReleaser records the archive, the checksums and the signature as artifacts; the manifest
    // is added by its release pipe (release.extra_files), which a snapshot skips.
    let recorded: Vec<String> = expected.iter().filter(|name| !name.ends_with("_manifest.json")).cloned().collect();
    let artifacts = release.goreleaser_json("artifacts.json");
    let mut uploadable: Vec<String> = artifacts
        .as_array()
        .expect("artifacts.json is a list")
        .iter()
        .filter(|a| ["Archive", "Checksum", "Signature", "Uploadable File"].contains(&a["type"].as_str().unwrap_or("")))
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    uploadable.sort();
    assert_eq!(uploadable, recorded, "artifacts.json: {artifacts:#}");
    let mut made: Vec<String> =
        fs::read_dir(release.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    made.sort();
    assert_eq!(made, expected);

    // The zip holds the executable alone, named after the version.
    let binary_name = format!("terraform-provider-efs_v{version}");
    assert_eq!(zip_entries(&zip), vec![(0o100755, binary_name.clone())]);

    // SHA256SUMS lists the zip and the manifest, sorted by name, with their hashes; the manifest
    // is the project's.
    let listed: Vec<String> = fs::read_to_string(&sums).unwrap().lines().map(str::to_string).collect();
    let mut wanted = vec![
        format!("{}  {}", sha256_hex(&zip), file_name(&zip)),
        format!("{}  {}", sha256_hex(&manifest), file_name(&manifest)),
    ];
    wanted.sort_by(|a, b| a.split_once("  ").unwrap().1.cmp(b.split_once("  ").unwrap().1));
    assert_eq!(listed, wanted);
    assert_eq!(fs::read(&manifest).unwrap(), fs::read(repo_root().join("terraform-registry-manifest.json")).unwrap());
    assert_eq!(release.protocol_versions(), vec!["6.0"]);

    // The signature is binary (an OpenPGP packet, not "-----BEGIN PGP SIGNATURE-----") and
    // verifies with the published key, over SHA256SUMS as written only.
    assert!(!fs::read(&sig).unwrap().starts_with(b"-----BEGIN"), "armoured signature");
    assert!(signature_verifies(release.public_key_armor(), &sums, &sig));
    fs::write(&sums, fs::read_to_string(&sums).unwrap().replace("  ", "  x")).unwrap();
    assert!(!signature_verifies(release.public_key_armor(), &sums, &sig));

    // The binary: x86-64 ELF, stripped (the release profile), needing glibc 2.17 at most.
    let scratch = tempfile::tempdir().unwrap();
    let binary = scratch.path().join(&binary_name);
    extract(&zip, &binary_name, &binary);
    let headers = Command::new("objdump").arg("-f").arg(&binary).output().expect("run objdump (binutils)");
    assert!(String::from_utf8_lossy(&headers.stdout).contains("elf64-x86-64"), "{headers:?}");
    let symbols = Command::new("objdump").arg("-t").arg(&binary).output().unwrap();
    assert!(String::from_utf8_lossy(&symbols.stdout).contains("no symbols"), "the release binary has a symbol table");
    let dynamic =
        String::from_utf8_lossy(&Command::new("objdump").arg("-T").arg(&binary).output().unwrap().stdout).into_owned();
    let mut glibc: Vec<Vec<u32>> = dynamic
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("(GLIBC_").or_else(|| w.strip_prefix("GLIBC_")))
        .map(|v| v.trim_end_matches(')').split('.').filter_map(|n| n.parse().ok()).collect())
        .collect();
    glibc.sort();
    let newest = glibc.last().expect("the binary links glibc").clone();
    assert!(newest <= vec![2, 17], "the binary needs glibc {newest:?}, newer than 2.17");
}

#[test]
fn package_script_refuses_a_signing_key_terraform_refuses() {
    skip_unless_acceptance!();
    // Terraform 1.0 cannot verify an ed25519 signature ("unsupported feature: public key type:
    // 22"): the release must stop before building anything.
    let key = SigningKey::generate_with("ed25519 release key", "ed25519");
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/package.sh"))
        .args(["--snapshot", "--builds", "linux-amd64"])
        .env("GNUPGHOME", key.gnupghome())
        .env("GPG_FINGERPRINT", key.fingerprint())
        .env("EFS_VENV", venv())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "package.sh accepted an ed25519 key");
    assert!(stderr.contains("the signing key is not RSA"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("goreleaser release"), "GoReleaser ran");
}
