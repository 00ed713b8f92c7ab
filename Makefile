# netsched: two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NETSCHED := $(BIN)/netsched
NCA_VENV := .venv-nca
NCA := $(NCA_VENV)/bin/nca
export GOTOOLCHAIN ?= local

.PHONY: demo test install nca lint lint-deps doctest unit integration binaries real-node-deps crds manifests bench bench-e2e down clean

$(BIN)/netsched: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/netsched ## the virtualenv with netsched and its dev tools

$(NCA): hack/nca/requirements.txt
	$(PYTHON) -m venv $(NCA_VENV)
	$(NCA_VENV)/bin/pip install --quiet --requirement hack/nca/requirements.txt
	@touch $@

nca: $(NCA) ## network-config-analyzer in a virtualenv of its own (its pins clash with netsched's)

binaries: install ## build (once) the control-plane, real-node and install-path binaries into ~/.cache/netsched
	$(NETSCHED) dev-cluster build --real-nodes --tools

# What real nodes run that comes from Debian (docs/development.md); needs root and apt.
REAL_NODE_PACKAGES := containerd runc containernetworking-plugins iptables ipset conntrack \
	socat busybox-static gcc libc6-dev iproute2 util-linux mmdebstrap iperf3
real-node-deps: ## the Debian packages real nodes need (installed only if one is missing)
	@missing=$$(for p in $(REAL_NODE_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi

DEV_KUBECONFIG := $(HOME)/.cache/netsched/dev-cluster/kubeconfig

demo: binaries ## a 64-node leaf/spine of fake GPU nodes, the operator, the examples placed
	$(NETSCHED) dev-cluster up --nodes 64 --operator
	@KUBECTL=$$($(NETSCHED) dev-cluster build | awk '$$1 == "kubectl" {print $$2}'); \
	export KUBECONFIG=$(DEV_KUBECONFIG); \
	$$KUBECTL apply --server-side -f deploy/examples/priorityclass.yaml >/dev/null; \
	$$KUBECTL apply --server-side -R -f deploy/examples/ | sed 's/^/  /'; \
	$$KUBECTL wait tj --all --for=jsonpath='{.status.conditions[?(@.type=="Placed")].reason}' \
	  --timeout=60s >/dev/null 2>&1; sleep 2; \
	echo; echo "$$KUBECTL get tj"; $$KUBECTL get tj; echo; \
	echo "why a job waits, or where it went:  $(NETSCHED) explain <job>"; \
	echo "the queue:                           $(NETSCHED) queue"; \
	echo "stop everything (operator included): $(NETSCHED) dev-cluster down"

lint: install lint-deps ## ruff, mypy --strict, the import contracts, hadolint, shellcheck
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	shellcheck hack/*.sh

lint-deps: ## shellcheck, from Debian (installed only if missing)
	@command -v shellcheck >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null; }

doctest: install ## every example in the package's docstrings
	$(BIN)/pytest --doctest-modules operator/netsched -q

unit: install
	$(BIN)/pytest tests/unit -q

integration: binaries nca real-node-deps
	$(BIN)/pytest tests/integration -q

test: lint doctest binaries nca real-node-deps ## everything CI runs
	$(BIN)/pytest tests -q

crds: install ## regenerate crds/ (and the chart's copy) from the pydantic models
	$(NETSCHED) crd --write
	cp crds/*.yaml deploy/helm/netsched/crds/

manifests: binaries ## re-render deploy/manifests/install.yaml from the Helm chart
	$(NETSCHED) dev-cluster manifests > deploy/manifests/install.yaml

bench: install ## placement benchmark; rewrites its section of docs/benchmarks.md
	$(BIN)/python bench/placement.py

bench-e2e: binaries ## the operator against kube-scheduler alone on a live cluster; its section of docs/benchmarks.md
	$(BIN)/python bench/e2e.py

down: install
	$(NETSCHED) dev-cluster down

clean: down
	rm -rf $(VENV) $(NCA_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
