//! docs/ must match the schema the provider serves (`tofu providers schema -json` /
//! `terraform providers schema -json`): the resource and data source pages are what
//! `scripts/gen_docs.py` generates from it and examples/, byte for byte; every attribute and block of
//! the provider is documented in the hand-written docs/index.md, which lists every resource and
//! data source; and `tfplugindocs validate` (the registries' ecosystem's checker) passes on docs/.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use acceptance_tests::cli::go_tool;
use acceptance_tests::{provider_block, repo_root, skip_unless_acceptance, venv, Moto, Workdir};
use serde_json::Value;

/// Every attribute and nested block name in a schema block, nested ones included.
fn schema_names(block: &Value, out: &mut BTreeSet<String>) {
    if let Some(attributes) = block["attributes"].as_object() {
        for (name, attribute) in attributes {
            out.insert(name.clone());
            if attribute["nested_type"].is_object() {
                schema_names(&attribute["nested_type"], out);
            }
        }
    }
    if let Some(blocks) = block["block_types"].as_object() {
        for (name, nested) in blocks {
            out.insert(name.clone());
            schema_names(&nested["block"], out);
        }
    }
}

/// Names documented as list items (`- \`name\``) under the reference headings of a page.
fn documented_names(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_reference = false;
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_reference = ["Argument Reference", "Attribute Reference", "Timeouts"].contains(&heading.trim());
            continue;
        }
        if !in_reference {
            continue;
        }
        if let Some(rest) = line.trim_start().strip_prefix("- `") {
            if let Some(name) = rest.split('`').next() {
                names.insert(name.to_string());
            }
        }
    }
    names
}

fn check_page(what: &str, page_path: &str, block: &Value, problems: &mut Vec<String>) {
    let page = match std::fs::read_to_string(repo_root().join(page_path)) {
        Ok(page) => page,
        Err(_) => {
            problems.push(format!("{what}: no doc page {page_path}"));
            return;
        }
    };
    if !page.starts_with("---\n") || !page.contains("page_title:") {
        problems.push(format!("{page_path}: missing the registry front matter (page_title)"));
    }
    let mut in_schema = BTreeSet::new();
    schema_names(block, &mut in_schema);
    let documented = documented_names(&page);
    for missing in in_schema.difference(&documented) {
        problems.push(format!("{page_path}: `{missing}` of {what} is not documented"));
    }
    for extra in documented.difference(&in_schema) {
        problems.push(format!("{page_path}: documents `{extra}`, which {what} does not have"));
    }
}

fn check_example(page_path: &str, example_path: &str, problems: &mut Vec<String>) {
    let page = std::fs::read_to_string(repo_root().join(page_path)).unwrap_or_default();
    match std::fs::read_to_string(repo_root().join(example_path)) {
        Ok(example) if page.contains(example.trim()) => {}
        Ok(_) => problems.push(format!("{page_path}: its example differs from {example_path}")),
        Err(_) => problems.push(format!("{page_path}: no example file {example_path}")),
    }
}

/// `providers schema -json` of the provider under test, run by the current CLI.
fn served_schemas() -> Value {
    let moto = Moto::start();
    let wd = Workdir::new(&moto);
    wd.write("main.tf", &provider_block(&moto));
    let out = wd.run(&["providers", "schema", "-json"]);
    assert!(out.success(), "{out}");
    serde_json::from_str(&out.stdout).expect("schema JSON")
}

/// The provider's entry of [`served_schemas`].
fn provider_schema(schemas: &Value) -> &Value {
    let provider = &schemas["provider_schemas"][acceptance_tests::provider_source().as_str()];
    assert!(provider.is_object(), "no schema for the provider in {schemas}");
    provider
}

/// `(short name, page path)` of every resource and data source page the schema calls for.
fn reference_pages(provider: &Value) -> Vec<(String, String)> {
    let mut pages = Vec::new();
    for (kind, dir) in [("resource_schemas", "resources"), ("data_source_schemas", "data-sources")] {
        for type_name in provider[kind].as_object().expect("schemas").keys() {
            let short = type_name.strip_prefix("efs_").unwrap_or(type_name);
            pages.push((type_name.clone(), format!("{dir}/{short}.md")));
        }
    }
    pages
}

fn markdown_files(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn docs_match_the_served_schema() {
    skip_unless_acceptance!();
    let schemas = served_schemas();
    let provider = provider_schema(&schemas);

    // The reference pages are what the generator makes of the live schema, and nothing else.
    let scratch = tempfile::tempdir().unwrap();
    let schema_file = scratch.path().join("schema.json");
    fs::write(&schema_file, schemas.to_string()).unwrap();
    let generated = scratch.path().join("docs");
    let out = Command::new(venv().join("bin/python"))
        .arg(repo_root().join("scripts/gen_docs.py"))
        .arg(&schema_file)
        .arg("--out")
        .arg(&generated)
        .output()
        .expect("run scripts/gen_docs.py");
    assert!(out.status.success(), "gen_docs.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut problems = Vec::new();
    for dir in ["resources", "data-sources"] {
        let (made, committed) =
            (markdown_files(&generated.join(dir)), markdown_files(&repo_root().join("docs").join(dir)));
        for page in committed.difference(&made) {
            problems.push(format!("docs/{dir}/{page} documents nothing the provider serves"));
        }
        for page in &made {
            let want = fs::read_to_string(generated.join(dir).join(page)).unwrap();
            match fs::read_to_string(repo_root().join("docs").join(dir).join(page)) {
                Ok(have) if have == want => {}
                Ok(_) => problems.push(format!("docs/{dir}/{page} differs from what gen_docs.py makes of the schema")),
                Err(_) => problems.push(format!("docs/{dir}/{page} is missing")),
            }
        }
    }
    assert_eq!(reference_pages(provider).len(), 4, "two resources and two data sources");

    // The hand-written index documents the provider block and lists every page.
    check_page("the provider", "docs/index.md", &provider["provider"]["block"], &mut problems);
    check_example("docs/index.md", "examples/provider/provider.tf", &mut problems);
    let index = fs::read_to_string(repo_root().join("docs/index.md")).unwrap();
    for (type_name, page) in reference_pages(provider) {
        if !index.contains(&format!("[`{type_name}`]({page})")) {
            problems.push(format!("docs/index.md does not list {type_name} ({page})"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/ does not match the schema (regenerate: `python3 scripts/gen_docs.py SCHEMA_JSON`):\n{}",
        problems.join("\n")
    );
}

/// Runs `tfplugindocs validate` on the provider directory `dir` with the schema in `schema_file`.
fn tfplugindocs_validate(dir: &Path, schema_file: &Path) -> (bool, String) {
    let out = Command::new(go_tool("tfplugindocs", "TFPLUGINDOCS_VERSION", "TFPLUGINDOCS_BIN"))
        .args(["validate", "--provider-name", "efs", "--providers-schema"])
        .arg(schema_file)
        .arg("--provider-dir")
        .arg(dir)
        .output()
        .expect("run tfplugindocs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn docs_pass_tfplugindocs_validate() {
    skip_unless_acceptance!();
    // tfplugindocs looks the provider up by its short name (or as hashicorp/<name>, the address
    // of a provider it builds itself).
    let mut schemas = served_schemas();
    let provider = provider_schema(&schemas).clone();
    schemas["provider_schemas"] = serde_json::json!({ "efs": provider });
    let scratch = tempfile::tempdir().unwrap();
    let schema_file = scratch.path().join("schema.json");
    fs::write(&schema_file, schemas.to_string()).unwrap();

    let (ok, out) = tfplugindocs_validate(&repo_root(), &schema_file);
    assert!(ok, "tfplugindocs validate refused docs/:\n{out}");
    assert!(out.contains("running file mismatch check"), "{out}");

    // The check is real: a page for a resource the provider does not have, and a guide without
    // front matter, are refused.
    let copy = scratch.path().join("provider");
    copy_dir(&repo_root().join("docs"), &copy.join("docs"));
    fs::write(copy.join("docs/resources/file_system.md"), "---\npage_title: x\n---\n# efs_file_system\n").unwrap();
    fs::write(copy.join("docs/guides/untitled.md"), "# A guide\n").unwrap();
    let (ok, out) = tfplugindocs_validate(&copy, &schema_file);
    assert!(!ok, "tfplugindocs validate accepted a broken docs/:\n{out}");
    assert!(out.contains("file_system.md"), "{out}");
    assert!(out.contains("untitled.md"), "{out}");
}

#[test]
fn documented_names_are_read_from_reference_sections_only() {
    let page = "## Example Usage\n- `not_this`\n## Argument Reference\n- `name` (String)\n  - `nested` (String)\n## Import\n- `nor_this`\n";
    let names: Vec<String> = documented_names(page).into_iter().collect();
    assert_eq!(names, vec!["name", "nested"]);
}

#[test]
fn examples_are_terraform_fmt_clean() {
    skip_unless_acceptance!();
    let cli = acceptance_tests::Cli::current();
    let out = std::process::Command::new(cli.bin())
        .args(["fmt", "-check", "-recursive", "-diff", "-no-color"])
        .arg(repo_root().join("examples"))
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run fmt");
    assert!(
        out.status.success(),
        "{} fmt reports unformatted HCL under examples/:\n{}{}",
        cli.command_name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
