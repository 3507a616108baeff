#!/usr/bin/env bash
# Set up pic2emoji in this checkout: the system packages it needs (installed when run as root, else the
# exact command is printed), a virtual environment in .venv, and the package. With --test, also what the
# tests need: the test extras and Chromium. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TEST=0; [ "${1:-}" = --test ] && TEST=1

# clang: tinygrad's CPU backend compiles kernels with it. pocl-opencl-icd: OpenCL on the CPU, tinygrad's
# GPU code path, and ocl-icd-libopencl1, the loader (libOpenCL.so.1) that tinygrad opens to reach it
# (only recommended by pocl, so --no-install-recommends leaves it out). fonts-noto-color-emoji +
# libraqm0/libfribidi0: build-set renders emoji from the font.
APT_PACKAGES="clang pocl-opencl-icd ocl-icd-libopencl1 fonts-noto-color-emoji libraqm0 libfribidi0 ${EXTRA_APT_PACKAGES:-}"
# For the tests: fonts-dejavu-core, a font without colour emoji (build-set's refusals); chromium, the
# browser the live camera's tests drive through Playwright (Debian's package: no `playwright install`;
# on Ubuntu `chromium` is a snap, which Playwright cannot drive: use Debian's or set PIC2EMOJI_CHROMIUM).
[ "$TEST" = 1 ] && APT_PACKAGES="$APT_PACKAGES fonts-dejavu-core chromium"

if command -v dpkg >/dev/null; then
    missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done | xargs)
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "setup: installing $missing" >&2
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
        else
            echo "setup: pic2emoji needs system packages; run this, then run this script again:" >&2
            echo "    sudo apt-get install -y $missing" >&2
            exit 1
        fi
    fi
else
    echo "setup: not a Debian/Ubuntu system; install clang, an OpenCL driver (pocl) and a colour emoji font yourself" >&2
fi

if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
        rm -rf .venv
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv .venv
        else
            echo "setup: python3 cannot make a virtual environment; run:  sudo apt-get install -y python3-venv" >&2
            exit 1
        fi
    fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if [ "$TEST" = 1 ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
echo "setup: ready; the tool is .venv/bin/pic2emoji (or 'source .venv/bin/activate' and use pic2emoji)" >&2
