//! The upstream Helm charts a user installs next to this provider, rendered by the real `helm` CLI
//! with the provider's computed values, and checked with `kubernetes-validate`.
//!
//! The charts are unpacked, read-only, in `../shared/charts/` beside the checkout (see its README),
//! or in `$EFS_CHARTS_DIR`: prometheus-community/prometheus 29.27.0 with its four dependencies, and
//! kubernetes-sigs/aws-efs-csi-driver 4.4.1. `helm` is built from its Go module by
//! `scripts/go-tools.sh` (`HELM_VERSION` in `scripts/tool-versions.sh`), or named by `$HELM_BIN`.
//! Rendering needs no cluster and no chart repository: `helm template` with the Kubernetes version
//! the manifests are validated against.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::cli::go_tool;
use crate::{env_nonempty, repo_root, venv};

/// The prometheus-community/prometheus chart, as a folder of [`charts_dir`].
pub const PROMETHEUS_CHART: &str = "prometheus-29.27.0";
/// The kubernetes-sigs/aws-efs-csi-driver chart, as a folder of [`charts_dir`].
pub const CSI_DRIVER_CHART: &str = "aws-efs-csi-driver-4.4.1";
/// The Kubernetes version charts are rendered for and objects validated against.
pub const KUBERNETES_VERSION: &str = "1.30.0";

/// The `helm` binary: `$HELM_BIN`, else the tool cache's (built by `scripts/go-tools.sh helm`).
pub fn helm_bin() -> PathBuf {
    go_tool("helm", "HELM_VERSION", "HELM_BIN")
}

/// The folder holding the unpacked charts: `$EFS_CHARTS_DIR`, else `../shared/charts` beside the
/// checkout. Panics, saying where they come from, when a chart is missing.
pub fn charts_dir() -> PathBuf {
    let dir = env_nonempty("EFS_CHARTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("..").join("shared").join("charts"));
    for chart in [PROMETHEUS_CHART, CSI_DRIVER_CHART] {
        assert!(
            dir.join(chart).join("Chart.yaml").is_file(),
            "chart {chart} not found in {}: unpack the upstream charts there (see its README) or set EFS_CHARTS_DIR",
            dir.display()
        );
    }
    dir
}

/// Every object `helm template` rendered, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub objects: Vec<Value>,
}

impl Rendered {
    /// The objects of one kind (`Deployment`, ...).
    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    /// The one object of `kind` named `name`; panics, listing what was rendered, when absent.
    pub fn get(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} rendered; rendered: {:?}", self.kinds_and_names()))
    }

    /// `Kind/name` of every object.
    pub fn kinds_and_names(&self) -> Vec<String> {
        self.objects
            .iter()
            .map(|o| format!("{}/{}", o["kind"].as_str().unwrap_or("?"), o["metadata"]["name"].as_str().unwrap_or("?")))
            .collect()
    }
}

/// `helm template RELEASE <charts>/CHART --namespace NAMESPACE -f values.yaml`, for Kubernetes
/// [`KUBERNETES_VERSION`], with Helm's cache, configuration and data folders in a temporary
/// directory (nothing from the user's Helm setup is read). Panics with Helm's output on failure.
pub fn template(chart: &str, release: &str, namespace: &str, values_yaml: &str) -> Rendered {
    let home = tempfile::Builder::new().prefix("efs-helm-").tempdir().expect("create helm home");
    let values = home.path().join("values.yaml");
    fs::write(&values, values_yaml).expect("write values");
    let out = Command::new(helm_bin())
        .arg("template")
        .arg(release)
        .arg(charts_dir().join(chart))
        .args(["--namespace", namespace, "--kube-version", KUBERNETES_VERSION, "-f"])
        .arg(&values)
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .expect("run helm template");
    assert!(
        out.status.success(),
        "helm template {chart} failed with these values:\n{values_yaml}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Rendered { objects: yaml_documents(&String::from_utf8_lossy(&out.stdout)) }
}

/// The documents of a YAML stream as JSON (empty documents skipped), parsed by PyYAML in the venv
/// (kubernetes-validate's own YAML parser).
pub fn yaml_documents(yaml: &str) -> Vec<Value> {
    const TO_JSON: &str = "import json, sys, yaml\n\
        json.dump([d for d in yaml.safe_load_all(sys.stdin) if d is not None], sys.stdout, default=str)\n";
    let mut child = Command::new(venv().join("bin/python"))
        .args(["-c", TO_JSON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the venv's python (scripts/setup.sh makes the venv)");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = yaml.to_string();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let out = child.wait_with_output().expect("wait for python");
    writer.join().expect("writer thread").expect("write YAML to python");
    assert!(out.status.success(), "not YAML:\n{yaml}\n{}", String::from_utf8_lossy(&out.stderr));
    match serde_json::from_slice(&out.stdout).expect("python printed JSON") {
        Value::Array(documents) => documents,
        other => panic!("expected a list of documents, got {other}"),
    }
}

/// Validates every object with `kubernetes-validate -k KUBERNETES_VERSION --strict` (unknown
/// fields are errors); panics listing each object that fails and why.
pub fn kubernetes_validate(objects: &[Value]) {
    let dir = tempfile::Builder::new().prefix("efs-k8s-").tempdir().expect("create validation dir");
    let files: Vec<PathBuf> = objects
        .iter()
        .enumerate()
        .map(|(i, object)| {
            // JSON is YAML: each object as it was rendered, one file each, so a failure names it.
            let kind = object["kind"].as_str().unwrap_or("object");
            let name = object["metadata"]["name"].as_str().unwrap_or("unnamed");
            let path = dir.path().join(format!("{i:03}-{kind}-{name}.yaml"));
            fs::write(&path, serde_json::to_string_pretty(object).expect("object as JSON")).expect("write object");
            path
        })
        .collect();
    assert!(!files.is_empty(), "nothing to validate");
    let out = Command::new(venv().join("bin/kubernetes-validate"))
        .args(["-k", KUBERNETES_VERSION, "--strict"])
        .args(&files)
        .output()
        .expect("run kubernetes-validate");
    assert!(
        out.status.success(),
        "objects are not valid Kubernetes {KUBERNETES_VERSION} objects:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every leaf of a values document with its dotted path (`server.strategy.type`); a list is a leaf.
pub fn leaf_paths(values: &Value) -> Vec<String> {
    fn walk(value: &Value, path: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    walk(child, &child_path, out);
                }
            }
            _ => out.push(path.to_string()),
        }
    }
    let mut out = Vec::new();
    walk(values, "", &mut out);
    out
}

/// `values` with the leaf at `path` changed to another value of its type: a bool negated, a
/// number plus one, a string with `-changed` appended, a list emptied (or given one string).
pub fn with_leaf_changed(values: &Value, path: &str) -> Value {
    let mut changed = values.clone();
    let pointer = format!("/{}", path.replace('.', "/"));
    let leaf = changed.pointer_mut(&pointer).unwrap_or_else(|| panic!("no {path} in {values}"));
    *leaf = match leaf.take() {
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => Value::from(n.as_i64().map(|i| i + 1).expect("an integer value")),
        Value::String(s) => Value::String(format!("{s}-changed")),
        Value::Array(items) if items.is_empty() => Value::Array(vec![Value::from("changed")]),
        Value::Array(_) => Value::Array(vec![]),
        other => panic!("cannot change {path} = {other}"),
    };
    changed
}

/// The leaves of `values` that `chart` does not read: changing one alone leaves every rendered
/// object as it was. The values are rendered as JSON (which is YAML). Panics when two renders of
/// the same values differ (then the comparison would prove nothing).
pub fn keys_the_chart_ignores(chart: &str, release: &str, namespace: &str, values: &Value) -> Vec<String> {
    let base = template(chart, release, namespace, &values.to_string());
    assert_eq!(base, template(chart, release, namespace, &values.to_string()), "{chart} renders differently each time");
    leaf_paths(values)
        .into_iter()
        .filter(|path| template(chart, release, namespace, &with_leaf_changed(values, path).to_string()) == base)
        .collect()
}
