//! The release configuration: `.goreleaser.yml` must be valid for GoReleaser v2 (checked against
//! its published JSON schema, since GoReleaser itself cannot be installed here) and must produce
//! the artifact names the Terraform and OpenTofu registries expect; `scripts/package.sh` must make
//! the same artifacts, with the same names.

use std::fs;
use std::process::Command;

use acceptance_tests::mirror::{sha256_hex, PLATFORM};
use acceptance_tests::packaging::{Release, SigningKey};
use acceptance_tests::{repo_root, skip_unless_acceptance, venv};
use serde_json::Value;

/// Loads `.goreleaser.yml` as JSON through the venv's PyYAML, and validates it against the schema
/// with the venv's jsonschema; returns the config and the schema errors (one per line).
fn load_and_validate(config_yaml: &str) -> (Value, Vec<String>) {
    let script = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
doc = yaml.safe_load(sys.stdin.read())
errors = [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
print(json.dumps({"config": doc, "errors": errors}))
"#;
    let schema = repo_root().join("acceptance-tests/fixtures/goreleaser-v2.schema.json");
    let mut child = Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the venv's python (run scripts/setup.sh)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(config_yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "validator failed: {}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = result["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    (result["config"].clone(), errors)
}

fn goreleaser_yaml() -> String {
    std::fs::read_to_string(repo_root().join(".goreleaser.yml")).expect("read .goreleaser.yml")
}

#[test]
fn goreleaser_config_is_valid_for_goreleaser_v2() {
    skip_unless_acceptance!();
    let (config, errors) = load_and_validate(&goreleaser_yaml());
    assert!(errors.is_empty(), "schema errors: {errors:#?}");
    assert_eq!(config["version"], 2);
    // The validation is real: a wrong builder is refused by the same check.
    let (_, errors) = load_and_validate(&goreleaser_yaml().replace("builder: rust", "builder: cobol"));
    assert!(errors.iter().any(|e| e.contains("cobol")), "{errors:?}");
}

#[test]
fn goreleaser_config_produces_registry_artifacts() {
    skip_unless_acceptance!();
    let (config, _) = load_and_validate(&goreleaser_yaml());
    let build = &config["builds"][0];
    assert_eq!(build["builder"], "rust");
    assert_eq!(build["binary"], "{{ .ProjectName }}_v{{ .Version }}");
    let targets: Vec<&str> = build["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    for needed in ["x86_64-unknown-linux", "aarch64-unknown-linux", "x86_64-apple-darwin", "aarch64-apple-darwin"] {
        assert!(targets.iter().any(|t| t.starts_with(needed)), "missing {needed} in {targets:?}");
    }
    assert!(targets.iter().filter(|t| t.contains("windows")).count() >= 2, "{targets:?}");
    assert_eq!(config["project_name"], "terraform-provider-efs");
    let archive = &config["archives"][0];
    assert_eq!(archive["formats"][0], "zip");
    assert_eq!(archive["name_template"], "{{ .ProjectName }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}");
    assert_eq!(config["checksum"]["name_template"], "{{ .ProjectName }}_{{ .Version }}_SHA256SUMS");
    assert_eq!(
        config["checksum"]["extra_files"][0]["name_template"],
        "{{ .ProjectName }}_{{ .Version }}_manifest.json"
    );
    assert_eq!(config["signs"][0]["artifacts"], "checksum");
    let sign_args: Vec<&str> =
        config["signs"][0]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(sign_args.contains(&"--detach-sign") && !sign_args.contains(&"--armor"), "{sign_args:?}");
}

#[test]
fn registry_manifest_declares_protocol_6() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("terraform-registry-manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["metadata"]["protocol_versions"], serde_json::json!(["6.0"]));
}

/// Renders GoReleaser's name templates for one linux_amd64 artifact.
fn render(template: &Value, version: &str) -> String {
    let (os, arch) = PLATFORM;
    template
        .as_str()
        .expect("a name template")
        .replace("{{ .ProjectName }}", "terraform-provider-efs")
        .replace("{{ .Version }}", version)
        .replace("{{ .Os }}", os)
        .replace("{{ .Arch }}", arch)
}

#[test]
fn package_script_makes_what_goreleaser_makes() {
    skip_unless_acceptance!();
    let (config, _) = load_and_validate(&goreleaser_yaml());
    let version = "1.2.3";
    let key = SigningKey::generate("efs packaging test");
    let scratch = tempfile::tempdir().unwrap();
    let binary = scratch.path().join("provider");
    fs::write(&binary, b"\x7fELF stand-in for the provider binary").unwrap();
    let release = Release::package(&binary, version, &key);

    // The same file names as GoReleaser's templates give, and nothing else.
    let zip_name = format!("{}.zip", render(&config["archives"][0]["name_template"], version));
    let sums_name = render(&config["checksum"]["name_template"], version);
    let manifest_name = render(&config["checksum"]["extra_files"][0]["name_template"], version);
    // GoReleaser's default signature name, unless the config sets another.
    let signature_template = config["signs"][0]["signature"].as_str().unwrap_or("${artifact}.sig");
    let signature_name = signature_template.replace("${artifact}", &sums_name);
    let mut made: Vec<String> =
        fs::read_dir(release.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    made.sort();
    let mut expected = vec![zip_name.clone(), sums_name.clone(), manifest_name.clone(), signature_name.clone()];
    expected.sort();
    assert_eq!(made, expected);
    assert_eq!(release.zip(), release.dir().join(&zip_name));

    // The zip holds the binary alone, executable, named as the build's `binary` template says.
    let entries = Command::new(venv().join("bin/python"))
        .args(["-c", "import sys, zipfile; [print(oct(i.external_attr >> 16), i.filename) for i in zipfile.ZipFile(sys.argv[1]).infolist()]"])
        .arg(release.zip())
        .output()
        .unwrap();
    let binary_name = render(&config["builds"][0]["binary"], version);
    assert_eq!(String::from_utf8_lossy(&entries.stdout).trim(), format!("0o100755 {binary_name}"));

    // SHA256SUMS lists the zip and the manifest with their hashes; the manifest is the project's.
    assert_eq!(release.listed_sha256(&zip_name), Some(sha256_hex(&release.zip())));
    assert_eq!(release.listed_sha256(&manifest_name), Some(sha256_hex(&release.manifest())));
    assert_eq!(fs::read_to_string(release.shasums()).unwrap().lines().count(), 2);
    assert_eq!(
        fs::read(release.manifest()).unwrap(),
        fs::read(repo_root().join("terraform-registry-manifest.json")).unwrap()
    );

    // The signature is binary (an OpenPGP packet, not "-----BEGIN PGP SIGNATURE-----") and verifies
    // with the key, and only over SHA256SUMS as written.
    let signature = fs::read(release.signature()).unwrap();
    assert!(!signature.starts_with(b"-----BEGIN"), "armoured signature");
    assert!(key.verify_detached(&release.shasums(), &release.signature()));
    fs::write(release.shasums(), fs::read_to_string(release.shasums()).unwrap().replace("  ", "  x")).unwrap();
    assert!(!key.verify_detached(&release.shasums(), &release.signature()));
}
