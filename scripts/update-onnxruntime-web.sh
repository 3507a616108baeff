#!/usr/bin/env bash
# Refresh the onnxruntime-web files that `pic2emoji export-web` and `serve` ship in the page
# (pic2emoji/page/ort/), from npm. Usage: bash scripts/update-onnxruntime-web.sh [VERSION]
# Needs npm and network access to the npm registry; writes pic2emoji/page/ort/VERSION with the version
# and each file's SHA-256. The licence is onnxruntime's MIT licence (the npm package names it but
# carries no LICENSE file), taken from the onnxruntime Python wheel of the same version.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-1.30.0}
OUT=pic2emoji/page/ort
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "onnxruntime-web@$VERSION" >/dev/null && tar xzf onnxruntime-web-*.tgz)
# wasm: the CPU back end (one thread, or threads where the page is cross-origin isolated);
# webgpu: the GPU back end, which falls back to wasm on its own bigger build (asyncify).
FILES="ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm
       ort.webgpu.min.mjs ort-wasm-simd-threaded.asyncify.mjs ort-wasm-simd-threaded.asyncify.wasm"
rm -rf "$OUT" && mkdir -p "$OUT"
for f in $FILES; do cp "$WORK/package/dist/$f" "$OUT/"; done
python3 -m pip download -q --no-deps --only-binary :all: -d "$WORK/wheel" "onnxruntime==$VERSION" \
    || python3 -m pip download -q --no-deps --only-binary :all: -d "$WORK/wheel" onnxruntime
python3 - "$WORK/wheel" "$OUT/LICENSE" <<'PY'
import sys, zipfile, pathlib
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
pathlib.Path(sys.argv[2]).write_bytes(zipfile.ZipFile(wheel).read("onnxruntime/LICENSE"))
PY
{ echo "onnxruntime-web $VERSION from https://www.npmjs.com/package/onnxruntime-web (MIT, see LICENSE)";
  (cd "$OUT" && sha256sum $FILES LICENSE); } > "$OUT/VERSION"
du -sh "$OUT"
