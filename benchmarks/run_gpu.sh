#!/usr/bin/env bash
# The GPU table of BENCHMARKS.md: every benchmark with torch on CUDA, on a machine that has torch
# with CUDA but none of our other dependencies and no network. Wheels for Python 3.12 of the missing
# packages are expected in .whl/ (see BENCHMARKS.md, "GPU"). Results go to ${OUT:-benchmarks/results_gpu}.
set -u
OUT=${OUT:-benchmarks/results_gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site .whl/pdbfixer-*.tar.gz \
  || exit 1
export PYTHONPATH=/tmp/site:$PWD/benchmarks:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, openmm; print('torch', torch.__version__, torch.cuda.get_device_name(0)); print('openmm platforms', [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())])" | tee -a "$OUT/gpu.txt"
run() {  # name, time limit (s), extra args
  local name=$1 limit=$2; shift 2
  echo "=== $name"
  timeout "$limit" python3 "benchmarks/$name.py" --device cuda --json "$OUT/$name.json" "$@" 2>&1 | tail -n 40
}
run rollout_scaling 90
run cache_vs_recompute 60
run train_throughput 60
if python3 -c "import openmm; openmm.Platform.getPlatformByName('CUDA')" 2>/dev/null; then
  run md_speed 90 --md-platform CUDA
else
  echo "OpenMM has no CUDA platform here: MD on the CPU platform with 16 threads"
  run md_speed 90 --md-platform CPU --md-threads 16
fi
run cache_growth 150
ls -la "$OUT"
