#!/bin/sh
# install-wheels WHEELS VENV: a virtualenv at VENV of exactly the wheels in WHEELS, offline,
# each checked against the sha256 it had when this ran (pip --require-hashes), so nothing is
# fetched and nothing is swapped on the way. The Dockerfile and the dev cluster's image build
# (netsched.devcluster.images) both run it.
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
