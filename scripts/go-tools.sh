#!/usr/bin/env bash
# Builds the Go tools the tests use from their Go modules (through the Go module proxy), once per
# version, into the per-user tool cache named in scripts/tool-versions.sh; a tool already there is
# only checked. Prints what it builds: a cold build takes minutes.
#
#   bash scripts/go-tools.sh            # every tool
#   bash scripts/go-tools.sh tofu       # just the named ones
#   bash scripts/go-tools.sh --path tofu   # print where a tool lives (built or not), build nothing
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/tool-versions.sh
source "$SCRIPT_DIR/tool-versions.sh"
TOOLS_CACHE="${EFS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-efs/tools}"
# The Go release the pinned modules need at least (OpenTofu 1.12's go.mod says go 1.26.6).
GO_MIN="1.26"

log() { printf '==> %s\n' "$*"; }
die() {
  printf 'go-tools.sh: error: %s\n' "$*" >&2
  exit 1
}

# Windows executables need their suffix (`go install` writes NAME.exe there).
EXE=""
case "$(uname -s)" in MINGW* | MSYS* | CYGWIN*) EXE=".exe" ;; esac

tool_path() { # NAME VERSION
  printf '%s/%s-%s/%s%s\n' "$TOOLS_CACHE" "$1" "$2" "$1" "$EXE"
}

need_go() {
  command -v go >/dev/null 2>&1 ||
    die "go not found: install Go $GO_MIN or newer (https://go.dev/dl/, or your distribution's golang package), then re-run"
  local have
  have="$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null | sed 's/^go//')"
  # sort -V puts the smaller version first: ours must not be smaller than GO_MIN.
  [[ "$(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -n1)" == "$GO_MIN" ]] ||
    die "Go $have is too old: the pinned tools need Go $GO_MIN or newer (https://go.dev/dl/)"
}

# A module whose go.mod has no replace directives: `go install pkg@version` builds it.
install_module() { # NAME VERSION PACKAGE@VERSION
  local name="$1" version="$2" package="$3" bin dir
  bin="$(tool_path "$name" "$version")"
  [[ -x "$bin" ]] && { log "$name $version ok ($bin)"; return; }
  need_go
  dir="$(dirname "$bin")"
  log "building $name $version from its Go module ($package); a cold build takes minutes"
  local started=$SECONDS
  mkdir -p "$dir"
  GOTOOLCHAIN=local GOBIN="$dir/.bin.partial" go install "$package"
  # go install names the binary after the package's last path element (a /vN suffix skipped):
  # NAME for every tool here.
  mv "$dir/.bin.partial/$name$EXE" "$bin.partial"
  rm -rf "$dir/.bin.partial"
  mv "$bin.partial" "$bin"
  log "$name $version built in $((SECONDS - started)) s: $bin"
}

# OpenTofu's go.mod replaces hcl/v2 with opentofu/hcl, and `go install pkg@version` refuses a
# module with replace directives: download the module, build it from a writable copy.
install_opentofu() {
  local version="$OPENTOFU_VERSION" bin dir src
  bin="$(tool_path tofu "$version")"
  [[ -x "$bin" ]] && { log "tofu $version ok ($bin)"; return; }
  need_go
  dir="$(dirname "$bin")"
  log "building OpenTofu $version from its Go module (github.com/opentofu/opentofu@v$version); a cold build takes minutes"
  local started=$SECONDS
  mkdir -p "$dir"
  local module
  module="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "github.com/opentofu/opentofu@v$version")" ||
    die "go mod download github.com/opentofu/opentofu@v$version failed: $module"
  src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$module")"
  [[ -d "$src" ]] || die "go mod download gave no module directory: $module"
  rm -rf "$dir/src"
  cp -r "$src" "$dir/src"
  chmod -R u+w "$dir/src"
  # version.dev=no as OpenTofu's own release build sets it: `tofu version` then says v$version, not -dev.
  (cd "$dir/src" && GOTOOLCHAIN=local go build -trimpath \
    -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$bin.partial" ./cmd/tofu)
  rm -rf "$dir/src"
  mv "$bin.partial" "$bin"
  log "tofu $version built in $((SECONDS - started)) s: $bin"
}

ALL=(tofu helm goreleaser tfplugindocs actionlint)
version_of() {
  case "$1" in
  tofu) echo "$OPENTOFU_VERSION" ;;
  helm) echo "$HELM_VERSION" ;;
  goreleaser) echo "$GORELEASER_VERSION" ;;
  tfplugindocs) echo "$TFPLUGINDOCS_VERSION" ;;
  actionlint) echo "$ACTIONLINT_VERSION" ;;
  *) die "unknown tool '$1' (known: ${ALL[*]})" ;;
  esac
}

if [[ "${1:-}" == "--path" ]]; then
  tool_path "${2:-}" "$(version_of "${2:-}")"
  exit 0
fi

wanted=("$@")
[[ ${#wanted[@]} -eq 0 ]] && wanted=("${ALL[@]}")
for tool in "${wanted[@]}"; do
  case "$tool" in
  tofu) install_opentofu ;;
  helm) install_module helm "$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" ;;
  goreleaser) install_module goreleaser "$GORELEASER_VERSION" "github.com/goreleaser/goreleaser/v2@v$GORELEASER_VERSION" ;;
  tfplugindocs)
    install_module tfplugindocs "$TFPLUGINDOCS_VERSION" \
      "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs@v$TFPLUGINDOCS_VERSION"
    ;;
  actionlint)
    install_module actionlint "$ACTIONLINT_VERSION" "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
    ;;
  *) die "unknown tool '$tool' (known: ${ALL[*]})" ;;
  esac
done
