#!/usr/bin/env bash
# netsched end to end on kind, for hosts with Docker (CI: .github/workflows/kind-e2e.yaml).
#
# A kind cluster of 1 control plane and 4 workers (kind >= v0.24: kindnet enforces
# NetworkPolicy). The workers are labelled as two leaves under one spine and get fake
# nvidia.com/gpu capacity. The netsched image is built and loaded, with the real nodes'
# test images; the chart is installed into a namespace that enforces the restricted pod
# security profile, and a TrainingJob is placed by the in-cluster operator. Then the
# in-cluster operator is scaled to zero and the e2e tests run against the cluster through
# NETSCHED_KUBECONFIG: the same scenarios as on the dev cluster (each starts its own
# `netsched run`), NetworkPolicy enforcement checked with real traffic between pods.
#
# It cannot run where netsched is developed (no Docker engine there); it is kept
# clean under `make lint` (shellcheck).
#
#   hack/kind-e2e.sh            # create, test, delete
#   KEEP=1 hack/kind-e2e.sh     # keep the cluster afterwards
set -euo pipefail

CLUSTER=${CLUSTER:-netsched-e2e}
KIND_MIN=0.24.0
NAMESPACE=netsched-system
IMAGE=localhost/netsched:local
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
export KUBECONFIG="$WORK/kubeconfig"

say() { printf '\n== %s\n' "$*"; }
need() { command -v "$1" >/dev/null || { echo "kind-e2e: $1 is not on PATH: $2" >&2; exit 1; }; }

cleanup() {
  if [[ -z "${KEEP:-}" ]]; then
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  else
    echo "kept cluster $CLUSTER (KUBECONFIG=$KUBECONFIG)"
  fi
}

need docker "install Docker (the kind path needs an engine)"
need kind "go install sigs.k8s.io/kind@v0.33.0"
need kubectl "install kubectl"
need helm "install helm v3"
version=$(kind version | sed -E 's/^kind v([0-9.]+).*/\1/')
if [[ "$(printf '%s\n%s\n' "$KIND_MIN" "$version" | sort -V | head -1)" != "$KIND_MIN" ]]; then
  echo "kind-e2e: kind $version is older than $KIND_MIN (kindnet enforces NetworkPolicy since)" >&2
  exit 1
fi

say "kind cluster $CLUSTER: 1 control plane, 4 workers"
cat >"$WORK/kind.yaml" <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
  - role: worker
  - role: worker
EOF
trap cleanup EXIT
kind create cluster --name "$CLUSTER" --config "$WORK/kind.yaml" --kubeconfig "$KUBECONFIG" --wait 180s

say "workers: two leaves under one spine, 8 fake GPUs each"
mapfile -t workers < <(kubectl get nodes -l '!node-role.kubernetes.io/control-plane' -o name | sort)
[[ ${#workers[@]} -eq 4 ]] || { echo "kind-e2e: expected 4 workers, got ${#workers[@]}" >&2; exit 1; }
for i in "${!workers[@]}"; do
  node=${workers[$i]#node/}
  kubectl label node "$node" --overwrite \
    netsched.io/core=core-0 netsched.io/spine=spine-real "netsched.io/leaf=leaf-real-$((i / 2))" \
    netsched.io/real-node=true nvidia.com/gpu.present=true
  kubectl taint node "$node" --overwrite netsched.io/real-node=true:NoSchedule
  kubectl patch node "$node" --subresource=status --type=merge \
    -p '{"status":{"capacity":{"nvidia.com/gpu":"8"},"allocatable":{"nvidia.com/gpu":"8"}}}'
done

say "images: netsched (Dockerfile) and the real-node test images"
docker build -t "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"
make -C "$ROOT" install
"$ROOT/.venv/bin/netsched" dev-cluster build --images | awk '$1 ~ /^localhost\// {print $2}' |
  while read -r archive; do
    case "$archive" in */netsched-local.tar) continue ;; esac # the Dockerfile's image instead
    kind load image-archive "$archive" --name "$CLUSTER"
  done

say "helm install into $NAMESPACE (restricted)"
kubectl create namespace "$NAMESPACE"
kubectl label namespace "$NAMESPACE" pod-security.kubernetes.io/enforce=restricted
helm install netsched "$ROOT/deploy/helm/netsched" -n "$NAMESPACE" \
  --set image.repository=localhost/netsched --set image.tag=local --set image.pullPolicy=Never \
  --set-json 'operator.tolerations=[{"key":"netsched.io/real-node","operator":"Exists"}]' \
  --set-json 'probe.tolerations=[{"key":"netsched.io/real-node","operator":"Exists"}]' \
  --wait --timeout 180s
kubectl -n "$NAMESPACE" rollout status deployment/netsched --timeout=120s

say "a TrainingJob placed by the in-cluster operator"
kubectl create namespace e2e-smoke
kubectl apply -n e2e-smoke -f - <<'EOF'
apiVersion: netsched.io/v1alpha1
kind: TrainingJob
metadata: {name: smoke}
spec:
  replicas: 2
  communication: {pattern: DataParallel, bytesPerStep: 1Gi}
  template:
    spec:
      tolerations: [{key: netsched.io/real-node, operator: Exists}]
      containers:
        - name: trainer
          image: localhost/netsched-tools:local
          imagePullPolicy: Never
          command: [sleep, "3600"]
          resources: {limits: {nvidia.com/gpu: 8}}
EOF
kubectl wait -n e2e-smoke tj/smoke --for=jsonpath='{.status.phase}'=Running --timeout=180s
kubectl delete namespace e2e-smoke --wait=true

say "the e2e tests through NETSCHED_KUBECONFIG (each starts its own operator)"
kubectl -n "$NAMESPACE" scale deployment/netsched --replicas=0
make -C "$ROOT" binaries nca
NETSCHED_KUBECONFIG="$KUBECONFIG" "$ROOT/.venv/bin/pytest" -q \
  "$ROOT/tests/integration/test_realnodes.py" "$ROOT/tests/integration/test_isolation_analyzer.py"
say "kind e2e passed"
