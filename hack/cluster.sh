#!/usr/bin/env bash
# A local control plane on loopback: real etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler (built by hack/testenv.sh), with kwok faking the nodes and the kubelets.
#
#   hack/cluster.sh up | down | kubeconfig
#
# REWIND_CLUSTER_NAME (default rewind) and REWIND_CLUSTER_DIR (default .cluster) choose the cluster and
# where its kubeconfig goes; several clusters can run side by side under different names.
# REWIND_REAL_NODE=1 also joins a real node (hack/node.sh: containerd, kubelet, kube-proxy) named
# `<name>-real`, tainted and labelled `rewind.dev/real-node`; one per machine. `down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${REWIND_CLUSTER_NAME:-rewind}"
STATE="${REWIND_CLUSTER_DIR:-$PWD/.cluster}"
NODES="${REWIND_CLUSTER_NODES:-3}"
# kube-apiserver's default service range is a /24 (~250 Services, ~84 ModelDeployments at three
# Services each); a /16 holds tens of thousands, as `make bench-scale` needs.
SERVICE_CIDR="${REWIND_SERVICE_CIDR:-10.96.0.0/16}"
# The controller manager and the scheduler run once each, without leader election: under load (a
# benchmark's cold start, a busy CI machine) a lease renewal that times out would make them exit for good,
# and nothing restarts them (Deployments then stop getting ReplicaSets). Their client rate limits are
# raised from 20/s so that thousands of Deployments (make bench-scale) roll out at the API server's pace.
BIN="$(hack/testenv.sh --print)"
export PATH="$BIN:$PATH"
# kwokctl fetches any binary it is not given; give it every one so that it never downloads.
export KWOK_KUBECTL_BINARY="$BIN/kubectl"
KUBECONFIG_FILE="$STATE/kubeconfig"

# grep reads the whole list (no -q): quitting early would kill kwokctl with SIGPIPE, and under pipefail
# a cluster that is not last in the list would then look absent (and `down` would leave it running).
exists() { kwokctl get clusters 2>/dev/null | grep -x "$NAME" >/dev/null; }

case "${1:-}" in
  up)
    [[ -x "$BIN/kube-apiserver" ]] || hack/testenv.sh >/dev/null
    mkdir -p "$STATE"
    # kwok manages only the nodes it fakes (`kwokctl scale node` annotates them), never the real node of
    # hack/node.sh, whose pods' statuses it would overwrite. The API server's certificate also names the
    # `kubernetes` Service's IP (the first of the range), which is how real pods reach it.
    first_ip="$(python3 -c 'import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1]).hosts()))' "$SERVICE_CIDR")"
    cat > "$STATE/kwokctl.yaml" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  kubeApiserverCertSANs: ["$first_ip"]
componentsPatches:
  - name: kwok-controller
    extraArgs:
      - {key: manage-all-nodes, value: "false", override: true}
      - {key: manage-nodes-with-annotation-selector, value: kwok.x-k8s.io/node=fake}
  - name: kube-controller-manager
    extraArgs:
      - {key: leader-elect, value: "false"}
      - {key: kube-api-qps, value: "200"}
      - {key: kube-api-burst, value: "400"}
  - name: kube-scheduler
    extraArgs:
      - {key: leader-elect, value: "false"}
      - {key: kube-api-qps, value: "200"}
      - {key: kube-api-burst, value: "400"}
EOF
    if exists; then
      kwokctl start cluster --name "$NAME" >&2 || true
    else
      kwokctl create cluster --name "$NAME" --runtime binary \
        --kube-apiserver-binary "$BIN/kube-apiserver" \
        --kube-controller-manager-binary "$BIN/kube-controller-manager" \
        --kube-scheduler-binary "$BIN/kube-scheduler" \
        --kwok-controller-binary "$BIN/kwok" \
        --etcd-binary "$BIN/etcd" \
        --kube-authorization --kube-admission \
        --config "$STATE/kwokctl.yaml" \
        --extra-args "kube-apiserver=service-cluster-ip-range=$SERVICE_CIDR" \
        --extra-args "kube-apiserver=kubelet-preferred-address-types=InternalIP,Hostname" \
        --extra-args "kube-apiserver=kubelet-client-certificate=$HOME/.kwok/clusters/$NAME/pki/admin.crt" \
        --extra-args "kube-apiserver=kubelet-client-key=$HOME/.kwok/clusters/$NAME/pki/admin.key" \
        --kubeconfig "$KUBECONFIG_FILE" --wait 120s >&2
      kwokctl scale node --name "$NAME" --replicas "$NODES" >&2
    fi
    kwokctl get kubeconfig --name "$NAME" > "$KUBECONFIG_FILE"
    if [[ -n "${REWIND_REAL_NODE:-}" && ! -d "$STATE/node" ]]; then
      hack/node.sh up "$KUBECONFIG_FILE" "$STATE" "$NAME-real"
    fi
    echo "$KUBECONFIG_FILE"
    ;;
  down)
    hack/node.sh down "$STATE"
    if exists; then kwokctl delete cluster --name "$NAME" >&2; fi
    rm -f "$KUBECONFIG_FILE"
    ;;
  kubeconfig)
    echo "$KUBECONFIG_FILE"
    ;;
  *)
    echo "usage: hack/cluster.sh up|down|kubeconfig" >&2
    exit 2
    ;;
esac
