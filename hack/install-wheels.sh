#!/bin/sh
# install-wheels WHEELS VENV: a virtualenv at VENV of exactly the wheels in WHEELS, offline.
# Every wheel is pinned by the sha256 it has now (pip --require-hashes, --no-index, --no-deps):
# pip installs those files and nothing it would resolve or fetch itself. The Dockerfile and
# the dev cluster's image build (netsched.devcluster.images) both run it.
set -eu
wheels=$1
venv=$2
requirements=$(mktemp)
for wheel in "$wheels"/*.whl; do
    printf '%s --hash=sha256:%s\n' "$wheel" "$(sha256sum "$wheel" | cut -d' ' -f1)"
done >"$requirements"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --no-cache-dir --no-index --no-deps --require-hashes \
    --requirement "$requirements"
rm -f "$requirements"
"$venv/bin/netsched" --help >/dev/null
