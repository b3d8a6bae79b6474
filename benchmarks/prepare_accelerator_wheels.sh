#!/usr/bin/env bash
# Download the wheels of benchmarks/accelerator_requirements.txt for the
# accelerator machine (x86-64 Linux, CPython 3.12) into a git-ignored folder,
# `.whl/` at the repository's root by default:
#
#   benchmarks/prepare_accelerator_wheels.sh [DEST]
#
# `--no-deps`: the requirements list every package the machine lacks, and
# pinned, so that one version of each travels. On the machine:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
#       --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/.whl}"
mkdir -p "$dest"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
    manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$dest" \
    -r "$root/benchmarks/accelerator_requirements.txt"
ls -l "$dest"
