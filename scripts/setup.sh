#!/usr/bin/env bash
# Install npubench and everything it needs on a fresh Debian 12 machine with Python 3.11.
#
#   scripts/setup.sh          the tool, in .venv
#   scripts/setup.sh --dev    the tool plus what the tests need, including the managed
#                             environments of the toolchains the integration tests run
#                             (rknn-toolkit2, ExecuTorch, esp-ppq: `npubench toolchains install`)
#
# Idempotent: a second run only checks. Nothing here downloads anything but packages from
# PyPI and Debian through their normal clients.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

# Debian packages: the Arm cross-compiler and QEMU run the C harness and the generated model
# code on emulated Cortex-M boards; Chromium renders the HTML report in the tests.
apt_packages=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
if [[ $dev == 1 ]]; then
  apt_packages+=(chromium)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "setup: missing Debian packages ${missing[*]} and no root or sudo to install them;" \
         "the emulated-board features will be unavailable" >&2
    sudo="skip"
  fi
  if [[ $sudo != skip ]]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' || {
  echo "setup: npubench needs Python 3.11 (found $("$python" --version))" >&2; exit 1; }
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: 2.13.0 is the CPU wheel; any other spec pulls GBs of CUDA packages.
.venv/bin/python -m pip install -q torch==2.13.0
if [[ $dev == 1 ]]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi
if [[ $dev == 1 ]]; then
  # Toolchains whose pins conflict with npubench's own live in environments npubench manages
  # (from PyPI only). Installed side by side: the downloads, not the CPU, are the slow part.
  pids=()
  for env in rknn executorch esp-ppq; do
    .venv/bin/npubench toolchains install "$env" > ".venv/toolchain-$env.log" 2>&1 &
    pids+=($!)
  done
  failed=0
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { failed=1; echo "setup: toolchain environment install failed:" >&2; \
      tail -20 ".venv/toolchain-$(echo rknn executorch esp-ppq | cut -d' ' -f$((i + 1))).log" >&2; }
  done
  [[ $failed == 0 ]] || exit 1
  .venv/bin/npubench toolchains doctor
fi
echo "setup: done ($(.venv/bin/npubench --version))"
