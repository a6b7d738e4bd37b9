#!/usr/bin/env bash
# The cargo of .goreleaser.yml's Rust builds. GoReleaser runs
#
#   bash scripts/goreleaser-cargo.sh --target=TARGET SUBCOMMAND FLAGS...
#
# with EFS_RELEASE_BINARY set to the binary's release name (terraform-provider-efs_v<version>,
# .exe on Windows), and then takes target/<triple>/release/$EFS_RELEASE_BINARY as the build's
# output. Cargo names the binary after the package only, so this runs
# `cargo SUBCOMMAND --target=TARGET FLAGS...` and copies cargo's output to that name.
#
# CARGO_TARGET_DIR is honoured (GoReleaser itself always reads from ./target): a release build in a
# target directory of its own neither waits for nor invalidates a debug build in ./target.
set -euo pipefail

die() {
  printf 'goreleaser-cargo.sh: error: %s\n' "$*" >&2
  exit 1
}

: "${EFS_RELEASE_BINARY:?is not set: this script is run by GoReleaser (.goreleaser.yml)}"
[[ "${1:-}" == --target=* ]] || die "expected --target=TARGET first, got: $*"
target="${1#--target=}"
subcommand="${2:?no cargo subcommand}"
shift 2

cargo "$subcommand" --target="$target" "$@"

# cargo-zigbuild drops a glibc version suffix (x86_64-unknown-linux-gnu.2.17) from the output
# directory; no other target has a dot in it.
triple="${target%%.*}"
ext=""
[[ "$triple" == *windows* ]] && ext=".exe"
built="${CARGO_TARGET_DIR:-target}/$triple/release/terraform-provider-efs$ext"
[[ -f "$built" ]] || die "cargo wrote no $built"
mkdir -p "target/$triple/release"
cp -f "$built" "target/$triple/release/$EFS_RELEASE_BINARY"
