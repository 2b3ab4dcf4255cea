#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu). The zip that
# `python -m autograder gradescope psN --out psN.zip` builds is unpacked into /autograder/source.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip python3-venv
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# the CPU build of PyTorch (Gradescope has no GPU; the CUDA wheels are ~2 GB more)
/autograder/venv/bin/python -m pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/python -m pip install /autograder/source
