#!/usr/bin/env bash
# Set everything up, then turn the example photo into an emoji mosaic: mosaic.png, and text in the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "quickstart: converting examples/photos/chelsea.png (the first run compiles tinygrad kernels: allow a minute)" >&2
.venv/bin/pic2emoji infer noto examples/photos/chelsea.png -o mosaic.png --cols 72 --overwrite
.venv/bin/pic2emoji infer noto examples/photos/chelsea.png --cols 36
echo "quickstart: wrote mosaic.png (72 columns of emoji); the text version is above" >&2
