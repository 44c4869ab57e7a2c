#!/usr/bin/env bash
# A real node beside kwok's fake ones: containerd + runc, a kubelet and kube-proxy (built by
# hack/testenv.sh from the same Kubernetes module as the control plane), the CNI bridge plugin.
#
#   hack/node.sh up   KUBECONFIG STATE_DIR NODE_NAME     join the cluster as NODE_NAME
#   hack/node.sh down STATE_DIR                          stop and remove all of it
#   hack/node.sh import STATE_DIR IMAGE.tar...           load images into the node's containerd
#
# Everything lives under STATE_DIR/node (containerd root, state and socket, the kubelet's root dir, CNI
# config and IPAM data, logs); `down` stops the processes, stops every pod sandbox through the CRI (so
# the CNI plugin tears down its veths and iptables rules), unmounts whatever is mounted under the state
# directory, deletes the bridge and kube-proxy's chains, and removes the directory.
#
# Only one real node can run on a machine at a time (kube-proxy's iptables chains and the bridge are
# host-wide); a lock file says who has it. The node is tainted and labelled `rewind.dev/real-node`: pods
# land on it only when they ask (nodeSelector + toleration), so the fast tiers stay on kwok.
#
# Facts of this machine kind (see TESTING.md "A real node"): no CAP_SYS_RESOURCE, so containerd must not
# lower oom_score_adj (`restrict_oom_score_adj`); cgroup v1, so the kubelet needs `failCgroupV1: false`
# and the cgroupfs driver; crun refuses hybrid cgroups, so runc.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(hack/testenv.sh --print)"
LOCK=/run/rewind-real-node.lock
BRIDGE=rewind0
POD_CIDR="${REWIND_NODE_POD_CIDR:-10.244.0.0/24}"
POD_GW="${POD_CIDR%.*}.1"
SANDBOX_IMAGE=registry.k8s.io/pause:3.10  # built here by hack/images.py pause, never pulled
export PATH="$BIN:$PATH"

log() { echo "node: $*" >&2; }
die() { echo "node: $*" >&2; exit 1; }

crictl_() { crictl --runtime-endpoint "unix://$NODE/containerd.sock" --timeout 20s "$@"; }
ctr_() { ctr --address "$NODE/containerd.sock" --namespace k8s.io "$@"; }

node_ip() {  # the machine's address: where the API server listens for pods, and the node's InternalIP
  ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1
}

write_configs() {
  local kubeconfig="$1" name="$2" ca
  mkdir -p "$NODE"/{containerd/root,containerd/state,cni/net.d,cni/ipam,kubelet,logs}
  cp "$kubeconfig" "$NODE/kubeconfig"
  # The cluster CA, for the kubelet to verify client certificates (the API server's, for logs/exec).
  ca="$(sed -n 's/^ *certificate-authority-data: //p' "$kubeconfig" | head -1)"
  if [[ -n "$ca" ]]; then echo "$ca" | base64 -d > "$NODE/ca.crt"; else
    cp "$(sed -n 's/^ *certificate-authority: //p' "$kubeconfig" | head -1)" "$NODE/ca.crt"
  fi

  cat > "$NODE/containerd.toml" <<EOF
version = 2
root = "$NODE/containerd/root"
state = "$NODE/containerd/state"
[grpc]
  address = "$NODE/containerd.sock"
[ttrpc]
  address = "$NODE/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE/cni/net.d"
EOF

  cat > "$NODE/cni/net.d/10-rewind.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "rewind-node",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$NODE/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF

  cat > "$NODE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$NODE/containerd.sock
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
evictionHard: {}
failSwapOn: false
port: 10350
healthzPort: 10358
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
serializeImagePulls: false
staticPodPath: ""
resolvConf: /etc/resolv.conf
registerWithTaints:
  - {key: rewind.dev/real-node, value: "true", effect: NoSchedule}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $NODE/ca.crt}
authorization: {mode: AlwaysAllow}
EOF

  cat > "$NODE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $NODE/kubeconfig}
hostnameOverride: $name
mode: iptables
clusterCIDR: $POD_CIDR
metricsBindAddress: 127.0.0.1:10349
healthzBindAddress: 127.0.0.1:10356
conntrack: {maxPerCore: 0, min: 0}
EOF
}

start() {  # name command... : a background process with its log and pid file
  local name="$1"; shift
  setsid "$@" >"$NODE/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$NODE/$name.pid"
}

wait_until() {  # what seconds command...
  local what="$1" deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then log "timed out waiting for $what; logs in $NODE/logs"; return 1; fi
    sleep 0.5
  done
}

up() {
  local kubeconfig="$1" name="$2" ip
  for b in kubelet kube-proxy crictl; do [[ -x "$BIN/$b" ]] || die "no $b in $BIN: run hack/testenv.sh"; done
  for b in containerd runc ctr iptables conntrack; do command -v "$b" >/dev/null || die "no $b: run hack/testenv.sh"; done
  if [[ -e "$LOCK" ]] && [[ "$(cat "$LOCK")" != "$NODE" ]] && [[ -d "$(cat "$LOCK")" ]]; then
    die "a real node already runs on this machine (state $(cat "$LOCK")); stop it with hack/node.sh down $(dirname "$(cat "$LOCK")")"
  fi
  echo "$NODE" > "$LOCK"
  ip="$(node_ip)"; [[ -n "$ip" ]] || die "could not tell this machine's address"
  sysctl -qw net.ipv4.ip_forward=1
  modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  write_configs "$kubeconfig" "$name"

  start containerd containerd --config "$NODE/containerd.toml"
  wait_until containerd 30 ctr_ version
  hack/node.sh import "$(dirname "$NODE")" "$(python3 hack/images.py pause --tag "$SANDBOX_IMAGE")"

  start kubelet kubelet --config "$NODE/kubelet.yaml" --kubeconfig "$NODE/kubeconfig" \
    --root-dir "$NODE/kubelet" --hostname-override "$name" --node-ip "$ip" \
    --node-labels "rewind.dev/real-node=true"
  start kube-proxy kube-proxy --config "$NODE/kube-proxy.yaml"
  wait_until "node $name Ready" 120 bash -c \
    "kubectl --kubeconfig '$kubeconfig' get node '$name' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  log "real node $name Ready ($ip); state in $NODE"
}

stop_pid() {
  local file="$NODE/$1.pid" pid
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

down() {
  [[ -d "$NODE" ]] || { [[ "$(cat "$LOCK" 2>/dev/null)" == "$NODE" ]] && rm -f "$LOCK"; return 0; }
  stop_pid kubelet
  stop_pid kube-proxy
  if [[ -S "$NODE/containerd.sock" ]] && ctr_ version >/dev/null 2>&1; then
    # Through the CRI, so that the CNI plugin removes each pod's veth, IP and iptables rules.
    local pods; pods="$(crictl_ pods -q 2>/dev/null || true)"
    for p in $pods; do crictl_ stopp "$p" >/dev/null 2>&1 || true; crictl_ rmp -f "$p" >/dev/null 2>&1 || true; done
    for t in $(ctr_ tasks ls -q 2>/dev/null || true); do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  fi
  stop_pid containerd
  # containerd shims outlive containerd; they are ours when their command line names our state dir.
  pkill -KILL -f "containerd-shim.*$NODE" 2>/dev/null || true
  local m
  for m in $(awk -v d="$NODE" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE" || true; fi
  kube-proxy --cleanup >/dev/null 2>&1 || true
  # CNI masquerade chains left by a pod the CRI could not stop: they carry our network's name.
  { iptables -t nat -S POSTROUTING 2>/dev/null | grep -- '"rewind-node"' || true; } | sed 's/^-A/-D/' | while read -r rule; do
    chain="$(echo "$rule" | sed -n 's/.* -j \(CNI-[0-9a-f]*\).*/\1/p')"
    eval "iptables -t nat $rule" 2>/dev/null || true
    [[ -n "$chain" ]] && { iptables -t nat -F "$chain" 2>/dev/null; iptables -t nat -X "$chain" 2>/dev/null; } || true
  done
  # The kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT), which no
  # cleanup flag removes: one real node per machine, so every KUBE-* chain left is ours.
  local cmd table chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle; do
      { "$cmd" -t "$table" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' || true; } \
        | sed 's/^-A/-D/' | while read -r rule; do eval "$cmd -t $table $rule" 2>/dev/null || true; done
      for chain in $({ "$cmd" -t "$table" -S 2>/dev/null | grep -E '^-N KUBE-' || true; } | cut -d' ' -f2); do
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $({ "$cmd" -t "$table" -S 2>/dev/null | grep -E '^-N KUBE-' || true; } | cut -d' ' -f2); do
        "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  rm -rf "$NODE"
  [[ "$(cat "$LOCK" 2>/dev/null)" == "$NODE" ]] && rm -f "$LOCK"
  log "real node removed"
}

import() {
  local tar
  for tar in "$@"; do
    ctr_ images import "$tar" >/dev/null || die "could not import $tar"
  done
}

case "${1:-}" in
  up) [[ $# -eq 4 ]] || die "usage: hack/node.sh up KUBECONFIG STATE_DIR NODE_NAME"
      NODE="$(realpath -m "$3")/node"; up "$2" "$4" ;;
  down) [[ $# -eq 2 ]] || die "usage: hack/node.sh down STATE_DIR"
      NODE="$(realpath -m "$2")/node"; down ;;
  import) [[ $# -ge 3 ]] || die "usage: hack/node.sh import STATE_DIR IMAGE.tar..."
      NODE="$(realpath -m "$2")/node"; shift 2; import "$@" ;;
  *) die "usage: hack/node.sh up|down|import ..." ;;
esac
