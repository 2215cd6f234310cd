#!/usr/bin/env bash
# Regenerates the bundled MD data set in data/ (see data/README.md) with `starmd simulate`.
# Resumable: rerun the same command after an interruption; finished replicas are skipped and
# unfinished ones continue from their last chunk.
#
#   nohup data/make_dataset.sh > data/make_dataset.log 2>&1 &
#
# Environment overrides: STARMD (the command), OUT (output folder), TRAIN_NS / TEST_NS (production
# per replica of the first training / the test tetrapeptides), EXTRA_NS (the other training
# peptides), LONG_TEST_NS (the 10-residue test peptide), THREADS (OpenMM CPU threads), CANDIDATES=0 /
# VALIDATION=0 (skip the 10-12-mers / the validation peptide), VAL_NS (its length). Defaults
# reproduce the committed data (1 CPU thread; about 2 hours on one core of a 2-core machine, with the
# 5-ns 10-mer, the six 10-12-mers and the validation peptide).
set -euo pipefail
cd "$(dirname "$0")/.."
STARMD=${STARMD:-.venv/bin/starmd}
OUT=${OUT:-data}
TRAIN_NS=${TRAIN_NS:-1}
TEST_NS=${TEST_NS:-3}
LONG_TEST_NS=${LONG_TEST_NS:-5}
EXTRA_NS=${EXTRA_NS:-0.5}
THREADS=${THREADS:-1}

# amber99sb-ildn + OBC GB: OpenMM's native GBSAOBCForce runs ~5x faster on the CPU platform than
# the CustomGBForce behind amber14/GBn2 (measured 1030 vs 214 ns/day for a tetrapeptide, 1 thread).
COMMON=(--out "$OUT" --replicas 2
        --set save_ps=10 --set chunk_ps=500 --set equilibration_ps=100 --set seed=0
        --set platform=CPU --set cpu_threads="$THREADS"
        --set "forcefield=[amber99sbildn.xml,amber99_obc.xml]" --set step_fs=4 --set hydrogen_mass_amu=4)

run() {  # run SEQUENCE SPLIT LENGTH_NS
  echo "=== $1 ($2, $3 ns) $(date -u +%FT%TZ)"
  "$STARMD" simulate --sequence "$1" --name "$1" --split "$2" --length-ns "$3" "${COMMON[@]}" --quiet
}
for seq in GAVL KPDW SEYR TNQF MIHG RGDS CPAE; do run "$seq" train "$TRAIN_NS"; done
# 14 more training tetrapeptides drawn at random (python: random.seed(7), 4 letters from the 20,
# skipping the sequences above; the first 7 of each half of that draw, which is what finished in
# the time we had): breadth of sequence matters more than length for generalisation
EXTRA=(MFPC DVEN WCTH CDQQ DIDV QCWE IWCW SVQM RWRN LIGI DWLT SMRL YDET QGMF)
for seq in "${EXTRA[@]}"; do run "$seq" train "$EXTRA_NS"; done
# 8 longer training peptides (5-9 residues; python: random.seed(11), lengths 5 6 6 7 7 8 8 9), added
# after the second default model, trained on tetrapeptides only, collapsed the held-out 10-residue
# peptide: lengths never seen in training do not generalise
LONGER=(RVRRT WHGTSY GERLFD VCYPRYG YATDCCH IYARMRWH TILSADRK QVDKMITLA)
for seq in "${LONGER[@]}"; do run "$seq" train "$EXTRA_NS"; done
for seq in YPGE FDKA HSTV; do run "$seq" test "$TEST_NS"; done
# chignolin's sequence, 10 residues, started extended; 5 ns per replica (it was 1 ns until the fourth
# session: two 1-ns replicas disagreed so much that the second covered a quarter of the first's
# PCA bins, too short to judge a 10-ns rollout against)
run GYDPETGTWG test "$LONG_TEST_NS"
# 6 random training peptides of 10-12 residues (python: random.seed(13), random.choice over the 20
# letters, lengths 10 10 11 11 12 12): they go into manifest_long.yaml (= manifest.yaml + these), the
# shipped default model's training data; manifest.yaml stays what the earlier models in
# checkpoints/candidates/ were trained on. About 30 minutes; skip with CANDIDATES=0.
if [ "${CANDIDATES:-1}" = 1 ]; then
  LONG10=(KLGIFIGFDV HLAQFYAKFD KRQFKNISVWQ NQMENYKRVYF RRVGLHGTNKNR KYKPFWSVIWIH)
  for seq in "${LONG10[@]}"; do
    echo "=== $seq (candidates, $EXTRA_NS ns) $(date -u +%FT%TZ)"
    "$STARMD" simulate --sequence "$seq" --name "$seq" --split train --length-ns "$EXTRA_NS" --out "$OUT/.candidates" "${COMMON[@]:2}" --quiet
  done
  "$(dirname "$STARMD")/python" - "$OUT" <<'PY'
import shutil, sys
from pathlib import Path
import yaml
out = Path(sys.argv[1]); cand = out / ".candidates"
base = yaml.safe_load((out / "manifest.yaml").read_text())
extra = yaml.safe_load((cand / "manifest.yaml").read_text())["proteins"]
for e in extra:
    dest = out / e["name"]; dest.mkdir(exist_ok=True)
    for f in (cand / e["name"]).iterdir():
        if f.is_file() and not f.name.startswith("."):
            shutil.copy2(f, dest / f.name)
names = {e["name"] for e in base["proteins"]}
base["proteins"] += [e for e in extra if e["name"] not in names]
head = ("# The bundled data set (manifest.yaml) plus 6 training peptides of 10-12 residues (see README.md):\n"
        "# the training data of the shipped default model (checkpoints/default.train.yaml).\n")
(out / "manifest_long.yaml").write_text(head + yaml.safe_dump(base, sort_keys=False))
PY
fi
if [ "${VALIDATION:-1}" = 1 ]; then
  # A random 10-residue validation peptide (random.seed(29)), never trained on: the rollout settings
  # (torsion temperature, φ/ψ restraint width) are chosen on it and on CPAE, not on the test peptides.
  echo "=== VDNYYLDTNP (validation, ${VAL_NS:-1} ns) $(date -u +%FT%TZ)"
  "$STARMD" simulate --sequence VDNYYLDTNP --name VDNYYLDTNP --split test --length-ns "${VAL_NS:-1}" \
    --out "$OUT/.validation" "${COMMON[@]:2}" --quiet
  mkdir -p "$OUT/VDNYYLDTNP"
  cp "$OUT/.validation/VDNYYLDTNP/"VDNYYLDTNP* "$OUT/VDNYYLDTNP/"
  { echo "# Validation peptide for choosing rollout settings (see README.md); not in manifest.yaml, never trained on."
    cat "$OUT/.validation/manifest.yaml"; } > "$OUT/manifest_validation.yaml"
fi
echo "=== done $(date -u +%FT%TZ)"
