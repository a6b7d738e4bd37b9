//! docs/ must match the schema the provider serves: every attribute and block of the provider,
//! each resource and each data source (from `terraform providers schema -json`) is documented on
//! its registry page, every documented name exists in the schema, and each page's example is the
//! file under examples/ that it mirrors.

use std::collections::BTreeSet;

use acceptance_tests::{provider_block, repo_root, skip_unless_acceptance, Moto, Workdir};
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

#[test]
fn docs_match_the_served_schema() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let wd = Workdir::new(&moto);
    wd.write("main.tf", &provider_block(&moto));
    let out = wd.run(&["providers", "schema", "-json"]);
    assert!(out.success(), "{out}");
    let schemas: Value = serde_json::from_str(&out.stdout).expect("schema JSON");
    let provider = &schemas["provider_schemas"][acceptance_tests::provider_source().as_str()];
    assert!(provider.is_object(), "no schema for the provider in {schemas}");

    let mut problems = Vec::new();
    check_page("the provider", "docs/index.md", &provider["provider"]["block"], &mut problems);
    check_example("docs/index.md", "examples/provider/provider.tf", &mut problems);
    let mut pages = 1;
    for (kind, dir, example) in
        [("resource_schemas", "resources", "resource.tf"), ("data_source_schemas", "data-sources", "data-source.tf")]
    {
        for (type_name, schema) in provider[kind].as_object().into_iter().flatten() {
            let short = type_name.strip_prefix("efs_").unwrap_or(type_name);
            let page = format!("docs/{dir}/{short}.md");
            check_page(type_name, &page, &schema["block"], &mut problems);
            check_example(&page, &format!("examples/{dir}/{type_name}/{example}"), &mut problems);
            pages += 1;
        }
    }
    assert!(problems.is_empty(), "docs/ does not match the schema:\n{}", problems.join("\n"));
    assert!(pages >= 2, "expected the provider and at least one data source page");
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
