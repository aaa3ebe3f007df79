#!/usr/bin/env bash
# The wheels a lent GPU machine needs to run ci/gpu_protocol.sh: the packages `bench evaluate`
# imports that its image (Python 3.12, torch, no network) lacks, at this venv's versions, for
# CPython 3.12 on x86-64 Linux. Writes .whl/ (git-ignored; name it in the device call's carry).
# Run here, where PyPI is reachable:  bash ci/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir .whl
mapfile -t wanted < <(grep -v '^\s*#' ci/gpu_wheels.txt | grep -v '^\s*$')
pins=()
for name in "${wanted[@]}"; do
    version=$(.venv/bin/python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
    pins+=("$name==$version")
done
platforms=()
for n in 17 24 27 28 31 34 35; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" --platform manylinux2014_x86_64 --platform any -d .whl "${pins[@]}"
echo "$(ls .whl | wc -l) wheels, $(du -sh .whl | cut -f1) in .whl/ (the device call carries at most 64 MiB with the tree)"
