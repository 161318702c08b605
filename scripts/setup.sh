#!/usr/bin/env bash
# Create .venv and install the workbench into it. Usage: scripts/setup.sh [--test]
#   --test  also install what the tests need (Python extras and Debian packages).
# Environment: PYTHON (default python3.11, else python3), WORKBENCH_TORCH_SPEC to install
# another torch build first (e.g. for a GPU, see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
# Real recorded speech (demo, general sets, tests) and the espeak-ng voices (synthetic speech).
apt_packages=(pocketsphinx-testdata asterisk-core-sounds-en-wav asterisk-core-sounds-en espeak-ng flite)
# An English word list: near misses of a term are never everyday words (workbench/decoding/snap.py).
apt_packages+=(wamerican)
if [[ "${1:-}" == "--test" ]]; then
  extras="[test]"
  apt_packages+=(chromium)  # the browser the UI test drives (Playwright, executable_path)
fi

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "setup: apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Debian packages whose recordings a data source reads but whose programs we do not need
# (transcriber would pull in a desktop audio stack): only the .deb is fetched and unpacked
# into .debian/<name>/ (ignored by git, like .venv), where workbench/data/sources/<name>.py
# looks for it.
for pkg in transcriber; do
  if [[ ! -d ".debian/$pkg/usr" ]]; then
    echo "setup: unpacking the Debian package $pkg into .debian/$pkg"
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1); then
      if [[ $(id -u) -ne 0 ]]; then sudo apt-get update -qq; else apt-get update -qq; fi
      (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1)
    fi
    mkdir -p ".debian/$pkg"
    dpkg-deb -x "$tmp"/"$pkg"_*.deb ".debian/$pkg"
    rm -rf "$tmp"
  fi
done

python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [[ -n "${WORKBENCH_TORCH_SPEC:-}" ]]; then
  # e.g. WORKBENCH_TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
  # shellcheck disable=SC2086
  pip install -q $WORKBENCH_TORCH_SPEC
  pip install -q -e ".$extras"
else
  pip install -q -c constraints.txt -e ".$extras"
fi
echo "setup: done ($(python -c 'import torch; print("torch", torch.__version__)'))"
