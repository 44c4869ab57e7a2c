#!/usr/bin/env bash
# `make kind-e2e`: Rewind on a kind cluster where pods really run (needs Docker, kind, and `make testenv`
# for kubectl, helm and the e2e suite's local Prometheus).
#
#  1. create the cluster from kind-config.yaml (a fresh one; deleted at the end unless REWIND_KIND_KEEP=1)
#  2. build the operator image (operator/Dockerfile) and load it into the nodes, with a runtime image
#  3. install Prometheus (hack/kind/prometheus.yaml) and the chart, exactly as README.md's Install says
#  4. the example with real MLServer pods: train, serve 1.1.0, roll out the bad 2.0.0, see it rolled back
#  5. stop the chart's operator and run the same e2e suite against the cluster (REWIND_E2E_KUBECONFIG)
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="${REWIND_KIND_NAME:-rewind-e2e}"
STATE="${REWIND_KIND_DIR:-$PWD/.kind}"
KUBECONFIG="$STATE/kubeconfig"
EXAMPLE_NS=fraud
SYSTEM_NS=rewind-system
IMAGE=rewind:dev
RUNTIME_IMAGE=rewind-runtime:dev  # the operator image with no entrypoint: a non-root Python for e2e pods
export KUBECONFIG

log() { printf '\nkind-e2e: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "kind-e2e: $1 is required ($2)" >&2; exit 2; }; }
need docker "https://docs.docker.com/engine/install/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
BIN="$(hack/testenv.sh --print)"
export PATH="$BIN:$PATH"  # kubectl and helm built by `make testenv`, else the ones on PATH
need kubectl "make testenv"
need helm "make testenv"
docker info >/dev/null 2>&1 || { echo "kind-e2e: the Docker daemon is not reachable" >&2; exit 2; }

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    log "failed; state of the example:"
    kubectl -n "$EXAMPLE_NS" get md,mv,deploy,pods -o wide >&2 || true
    kubectl -n "$SYSTEM_NS" logs deploy/rewind --tail=80 >&2 || true
  fi
  if [[ -z "${REWIND_KIND_KEEP:-}" ]]; then
    kind delete cluster --name "$NAME" >&2 || true
  else
    log "kept: KUBECONFIG=$KUBECONFIG (kind delete cluster --name $NAME)"
  fi
  exit "$rc"
}

wait_md() {  # jsonpath-free: one Python expression over the ModelDeployment, with a deadline
  local what="$1" expr="$2" deadline=$((SECONDS + ${3:-600}))
  until kubectl -n "$EXAMPLE_NS" get md fraud-detector -o json \
      | python3 -c "import json,sys; o=json.load(sys.stdin); s=o.get('status') or {}; sys.exit(0 if ($expr) else 1)"; do
    if ((SECONDS > deadline)); then echo "kind-e2e: timed out waiting for $what" >&2; return 1; fi
    sleep 5
  done
  log "$what"
}

# 1. cluster --------------------------------------------------------------------------------------------
mkdir -p "$STATE"
if kind get clusters 2>/dev/null | grep -x "$NAME" >/dev/null; then
  echo "kind-e2e: a kind cluster $NAME exists already; delete it or set REWIND_KIND_NAME" >&2
  exit 2
fi
log "creating kind cluster $NAME"
trap cleanup EXIT
kind create cluster --name "$NAME" --config kind-config.yaml --kubeconfig "$KUBECONFIG" --wait 180s

# 2. images ---------------------------------------------------------------------------------------------
log "building $IMAGE"
docker build -f operator/Dockerfile -t "$IMAGE" .
printf 'FROM %s\nENTRYPOINT []\n' "$IMAGE" | docker build -t "$RUNTIME_IMAGE" -
kind load docker-image "$IMAGE" "$RUNTIME_IMAGE" --name "$NAME"

# 3. Prometheus and the chart ----------------------------------------------------------------------------
log "installing Prometheus and the chart"
kubectl apply -f hack/kind/prometheus.yaml
kubectl -n monitoring rollout status deploy/prometheus --timeout=300s
helm install rewind charts/rewind --namespace "$SYSTEM_NS" --create-namespace \
  --set image.repository=rewind --set image.tag=dev --set image.pullPolicy=Never \
  --wait --timeout 300s
kubectl wait --for=condition=Established crd/modelversions.rewind.dev crd/modeldeployments.rewind.dev --timeout=60s
holder=""
for _ in $(seq 60); do
  holder="$(kubectl -n "$SYSTEM_NS" get lease rewind -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)"
  [[ -n "$holder" ]] && break
  sleep 2
done
[[ -n "$holder" ]] || { echo "kind-e2e: no replica took the leader Lease" >&2; exit 1; }
log "leader: $holder"

# 4. the example with real MLServer pods ------------------------------------------------------------------
log "training the example's models in the cluster (pulls MLServer 1.7.1 once: about 1.5 GB)"
kubectl create namespace "$EXAMPLE_NS"
kubectl -n "$EXAMPLE_NS" create configmap train --from-file=train.py=hack/demo/train.py
kubectl -n "$EXAMPLE_NS" apply -f hack/kind/model-store.yaml
kubectl -n "$EXAMPLE_NS" rollout status deploy/model-store --timeout=900s
kubectl -n "$EXAMPLE_NS" exec deploy/model-store -c serve -- cat /srv/trained.json > "$STATE/trained.json"
.venv/bin/python hack/kind/example.py "$STATE/trained.json" "$EXAMPLE_NS" > "$STATE/example.yaml"
kubectl apply -f "$STATE/example.yaml"
kubectl -n "$EXAMPLE_NS" apply -f hack/kind/traffic.yaml

wait_md "1.1.0 healthy" "s.get('phase') == 'Healthy' and s.get('lastHealthyVersion') == '1.1.0'" 900
log "rolling out the bad 2.0.0"
kubectl -n "$EXAMPLE_NS" patch md fraud-detector --type merge -p '{"spec":{"version":"2.0.0"}}'
wait_md "2.0.0 rolled back" "s.get('phase') == 'RolledBack' and o['spec']['version'] == '1.1.0'" 600
failed="$(kubectl -n "$EXAMPLE_NS" get mv fraud-detector-2.0.0 -o jsonpath='{.status.phase}')"
[[ "$failed" == Failed ]] || { echo "kind-e2e: 2.0.0 is $failed, not Failed" >&2; exit 1; }
kubectl -n "$EXAMPLE_NS" get md,mv
kubectl -n "$EXAMPLE_NS" delete deploy/traffic --wait=false

# 5. the e2e suite ----------------------------------------------------------------------------------------
# The suite runs its own operator (a local process, like on the kwok control plane); the chart's must
# not act on the same objects meanwhile. Serving pods really start here, so the suite's ModelVersions
# point at a file the fetcher image holds and a runtime that listens on 8080.
log "stopping the chart's operator; running the e2e suite against $NAME"
kubectl -n "$SYSTEM_NS" scale deploy/rewind --replicas=0
kubectl -n "$SYSTEM_NS" wait --for=delete pod -l app.kubernetes.io/name=rewind --timeout=120s || true
pkg="$(docker run --rm --entrypoint python "$IMAGE" -c 'import os, rewind; print(os.path.dirname(rewind.__file__))')"
export REWIND_E2E_KUBECONFIG="$KUBECONFIG"
export REWIND_E2E_FETCHER_IMAGE="$IMAGE"
export REWIND_E2E_RUNTIME_IMAGE="$RUNTIME_IMAGE"
export REWIND_E2E_RUNTIME_ARGS='["python", "-m", "http.server", "8080", "--directory", "/models"]'
export REWIND_E2E_ARTIFACT_URI="file://$pkg/py.typed"
export REWIND_E2E_ARTIFACT_DIGEST="sha256:$(sha256sum operator/rewind/py.typed | cut -d' ' -f1)"
make test-e2e
log "all green on kind"
