#!/usr/bin/env bash
# Build (once) the real control plane the e2e tier runs against, from the Go module proxy.
# Binaries are cached outside the repository, keyed by version; a warm run builds nothing.
#
#   hack/testenv.sh            build what is missing, print the bin directory
#   hack/testenv.sh --print    only print the bin directory
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.5}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v4.3.1}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.4.1}"
CACHE="${REWIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rewind}"
BIN="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"

GATEWAY_CRDS="$CACHE/gateway-api-$GATEWAY_API_VERSION"

if [[ "${1:-}" == "--print" ]]; then echo "$BIN"; exit 0; fi
if [[ "${1:-}" == "--gateway-crds" ]]; then echo "$GATEWAY_CRDS"; exit 0; fi

# The checksum database is not reachable from these machines (only the module proxy is), so module
# integrity rests on the proxy; these binaries are test tools, never shipped.
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local GOSUMDB="${GOSUMDB:-off}"
mkdir -p "$BIN"
log() { echo "testenv: $*" >&2; }

# A throwaway module per component: k8s.io/kubernetes points its staging modules at local folders,
# so we replace each one with its published v0.Y.Z twin, read off the downloaded go.mod.
build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy) missing=() c
  for c in "${want[@]}"; do [[ -x "$BIN/$c" ]] || missing+=("$c"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "building ${missing[*]} $K8S_VERSION (cold: tens of minutes on two cores)"
  local mod; mod="$(mktemp -d)"
  (
    cd "$mod"
    go mod init rewind.dev/testenv-k8s >/dev/null 2>&1
    local gomod; gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    local staging="v0.${K8S_VERSION#v1.}"
    go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
    awk '$1 ~ /^k8s.io\// && $2 == "v0.0.0" {print $1}' "$gomod" | sort -u | while read -r m; do
      go mod edit -replace "$m=$m@$staging"
    done
    local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
    local ld="-s -w" p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    done
    local pkgs=() ; for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    go build -trimpath -ldflags "$ld" -o "$BIN/" "${pkgs[@]}"
  )
  rm -rf "$mod"
}

build_etcd() {
  [[ -x "$BIN/etcd" ]] && return 0
  log "building etcd $ETCD_VERSION"
  local mod; mod="$(mktemp -d)"
  ( cd "$mod" && go mod init rewind.dev/testenv-etcd >/dev/null 2>&1 \
    && go mod edit -require "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
    && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3 )
  rm -rf "$mod"
}

go_install() {  # name package version
  [[ -x "$BIN/$1" ]] && return 0
  log "building $1 $3"
  GOBIN="$BIN" GOFLAGS="-buildvcs=false" go install -trimpath -ldflags "-s -w" "$2@$3"
}

build_kubernetes
build_etcd
go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
go_install kwokctl sigs.k8s.io/kwok/cmd/kwokctl "$KWOK_VERSION"
go_install helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION"
go_install crictl sigs.k8s.io/cri-tools/cmd/crictl "$CRICTL_VERSION"

# The Gateway API CRDs ship inside their Go module; the proxy is where we can get them from.
gateway_crds() {
  [[ -f "$GATEWAY_CRDS/gateway.networking.k8s.io_httproutes.yaml" ]] && return 0
  log "fetching Gateway API CRDs $GATEWAY_API_VERSION"
  local mod dir; mod="$(mktemp -d)"
  dir="$(cd "$mod" && go mod init rewind.dev/testenv-gw >/dev/null 2>&1 \
    && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  rm -rf "$mod"
  mkdir -p "$GATEWAY_CRDS"
  cp "$dir"/config/crd/standard/*.yaml "$GATEWAY_CRDS/"
}
gateway_crds

# Debian packages: Prometheus (with promtool) for the e2e tier and PromQL checks, lua5.4 for the Argo CD
# health checks (deploy/argocd/health/*.lua) that the tests run, debootstrap for the base root filesystem
# of the images that hack/images.py builds without a registry.
debs=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || debs+=(prometheus)
command -v lua5.4 >/dev/null 2>&1 || debs+=(lua5.4)
# The real node (hack/node.sh): containerd and runc, the CNI plugins, iptables and conntrack for
# kube-proxy; debootstrap for the images built without a registry (hack/images.py).
command -v containerd >/dev/null 2>&1 || debs+=(containerd)
command -v runc >/dev/null 2>&1 || debs+=(runc)
[[ -x /usr/lib/cni/bridge ]] || debs+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || debs+=(iptables)
command -v conntrack >/dev/null 2>&1 || debs+=(conntrack)
command -v debootstrap >/dev/null 2>&1 || debs+=(debootstrap)
if [[ ${#debs[@]} -gt 0 ]]; then
  log "installing ${debs[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${debs[@]}" >&2
fi
echo "$BIN"
