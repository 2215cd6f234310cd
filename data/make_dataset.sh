#!/usr/bin/env bash
# Regenerates the bundled MD data set in data/ (see data/README.md) with `starmd simulate`.
# Resumable: rerun the same command after an interruption; finished replicas are skipped and
# unfinished ones continue from their last 50 ps chunk.
#
#   nohup data/make_dataset.sh > data/make_dataset.log 2>&1 &
#
# Environment overrides: STARMD (the command), OUT (output folder), LENGTH_NS (production per
# replica), THREADS (OpenMM CPU threads). Defaults reproduce the committed data (1 CPU thread).
set -euo pipefail
cd "$(dirname "$0")/.."
STARMD=${STARMD:-.venv/bin/starmd}
OUT=${OUT:-data}
LENGTH_NS=${LENGTH_NS:-0.2}
THREADS=${THREADS:-1}

COMMON=(--out "$OUT" --replicas 2 --length-ns "$LENGTH_NS"
        --set save_ps=10 --set chunk_ps=50 --set equilibration_ps=20 --set seed=0
        --set platform=CPU --set cpu_threads="$THREADS")

# name:split — ordered so that a partial run already holds train and test peptides
PEPTIDES=(
  GAVL:train KPDW:train YPGE:test
  SEYR:train TNQF:train FDKA:test
  MIHG:train RGDS:train HSTV:test
  CPAE:train
  GYDPETGTWG:test   # chignolin, 10 residues
)
for item in "${PEPTIDES[@]}"; do
  seq=${item%%:*}; split=${item##*:}
  echo "=== $seq ($split) $(date -u +%FT%TZ)"
  "$STARMD" simulate --sequence "$seq" --name "$seq" --split "$split" "${COMMON[@]}"
done
echo "=== done $(date -u +%FT%TZ)"
