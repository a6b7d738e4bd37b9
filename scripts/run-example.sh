#!/usr/bin/env bash
# The main job: sets up this machine, builds the provider, starts moto (an AWS API emulator) on
# 127.0.0.1, creates a small stand-in cluster there (VPC, one subnet per AZ, a node security group,
# a master and two workers), applies the example module examples/prometheus-on-ec2 with the real
# CLI, prints the readiness checks and what you would copy into the cluster, shows that a
# second plan is empty, and destroys everything. The CLI is OpenTofu (built from its Go module by
# scripts/setup.sh) unless Terraform 1.0.3 is asked for.
#
#   bash scripts/run-example.sh                    # run with tofu and clean up
#   bash scripts/run-example.sh --cli terraform    # the same with Terraform 1.0.3 (also: EFS_TF_CLI=terraform)
#   bash scripts/run-example.sh --keep             # leave moto running with the applied state (prints how to stop it)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
KEEP=false
CLI="${EFS_TF_CLI:-tofu}"
while [[ $# -gt 0 ]]; do
  case "$1" in
  --keep) KEEP=true ;;
  --cli)
    CLI="${2:-}"
    shift
    ;;
  *)
    echo "run-example.sh: unknown argument '$1' (use --keep, --cli tofu|terraform)" >&2
    exit 2
    ;;
  esac
  shift
done
case "$CLI" in
tofu | terraform) ;;
*)
  echo "run-example.sh: --cli takes tofu or terraform, not '$CLI'" >&2
  exit 2
  ;;
esac
start=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - start))" "$*"; }

step "setting up (OpenTofu in the tool cache; Terraform 1.0.3 and moto in .venv)"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
if [[ "$CLI" == tofu ]]; then
  CLI_BIN="$TOFU_BIN"
  REGISTRY_HOST="registry.opentofu.org"
else
  CLI_BIN="$TERRAFORM_BIN"
  REGISTRY_HOST="registry.terraform.io"
fi

step "building the provider"
# Built as the test command builds it: `cargo build` alone leaves out the dev-dependencies, whose
# features change the AWS SDK crates' build, so the test command would compile the SDK a second time.
cargo test --workspace --locked --no-run
PROVIDER_DIR="$REPO/target/debug"

WORK="$REPO/.work/example"
rm -rf "$WORK"
mkdir -p "$WORK"
PORT="$("$EFS_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ENDPOINT="http://127.0.0.1:$PORT"

step "starting moto on $ENDPOINT"
"$EFS_VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
stop_moto() { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; }
if ! $KEEP; then trap stop_moto EXIT; fi
for _ in $(seq 1 100); do
  curl -fsS "$ENDPOINT/moto-api/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$ENDPOINT/moto-api/" >/dev/null || { echo "moto did not start; see $WORK/moto.log" >&2; exit 1; }

step "creating the stand-in cluster (VPC, 3 subnets in 3 AZs, node security group, master + 2 workers)"
"$EFS_VENV/bin/python" scripts/standin_cluster.py create --endpoint "$ENDPOINT" >"$WORK/cluster.json"
cat "$WORK/cluster.json"

cat >"$WORK/cli.tfrc" <<CFG
provider_installation {
  dev_overrides {
    "$REGISTRY_HOST/seedlabs/efs" = "$PROVIDER_DIR"
  }
  direct {}
}
CFG
"$EFS_VENV/bin/python" - "$WORK" "$ENDPOINT" "$REPO" <<'PY'
import json, sys
work, endpoint, repo = sys.argv[1:]
cluster = json.load(open(f"{work}/cluster.json"))
hcl = lambda items: json.dumps(items)
open(f"{work}/main.tf", "w").write(f'''
terraform {{
  required_providers {{
    efs = {{ source = "seedlabs/efs" }}
  }}
}}

# Against real AWS, drop the endpoints block and the static keys: the module is the same.
provider "efs" {{
  region     = "us-east-1"
  access_key = "AKIAEXAMPLEFAKE00000"
  secret_key = "example-fake-secret"
  endpoints {{
    ec2 = "{endpoint}"
    efs = "{endpoint}"
    iam = "{endpoint}"
    sts = "{endpoint}"
  }}
}}

module "prometheus_storage" {{
  source = "{repo}/examples/prometheus-on-ec2"

  name                   = "demo-prometheus"
  instance_ids           = {hcl(cluster["instance_ids"])}
  subnet_ids             = {hcl(cluster["subnet_ids"])}
  node_security_group_id = "{cluster["node_security_group_id"]}"
}}

output "summary" {{ value = module.prometheus_storage.summary }}
output "readiness" {{ value = module.prometheus_storage.readiness }}
output "storage_class_manifest" {{ value = module.prometheus_storage.storage_class_manifest }}
output "persistent_volume_manifest" {{ value = module.prometheus_storage.persistent_volume_manifest }}
output "persistent_volume_claim_manifest" {{ value = module.prometheus_storage.persistent_volume_claim_manifest }}
output "prometheus_helm_values" {{ value = module.prometheus_storage.prometheus_helm_values }}
output "csi_driver_helm_values" {{ value = module.prometheus_storage.csi_driver_helm_values }}
''')
PY

export TF_CLI_CONFIG_FILE="$WORK/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
export AWS_EC2_METADATA_DISABLED=true
tf() { "$CLI_BIN" -chdir="$WORK" "$@"; }

step "$CLI get (installs the module; the provider comes from dev_overrides, no init needed)"
tf get -no-color >/dev/null

step "$CLI apply ($("$CLI_BIN" version | head -n1))"
tf apply -auto-approve -input=false -no-color | grep -E "^(module|Apply|Plan)" || true

SUMMARY="$(tf output -raw summary 2>/dev/null || true)"
READINESS="$(tf output -raw readiness 2>/dev/null || true)"

step "readiness checks (data source efs_cluster_readiness: read-only, after both resources)"
echo "$READINESS"

step "what to copy into the cluster"
for name in storage_class_manifest persistent_volume_manifest persistent_volume_claim_manifest prometheus_helm_values csi_driver_helm_values; do
  printf -- '--- %s ---\n' "$name"
  tf output -raw "$name"
  echo
done

step "second plan (must be empty)"
set +e
tf plan -detailed-exitcode -input=false -no-color >"$WORK/plan2.txt"
code=$?
set -e
if [[ $code -eq 0 ]]; then
  echo "no changes: the applied state matches AWS"
else
  cat "$WORK/plan2.txt"
  echo "second plan was not empty (exit $code)" >&2
  exit 1
fi

if $KEEP; then
  step "kept: moto pid $MOTO_PID on $ENDPOINT, state in $WORK (stop with: kill $MOTO_PID)"
else
  step "$CLI destroy"
  tf destroy -auto-approve -input=false -no-color | tail -1
  "$EFS_VENV/bin/python" scripts/standin_cluster.py delete --endpoint "$ENDPOINT" --state "$WORK/cluster.json"
fi

step "summary"
echo "$SUMMARY"
echo "$READINESS" | head -1
echo "done in $((SECONDS - start))s"
