# Shared by scripts/demo and scripts/test (sourced, from the checkout's
# root): becoming root, installing Debian packages, and a Go that can build
# this module. Each step is skipped when already done, so the scripts run
# the same on a fresh Debian or Ubuntu machine and on a developer's.

# need_root re-runs the calling script as root: the lab builds network
# namespaces and the scripts install packages. Through sudo when there is
# one (a sudo user on Ubuntu); a fresh Debian has no sudo, so there the
# scripts are run as root directly.
need_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  local script; script="$(pwd)/scripts/$(basename "$0")"
  if command -v sudo >/dev/null; then
    echo "== $(basename "$0") needs root (it installs packages and builds network namespaces): running it through sudo" >&2
    exec sudo -- "$script" "$@"
  fi
  echo "$(basename "$0") needs root (it installs packages and builds network namespaces) and there is no sudo; run it as root, e.g.: su -c $script" >&2
  exit 1
}

# install_packages installs the Debian packages given that are missing.
install_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# lab_packages lists what the lab needs (.ci/lab-packages, one a line).
lab_packages() {
  grep -v '^#' .ci/lab-packages | sed '/^$/d'
}

go_version() { go env GOVERSION 2>/dev/null | sed 's/^go//'; }
# version_at_least A B: A >= B.
version_at_least() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }

# need_go makes `go` the Go that go.mod asks for: the one installed when
# recent enough, otherwise Debian's golang-go, which fetches the right
# toolchain through the Go module proxy.
need_go() {
  local need have mod dir
  need=$(sed -n 's/^go //p' go.mod)
  export PATH=$PATH:/usr/local/go/bin
  if command -v go >/dev/null && version_at_least "$(go_version)" "$need"; then
    return 0
  fi
  command -v go >/dev/null || install_packages golang-go ca-certificates
  have=$(go_version)
  if version_at_least "$have" 1.21; then
    # Debian's Go sets GOTOOLCHAIN=local in its go.env: ask for the switch.
    echo "== Go $have is older than $need: go fetches go$need through the module proxy"
    export GOTOOLCHAIN=go$need
    return 0
  fi
  # Go before 1.21 (Debian 12 ships 1.19) cannot switch toolchains: fetch
  # the toolchain module as later Go does, and restore the executable bits
  # that module zips do not keep.
  echo "== Go $have is older than $need and cannot switch: fetching go$need through the module proxy"
  mod=golang.org/toolchain@v0.0.1-go$need.linux-$(go env GOARCH)
  dir=$(cd / && GO111MODULE=on GOFLAGS= go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "fetching $mod failed" >&2; exit 1; }
  chmod -R a+x "$dir/bin" "$dir/pkg/tool"
  export PATH=$dir/bin:$PATH GOTOOLCHAIN=local
}

# validate_examples HACTL: hactl validate on every example. The examples
# name key files the operator makes (and git never holds), and validate
# reads them: each example is checked in a copy beside the tests' fixed
# stand-in keys.
validate_examples() {
  local hactl=$1 dir tmp
  for dir in examples/*/; do
    tmp=$(mktemp -d /tmp/hactl-example.XXXXXX)
    cp -r "$dir". cmd/hactl/testdata/example-secrets/. "$tmp"
    printf '\n== hactl validate -f %s (with stand-in keys)\n' "$dir"
    "$hactl" validate -f "$tmp" || { rm -rf "$tmp"; return 1; }
    rm -rf "$tmp"
  done
}
