#!/usr/bin/env bash
# Packages a linux_amd64 release exactly as .goreleaser.yml does, with the same file names, for
# the Terraform and OpenTofu registries:
#
#   dist/terraform-provider-efs_<version>_linux_amd64.zip   the binary alone, as terraform-provider-efs_v<version>
#   dist/terraform-provider-efs_<version>_manifest.json     terraform-registry-manifest.json (protocol 6.0)
#   dist/terraform-provider-efs_<version>_SHA256SUMS        sha256 of the zip and the manifest
#   dist/terraform-provider-efs_<version>_SHA256SUMS.sig    binary (not armoured) detached GPG signature
#
#   bash scripts/package.sh                        # portable release build (glibc 2.17) with cargo-zigbuild
#   bash scripts/package.sh --binary PATH          # package a binary built elsewhere (no build)
#
# Options:
#   --binary PATH      package PATH instead of building (the tests package target/debug's binary)
#   --version V        release version (default: the workspace version in Cargo.toml; a leading v is dropped)
#   --out DIR          output directory (default: <repo>/dist, as GoReleaser)
#   --gnupghome DIR    keyring to sign with (default: $GNUPGHOME, else ~/.gnupg)
#   --target-dir DIR   cargo target directory of the build (default: $CARGO_TARGET_DIR, else <repo>/target)
#
# Signing key: $GPG_FINGERPRINT selects it, as in GoReleaser's sign step (default: the keyring's
# default key); $GPG_PASSPHRASE unlocks it when it has a passphrase. The key must be RSA: Terraform
# 1.0 refuses ed25519 keys ("unsupported feature: public key type: 22").
#
# Other targets (darwin, windows, arm64, freebsd) need their Rust standard libraries; the release
# pipeline (GoReleaser) builds them.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
PROJECT="terraform-provider-efs"
OS="linux"
ARCH="amd64"
# GoReleaser's build target; zigbuild links against glibc 2.17 symbols, so the binary runs on
# every distribution since CentOS 7.
ZIG_TARGET="x86_64-unknown-linux-gnu.2.17"
MAX_GLIBC="2.17"

die() {
  printf 'package.sh: error: %s\n' "$*" >&2
  exit 1
}
log() { printf '==> %s\n' "$*"; }

binary=""
version=""
out="$REPO/dist"
target_dir="${CARGO_TARGET_DIR:-$REPO/target}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --version) version="${2:?--version needs a value}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --gnupghome) export GNUPGHOME="${2:?--gnupghome needs a directory}"; shift 2 ;;
    --target-dir) target_dir="${2:?--target-dir needs a directory}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

if [[ -z "$version" ]]; then
  # The [workspace.package] version: the first `version = "..."` line of the root Cargo.toml.
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n1)"
  [[ -n "$version" ]] || die "no version in $REPO/Cargo.toml; pass --version"
fi
version="${version#v}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] ||
  die "version '$version' is not semantic (MAJOR.MINOR.PATCH[-PRERELEASE])"

command -v gpg >/dev/null 2>&1 || die "gpg not found: run 'bash scripts/setup.sh' (installs gnupg)"

# --- the binary -------------------------------------------------------------------------------
if [[ -z "$binary" ]]; then
  bash "$SCRIPT_DIR/setup.sh" --release
  # shellcheck source=scripts/env.sh
  source "$SCRIPT_DIR/env.sh"
  log "building $PROJECT $version for $ZIG_TARGET (release profile, cargo-zigbuild)"
  cargo zigbuild --release --locked --package "$PROJECT" --target "$ZIG_TARGET" --target-dir "$target_dir"
  # cargo-zigbuild drops the glibc suffix from the output directory.
  binary="$target_dir/${ZIG_TARGET%%.*}/release/$PROJECT"
fi
[[ -f "$binary" ]] || die "binary $binary does not exist"
if command -v objdump >/dev/null 2>&1; then
  glibc="$(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1 || true)"
  log "binary: $binary ($(du -h "$binary" | cut -f1), needs glibc ${glibc:-none})"
fi

# --- artifacts --------------------------------------------------------------------------------
mkdir -p "$out"
zip_name="${PROJECT}_${version}_${OS}_${ARCH}.zip"
manifest_name="${PROJECT}_${version}_manifest.json"
sums_name="${PROJECT}_${version}_SHA256SUMS"
rm -f "$out/$zip_name" "$out/$manifest_name" "$out/$sums_name" "$out/$sums_name.sig"

log "archiving $zip_name"
# Registries expect the binary alone at the top of the zip, named as GoReleaser names it; the
# venv's Python (or the system's) writes it, so no zip tool is needed.
python="${EFS_VENV:-$REPO/.venv}/bin/python"
[[ -x "$python" ]] || python="python3"
"$python" - "$binary" "$out/$zip_name" "${PROJECT}_v${version}" <<'PY'
import os, sys, zipfile
source, target, name = sys.argv[1:]
info = zipfile.ZipInfo.from_file(source, arcname=name)
info.external_attr = (0o100755 << 16)  # a regular, executable file whatever the source's mode
info.create_system = 3  # Unix, so the mode is honoured on extraction
info.compress_type = zipfile.ZIP_DEFLATED
with open(source, "rb") as src, zipfile.ZipFile(target + ".tmp", "w") as z, z.open(info, "w", force_zip64=True) as dst:
    while block := src.read(1 << 20):
        dst.write(block)
os.replace(target + ".tmp", target)
PY

cp "$REPO/terraform-registry-manifest.json" "$out/$manifest_name"

log "writing $sums_name"
# GoReleaser's format: "<sha256>  <file name>", sorted by name.
(cd "$out" && sha256sum "$manifest_name" "$zip_name" | sort -k2 >"$sums_name")

log "signing $sums_name"
gpg_args=(--batch --yes)
[[ -n "${GPG_FINGERPRINT:-}" ]] && gpg_args+=(--local-user "$GPG_FINGERPRINT")
# Field 4 of the first "sec" line is the public key algorithm; 1 is RSA.
algo="$(gpg --batch --with-colons --list-secret-keys ${GPG_FINGERPRINT:+"$GPG_FINGERPRINT"} 2>/dev/null |
  awk -F: '$1 == "sec" { print $4; exit }')"
[[ -n "$algo" ]] || die "no secret key${GPG_FINGERPRINT:+ $GPG_FINGERPRINT} in ${GNUPGHOME:-~/.gnupg}"
[[ "$algo" == 1 ]] || die "the signing key is not RSA (algorithm $algo): Terraform 1.0 refuses it"
if [[ -n "${GPG_PASSPHRASE:-}" ]]; then
  gpg "${gpg_args[@]}" --pinentry-mode loopback --passphrase-fd 0 \
    --output "$out/$sums_name.sig" --detach-sign "$out/$sums_name" <<<"$GPG_PASSPHRASE"
else
  gpg "${gpg_args[@]}" --output "$out/$sums_name.sig" --detach-sign "$out/$sums_name"
fi
gpg --batch --verify "$out/$sums_name.sig" "$out/$sums_name" 2>/dev/null ||
  die "the signature of $sums_name does not verify"

log "release $version for ${OS}_${ARCH} in $out:"
(cd "$out" && ls -l "$zip_name" "$manifest_name" "$sums_name" "$sums_name.sig")
