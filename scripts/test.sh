#!/usr/bin/env bash
# Runs every check and test of the project, as CI does:
#   formatting, clippy (warnings are errors), unit tests, the protocol conformance test, and the
#   acceptance tests that drive the real Terraform CLI against the provider and moto.
#
#   bash scripts/test.sh
#
# Installs what it needs first (scripts/setup.sh: a project-local venv with Terraform 1.0.3, moto,
# kubernetes-validate; OpenTofu and the other Go tools built from their modules). Runs the whole
# acceptance suite under OpenTofu (the current CLI) and its CLI-facing set again under Terraform
# 1.0.3 (the floor). Uses one target/ directory.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
start=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - start))" "$*"; }

step "setting up test dependencies"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/tool-versions.sh
source scripts/tool-versions.sh

# One run builds everything once: incremental caches would only add gigabytes to target/.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests: unit, conformance and acceptance (TF_ACC=1) under OpenTofu $OPENTOFU_VERSION"
# cargo test builds the provider binary too (one build, one target/), with the same features.
export EFS_PROVIDER_BIN="$REPO/target/debug/terraform-provider-efs"
export TF_ACC=1
# The CLI processes and moto are short-lived and use little memory; two test threads keep the
# 2-core machine busy without starving moto.
EFS_TF_CLI=tofu cargo test --workspace --locked --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"

step "acceptance tests again under Terraform $TERRAFORM_VERSION (the oldest CLI of protocol 6): the CLI-facing set"
# What the CLI takes part in runs again on the floor CLI: the protocol and the install, plan, apply,
# import, refresh and destroy of every resource and data source, diagnostics, crash recovery, state
# backends and logs. The other test files check what no CLI changes (AWS behaviour through the fault
# proxy, the provider's own recovery from crashes in a second configuration shape and in updates,
# the charts, docs, release artifacts, workflows) and ran in the first pass; the whole suite
# under both CLIs does not fit CI's budget from a cold start. Tests named tofu_* use what only
# OpenTofu has (import/removed/moved blocks, generated configuration) and ran in the first pass.
TERRAFORM_TESTS=(provider registry security bad_input example_module csi_node_identity prometheus_volume
  cluster_readiness ownership crash backend)
EFS_TF_CLI=terraform cargo test --workspace --locked --no-fail-fast "${TERRAFORM_TESTS[@]/#/--test=}" \
  -- --test-threads="${TEST_THREADS:-2}" --skip tofu_

step "benchmarks, one short round each (figures: cargo bench --workspace --locked --bench provider)"
cargo test --workspace --locked --bench provider

step "all checks passed"
