//! The GitHub Actions workflows a public repository runs: `.github/workflows/test.yml` runs the
//! README's test command on pull requests and on main, `release.yml` builds every build group of
//! `.goreleaser.yml` on a runner that has the group's Rust targets. Both pass `actionlint` (built
//! from its Go module) and GitHub's workflow schema (`check-jsonschema`, which carries it offline).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use acceptance_tests::cli::go_tool;
use acceptance_tests::{repo_root, skip_unless_acceptance, venv};
use serde_json::Value;

fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(repo_root().join(".github/workflows"))
        .expect("read .github/workflows")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

/// Runs actionlint on `files`; shellcheck and pyflakes are left out so that the result does not
/// depend on what else the machine has installed.
fn actionlint(files: &[PathBuf]) -> Output {
    Command::new(go_tool("actionlint", "ACTIONLINT_VERSION", "ACTIONLINT_BIN"))
        .args(["-no-color", "-oneline", "-shellcheck=", "-pyflakes="])
        .args(files)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("run actionlint")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A YAML file as JSON, through the venv's PyYAML.
fn yaml(path: &Path) -> Value {
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(path)
        .output()
        .expect("run the venv's python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn workflows_pass_actionlint_and_the_workflow_schema() {
    skip_unless_acceptance!();
    let files = workflows();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["release.yml", "test.yml"]);
    let out = actionlint(&files);
    assert!(out.status.success(), "actionlint:\n{}", text(&out));

    let out = Command::new(venv().join("bin/check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(&files)
        .output()
        .expect("run check-jsonschema (scripts/setup.sh installs it)");
    assert!(out.status.success(), "check-jsonschema:\n{}", text(&out));

    // Both checks are real: a job that needs a job that does not exist, and a step without
    // `run` or `uses`, are refused.
    let scratch = tempfile::tempdir().unwrap();
    let broken = scratch.path().join("broken.yml");
    let test_yml = fs::read_to_string(repo_root().join(".github/workflows/test.yml")).unwrap();
    fs::write(
        &broken,
        test_yml.replace("    runs-on: ubuntu-24.04\n", "    runs-on: ubuntu-24.04\n    needs: build\n"),
    )
    .unwrap();
    let out = actionlint(std::slice::from_ref(&broken));
    assert!(!out.status.success() && text(&out).contains("\"build\""), "actionlint accepted:\n{}", text(&out));
    fs::write(&broken, test_yml.replace("        run: bash scripts/test.sh\n", "")).unwrap();
    let out = Command::new(venv().join("bin/check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success(), "check-jsonschema accepted a step with neither run nor uses");
}

#[test]
fn test_workflow_runs_the_readme_test_command() {
    skip_unless_acceptance!();
    let readme = fs::read_to_string(repo_root().join("README.md")).unwrap();
    let command = "bash scripts/test.sh";
    assert!(readme.contains(command), "the README names another test command");
    let workflow = yaml(&repo_root().join(".github/workflows/test.yml"));
    // PyYAML reads the key `on` as the boolean true.
    let on = &workflow["true"];
    assert!(on.get("pull_request").is_some(), "test.yml does not run on pull requests: {on}");
    assert_eq!(on["push"]["branches"], serde_json::json!(["main"]));
    let runs: Vec<&str> = workflow["jobs"]["test"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .map(str::trim)
        .collect();
    assert_eq!(runs, [command]);
}

#[test]
fn release_workflow_builds_every_goreleaser_build_group_once() {
    skip_unless_acceptance!();
    let config = yaml(&repo_root().join(".goreleaser.yml"));
    let release = yaml(&repo_root().join(".github/workflows/release.yml"));

    // The group each job builds, and the Rust targets its runner has.
    let mut built: Vec<(String, BTreeSet<String>)> = Vec::new();
    for entry in release["jobs"]["archives"]["strategy"]["matrix"]["include"].as_array().expect("matrix") {
        let targets = entry["targets"].as_str().unwrap().split(',').map(str::to_string).collect();
        built.push((entry["builds"].as_str().unwrap().to_string(), targets));
    }
    let steps = release["jobs"]["release"]["steps"].as_array().expect("release steps");
    let toolchain = steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("dtolnay/rust-toolchain")));
    let release_targets: BTreeSet<String> = toolchain.expect("a toolchain step")["with"]["targets"]
        .as_str()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let package = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("scripts/package.sh"))
        .expect("the release job runs scripts/package.sh");
    let groups = package.split("--builds ").nth(1).expect("--builds").split_whitespace().next().unwrap();
    for group in groups.split(',') {
        built.push((group.to_string(), release_targets.clone()));
    }
    assert!(package.contains("--archives 'other-archives/*.zip'"), "{package}");

    let mut seen = BTreeSet::new();
    for (group, targets) in &built {
        assert!(seen.insert(group.clone()), "{group} is built twice");
        let build = config["builds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == group.as_str())
            .unwrap_or_else(|| panic!("release.yml builds {group}, which .goreleaser.yml does not have"));
        for target in build["targets"].as_array().unwrap() {
            // cargo-zigbuild's glibc suffix is not part of the Rust target.
            let triple = target.as_str().unwrap().split('.').next().unwrap();
            assert!(targets.contains(triple), "the runner of {group} lacks the Rust target {triple}: {targets:?}");
        }
    }
    let groups: BTreeSet<String> =
        config["builds"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen, groups, "release.yml must build every build group of .goreleaser.yml");
}
