#!/usr/bin/env bash
# Trains every bundled model from scratch with fixed seeds (documented in README.md).
# On 2 CPU cores each captioner takes about half an hour, each translator ~8 minutes; on a GPU, a few minutes.
# Usage: scripts/train-bundled.sh [OUTDIR] [extra args for every run, e.g. --device cuda]
set -euo pipefail
out=${1:-resources/models}; shift || true
mkdir -p "$out"  # (train refuses an --out in a folder that does not exist)
py=${PYTHON:-python}
# --init-seed 1: of the weight initialisations tried for the main model, the one that pointed best
# on the validation scenes (the notes of issue 4 list them); all three models use it.
train() { "$py" -m attnviewer train caption --seed 0 --init-seed 1 --epochs 45 "$@"; }
train --out "$out/caption-shapes.safetensors" --score additive --lambda 0 "$@"
train --out "$out/caption-shapes-lambda1.safetensors" --score additive --lambda 1 "$@"
train --out "$out/caption-shapes-dot.safetensors" --score dot --lambda 0 "$@"

# The translators (~8 minutes each on one CPU core): additive attention; Luong's "general" score,
# which translates as well but aligns worse; and Luong's local-p attention (see README).
translate() { "$py" -m attnviewer train translate --seed 0 --epochs 5 "$@"; }
translate --out "$out/translate-sov.safetensors" --score additive "$@"
translate --out "$out/translate-sov-general.safetensors" --score general "$@"
translate --out "$out/translate-sov-local.safetensors" --score additive --attention local "$@"

# The video captioner (~25 minutes on 2 CPU cores).
"$py" -m attnviewer train video --seed 0 --epochs 40 --out "$out/video-shapes.safetensors" "$@"
# Its contrast model, plain S2VT: the decoder starts from the clip's summary and attends over
# appearance alone; it captions, but its attention sinks to the first and last frames (see README).
"$py" -m attnviewer train video --seed 0 --epochs 40 --summary-start --no-change-features \
    --out "$out/video-s2vt.safetensors" "$@"

# The transformers trained from scratch on the same data, Compare's contrast to the LSTMs (saved as
# transformers folders; see benchmarks/transformer_grounding.md). On the shared 2-core machine that
# trained them: the translator 17 minutes, the captioner 24 with generating its scenes, both to the
# end of their schedules (--minutes only guards a slower machine; the held-out check with the best
# exact match is kept). One torch thread was ~10x faster there than two while other jobs ran.
"$py" -m attnviewer train translate --arch transformer --seed 0 --val-size 300 --minutes 20 --threads 1 \
    --out "$out/translate-sov-marian" "$@"
"$py" -m attnviewer train caption --arch transformer --seed 0 --val-size 300 --minutes 25 --threads 1 \
    --out "$out/caption-shapes-vit" "$@"

# Every model records what its generated training data looks like to it (the out-of-domain note).
"$py" scripts/stamp-domain.py "$out"/*.safetensors
