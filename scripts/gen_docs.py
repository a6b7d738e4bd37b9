"""Generates the registry pages of docs/resources and docs/data-sources from the schema the
provider serves (`tofu providers schema -json` or `terraform providers schema -json`) and the files
under examples/, so the docs cannot drift from the schema. Hand-written prose for a page lives in
templates/<dir>/<name>.md and is inserted after the description. The examples follow
tfplugindocs' conventional paths (resource.tf, data-source.tf, import.sh, import-by-string-id.tf,
import-by-identity.tf), and `tfplugindocs validate` passes on the result.

    python scripts/gen_docs.py SCHEMA_JSON              # rewrites docs/resources/*.md and docs/data-sources/*.md
    python scripts/gen_docs.py SCHEMA_JSON --out DIR    # writes DIR/resources/*.md, DIR/data-sources/*.md

Why not tfplugindocs' own generator: its schema renderer (v0.25.0) refuses blocks of nesting mode
"group" ("unexpected nesting mode for block: group"), and efs_prometheus_volume's `access_point`
and `kubernetes` blocks are group blocks.

The acceptance test acceptance-tests/tests/docs.rs regenerates the pages from the live schema and
fails when docs/ differs.
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The provider's address without the registry host, which depends on the CLI.
PROVIDER = "/seedlabs/efs"


def type_name(t):
    if isinstance(t, str):
        return {"string": "String", "number": "Number", "bool": "Boolean", "dynamic": "Dynamic"}[t]
    kind, inner = t[0], t[1]
    if kind == "object":
        return "Object"
    return f"{kind.capitalize()} of {type_name(inner)}"


def mode(attr):
    if attr.get("required"):
        return "Required"
    if attr.get("optional"):
        return "Optional"
    return None


def bullet(indent, name, kind, flags, description):
    parts = ", ".join([kind] + flags)
    text = " ".join((description or "").split())
    return f"{'  ' * indent}- `{name}` ({parts}) {text}".rstrip()


def render_block(block, indent, arguments):
    """Arguments (arguments=True) or read-only attributes of a block, nested blocks included."""
    lines = []
    for name, attr in sorted(block.get("attributes", {}).items()):
        m = mode(attr)
        if arguments != (m is not None):
            continue
        flags = [m] if m else []
        if attr.get("sensitive"):
            flags.append("Sensitive")
        if attr.get("deprecated"):
            flags.append("Deprecated")
        nested = attr.get("nested_type")
        kind = f"Attributes {nested.get('nesting_mode', 'single').capitalize()}" if nested else type_name(attr["type"])
        lines.append(bullet(indent, name, kind, flags, attr.get("description")))
        if nested:
            lines += render_block(nested, indent + 1, True) + render_block(nested, indent + 1, False)
    if arguments:
        for name, nested in sorted(block.get("block_types", {}).items()):
            flags = ["Required"] if nested.get("min_items", 0) > 0 else ["Optional"]
            # A single block is at most one by its nesting mode (the CLIs refuse max_items = 1 on it).
            if nested.get("max_items", 0) == 1 or nested.get("nesting_mode") == "single":
                flags.append("at most one")
            lines.append(bullet(indent, name, "Block", flags, nested["block"].get("description")))
            lines += render_block(nested["block"], indent + 1, True)
            lines += render_block(nested["block"], indent + 1, False)
    return lines


def read(path):
    full = os.path.join(REPO, path)
    return open(full).read().strip() if os.path.exists(full) else None


def page(kind, type_, schema):
    dir_ = "resources" if kind == "Resource" else "data-sources"
    example_file = "resource.tf" if kind == "Resource" else "data-source.tf"
    short = type_.removeprefix("efs_")
    block = schema["block"]
    description = " ".join(block.get("description", "").split())
    first_sentence = description.split(". ")[0].rstrip(".") + "."
    out = [
        "---",
        f'page_title: "{type_} {kind} - efs"',
        'subcategory: ""',
        "description: |-",
        f"  {first_sentence}",
        "---",
        "",
        f"# {type_} ({kind})",
        "",
        description,
        "",
    ]
    prose = read(f"templates/{dir_}/{short}.md")
    if prose:
        out += [prose, ""]
    example = read(f"examples/{dir_}/{type_}/{example_file}")
    if example:
        out += ["## Example Usage", "", "```terraform", example, "```", ""]
    out += ["## Argument Reference", ""] + render_block(block, 0, True) + [""]
    attributes = render_block(block, 0, False)
    if attributes:
        out += ["## Attribute Reference", ""] + attributes + [""]
    import_script = read(f"examples/{dir_}/{type_}/import.sh")
    import_by_id = read(f"examples/{dir_}/{type_}/import-by-string-id.tf")
    import_by_identity = read(f"examples/{dir_}/{type_}/import-by-identity.tf")
    if import_script or import_by_id or import_by_identity:
        out += ["## Import", ""]
    if import_by_id:
        out += ["With an `import` block:", "", "```terraform", import_by_id, "```", ""]
    if import_by_identity:
        out += ["By resource identity:", "", "```terraform", import_by_identity, "```", ""]
    if import_script:
        out += ["With the `import` command (every CLI version):", "", "```shell", import_script, "```", ""]
    return f"{dir_}/{short}.md", "\n".join(out)


def main():
    args = sys.argv[1:]
    out_dir = os.path.join(REPO, "docs")
    if "--out" in args:
        i = args.index("--out")
        out_dir = os.path.abspath(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    schemas = json.load(open(args[0]))["provider_schemas"]
    (schema,) = [s for address, s in schemas.items() if address.endswith(PROVIDER)]
    for kind, key in [("Resource", "resource_schemas"), ("Data Source", "data_source_schemas")]:
        for type_, s in sorted(schema.get(key, {}).items()):
            path, text = page(kind, type_, s)
            os.makedirs(os.path.dirname(os.path.join(out_dir, path)), exist_ok=True)
            with open(os.path.join(out_dir, path), "w") as f:
                f.write(text)
            print(f"wrote {os.path.join(out_dir, path)}")


if __name__ == "__main__":
    main()
