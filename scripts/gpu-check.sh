#!/usr/bin/env bash
# Issue 12's GPU figures in one run on a lent GPU machine (docs/BENCHMARKS.md, "Fresh machines and GPUs").
#
#   bash scripts/gpu-check.sh --fetch     here, once: the wheels that machine lacks (tinygrad, emoji, threadpoolctl) into .whl/
#   bash scripts/gpu-check.sh [OUT_DIR]   there (the device tool: carry .whl): figures and logs into OUT_DIR
#
# That machine has Python 3.12 with numpy, Pillow, click, tqdm, safetensors and onnx, but no clang, so
# tinygrad's CPU device is unusable there: this also checks that training saves without it. DEVICE
# (default CUDA), STEPS (default 1000), FULL_STEPS (default: train's own) and BENCH (the sections of
# benchmarks/bench.py) may be set to try the script on another machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fetch" ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform any -d .whl "tinygrad==0.14.0" "emoji==2.16.0" "threadpoolctl==3.8.0"
  ls -l .whl
  exit
fi

out=${1:-${OUT:-/tmp/gpu-check}}
device=${DEVICE:-CUDA}
steps=${STEPS:-1000}
full=${FULL_STEPS:+--steps $FULL_STEPS}
sections=${BENCH:-data,train,net,cli}
mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 PIC2EMOJI_CACHE_DIR=${PIC2EMOJI_CACHE_DIR:-/tmp/pic2emoji-cache}
p2e() { python3 -m pic2emoji "$@"; }
clock() { python3 -c 'import time; print(time.time())'; }
since() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$2"; }
say() { echo "$*" | tee -a "$out/summary.txt"; }

(nvidia-smi -L || true; nproc; python3 --version) > "$out/machine.txt" 2>&1
p2e info > "$out/info.txt" 2>&1 || true

# 1. train's own speed on noto, the issue's "before": 4.8–5.4 steps/s, 207 s for 1000 steps.
start=$(clock)
p2e train noto --steps "$steps" --device "$device" -o /tmp/noto-steps.safetensors --overwrite > "$out/train-steps.txt" 2>&1
end=$(clock)
say "train noto --steps $steps --device $device: $(since "$start" "$end") s whole process; $(tail -1 "$out/train-steps.txt")"

# 2. a noto model from scratch, default steps: the target is >= 97% held-out top-1 in <= 5 minutes.
start=$(clock)
timeout 480 python3 -m pic2emoji train noto $full --device "$device" -o /tmp/noto-full.safetensors --overwrite > "$out/train-full.txt" 2>&1 || true
end=$(clock)
say "train noto (default steps) --device $device: $(since "$start" "$end") s whole process; $(tail -1 "$out/train-full.txt")"
[ -f /tmp/noto-full.safetensors ] && p2e eval noto --model /tmp/noto-full.safetensors --device "$device" --json \
  > "$out/eval-full.json" 2>&1 && say "eval: $(cat "$out/eval-full.json" | head -c 200)"

# 3. the benchmark's batch making, training step, net and CLI on this device.
DEV=$device python3 benchmarks/bench.py --only "$sections" --json "$out/bench.json" > "$out/bench.txt" 2>&1 || true
say "bench: $(grep -c . "$out/bench.txt") lines in bench.txt"

# 4. tinygrad's CL device on the NVIDIA GPU: an ICD file that names the driver's OpenCL library.
if [ "$device" = CUDA ]; then
  mkdir -p /tmp/icd && echo libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd
  OCL_ICD_VENDORS=/tmp/icd p2e info > "$out/info-cl.txt" 2>&1 || true
  start=$(clock)
  OCL_ICD_VENDORS=/tmp/icd p2e train noto-small --steps 300 --device CL -o /tmp/small-cl.safetensors --overwrite \
    > "$out/train-cl.txt" 2>&1 || true
  end=$(clock)
  say "train noto-small --steps 300 --device CL (NVIDIA OpenCL): $(since "$start" "$end") s; $(tail -1 "$out/train-cl.txt")"
fi
