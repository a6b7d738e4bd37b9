//! The release configuration: `.goreleaser.yml` must be valid for GoReleaser v2 (checked against
//! its published JSON schema, since GoReleaser itself cannot be installed here) and must produce
//! the artifact names the Terraform and OpenTofu registries expect.

use std::process::Command;

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
