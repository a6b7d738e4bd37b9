#!/usr/bin/env bash
# Makes a release with GoReleaser (.goreleaser.yml), the one way releases are made: locally, in the
# acceptance suite (a snapshot) and in .github/workflows/release.yml. Builds GoReleaser first if
# the per-user tool cache lacks the pinned version (scripts/go-tools.sh), then runs
# `goreleaser release --clean` with the given flags; the artifacts land in dist/.
#
#   bash scripts/package.sh --snapshot                 # a signed snapshot of what this machine builds
#   bash scripts/package.sh                            # the release of the tag on HEAD, published
#   bash scripts/package.sh --builds darwin --skip=publish,sign   # one runner's archives only
#
# Options (everything else goes to `goreleaser release`):
#   --builds LIST     the build groups of .goreleaser.yml to build, comma-separated: linux-amd64,
#                     linux-arm64, freebsd, darwin, windows (default: this machine's own platform)
#   --archives GLOB   zips that other runners built, listed in SHA256SUMS and published with the rest
#
# Environment: GPG_FINGERPRINT names the signing key (unless signing is skipped); it must be an RSA
# key, since Terraform 1.0 refuses ed25519 keys ("unsupported feature: public key type: 22").
# GNUPGHOME, GPG's, selects the keyring. GITHUB_TOKEN publishes. CARGO_TARGET_DIR defaults to
# target/goreleaser, so that a release build leaves the debug build in target/ alone. The Linux and
# FreeBSD groups need cargo-zigbuild and zig (scripts/setup.sh installs both into the venv).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"

die() {
  printf 'package.sh: error: %s\n' "$*" >&2
  exit 1
}
log() { printf '==> %s\n' "$*"; }

host_builds() {
  case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) echo linux-amd64 ;;
  Linux/aarch64 | Linux/arm64) echo linux-arm64 ;;
  Darwin/*) echo darwin ;;
  MINGW* | MSYS* | CYGWIN*) echo windows ;;
  *) die "no build group of .goreleaser.yml for $(uname -s)/$(uname -m): pass --builds" ;;
  esac
}

builds=""
archives=""
goreleaser_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
  --builds) builds="${2:?--builds needs a list}"; shift 2 ;;
  --archives) archives="${2:?--archives needs a glob}"; shift 2 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) goreleaser_args+=("$1"); shift ;;
  esac
done
builds="${builds:-$(host_builds)}"
for group in ${builds//,/ }; do
  case "$group" in
  linux-amd64 | linux-arm64 | freebsd | darwin | windows) ;;
  *) die "unknown build group '$group' (known: linux-amd64, linux-arm64, freebsd, darwin, windows)" ;;
  esac
done

# Signing happens unless --skip names it.
signing=true
for arg in ${goreleaser_args[@]+"${goreleaser_args[@]}"}; do
  [[ "$arg" == --skip=*sign* ]] && signing=false
done
if $signing; then
  command -v gpg >/dev/null 2>&1 || die "gpg not found: run 'bash scripts/setup.sh' (installs gnupg)"
  [[ -n "${GPG_FINGERPRINT:-}" ]] || die "GPG_FINGERPRINT is not set: the fingerprint of the RSA signing key"
  # Field 4 of the "sec" line is the public key algorithm; 1 is RSA.
  algo="$(gpg --batch --with-colons --list-secret-keys "$GPG_FINGERPRINT" 2>/dev/null |
    awk -F: '$1 == "sec" { print $4; exit }')"
  [[ -n "$algo" ]] || die "no secret key $GPG_FINGERPRINT in ${GNUPGHOME:-~/.gnupg}"
  [[ "$algo" == 1 ]] || die "the signing key is not RSA (algorithm $algo): Terraform 1.0 refuses it"
fi

if [[ "$builds" == *linux* || "$builds" == *freebsd* ]]; then
  venv_bin="${EFS_VENV:-$REPO/.venv}/bin"
  [[ -x "$venv_bin/cargo-zigbuild" ]] && export PATH="$venv_bin:$PATH"
  command -v cargo-zigbuild >/dev/null 2>&1 ||
    die "cargo-zigbuild not found: run 'bash scripts/setup.sh' (or pip install -r scripts/requirements-release.txt)"
fi

bash "$SCRIPT_DIR/go-tools.sh" goreleaser
goreleaser="$(bash "$SCRIPT_DIR/go-tools.sh" --path goreleaser)"

export EFS_RELEASE_BUILDS="$builds"
export EFS_RELEASE_ARCHIVES="$archives"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target/goreleaser}"
cd "$REPO"
log "goreleaser release --clean ${goreleaser_args[*]:-} (builds: $builds${archives:+; other archives: $archives})"
# GoReleaser gives up after an hour by default; a cold release build on a busy 2-core machine has
# taken longer.
"$goreleaser" release --clean --timeout 3h ${goreleaser_args[@]+"${goreleaser_args[@]}"}
log "artifacts in $REPO/dist:"
ls -l dist/*.zip dist/*_SHA256SUMS* dist/*_manifest.json 2>/dev/null || true
