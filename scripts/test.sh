#!/usr/bin/env bash
# Runs every check and test of the project, as CI does:
#   formatting, clippy (warnings are errors), unit tests, the protocol conformance test, and the
#   acceptance tests that drive the real Terraform CLI against the provider and moto.
#
#   bash scripts/test.sh
#
# Installs what it needs first (scripts/setup.sh: a project-local venv with Terraform 1.0.3, moto,
# kubernetes-validate). Uses one target/ directory for every build.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
start=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - start))" "$*"; }

step "setting up test dependencies"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

# One run builds everything once: incremental caches would only add gigabytes to target/.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests: unit, conformance and acceptance (TF_ACC=1)"
# cargo test builds the provider binary too (one build, one target/), with the same features.
export EFS_PROVIDER_BIN="$REPO/target/debug/terraform-provider-efs"
export TF_ACC=1
# Terraform and moto processes are short-lived and use little memory; two test threads keep the
# 2-core machine busy without starving moto.
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"

step "benchmarks, one short round each (figures: cargo bench --workspace --locked --bench provider)"
cargo test --workspace --locked --bench provider

step "all checks passed"
