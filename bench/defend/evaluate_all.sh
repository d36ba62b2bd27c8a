#!/bin/sh
# The robustness figures of bench/defend/RESULTS.md: clean, FGSM and PGD-50 × 10 restarts (step 0.01) accuracy on
# the first LIMIT MNIST test digits at ε = 0.1, 0.2, 0.3, for one model. Usage (from the repository root):
#   OMP_NUM_THREADS=1 PYTHONPATH=src sh bench/defend/evaluate_all.sh MODEL LIMIT [EPS]
# MODEL: mnist, mnist-robust, fgsm or pgd_madry (the two reference models of ../shared/models/third_party).
# Output: bench/defend/raw/MODEL-LIMIT[-epsEPS] (folder with evaluation.json/.csv) and the same name + .json; the
# -epsEPS part (commas as underscores) appears only when EPS is given, so runs at other ε never overwrite each other.
set -e
model=$1; limit=$2; eps=${3:-0.1,0.2,0.3}
name=$model-$limit
if [ -n "$3" ]; then name=$name-eps$(echo "$3" | tr , _); fi
ref=../shared/models/third_party/fast_adversarial
data=../shared/data/classification/mnist_t10k
case $model in
  fgsm|pgd_madry) spec="--model camo.models.networks:small_cnn --weights $ref/$model.pth
                        --model-config bench/defend/fast_adversarial.json";;
  *) spec="--model $model";;
esac
python=${PYTHON:-/work/main/.venv/bin/python}
# shellcheck disable=SC2086
$python -m camo.cli evaluate $spec --data mnist-test --data-root $data --limit "$limit" --eps "$eps" \
  --method fgsm,pgd --steps 50 --step-size 0.01 --restarts 10 --batch-size 500 \
  --out "bench/defend/raw/$name" --json > "bench/defend/raw/$name.json"
