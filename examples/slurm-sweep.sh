#!/bin/bash
# Runs a sweep grid as a Slurm job array, one shard per task, then merges:
#   sbatch --array=0-7 examples/slurm-sweep.sh examples/sweep.toml
#   # when all tasks are done:
#   iommu merge results/shard-*.csv -o sweep.csv
#SBATCH --job-name=iommu-sweep
#SBATCH --cpus-per-task=8
#SBATCH --output=results/slurm-%A_%a.log
set -euo pipefail
grid=${1:?usage: sbatch --array=0-N slurm-sweep.sh GRID.toml}
mkdir -p results
iommu sweep "$grid" \
    --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" \
    --threads "${SLURM_CPUS_PER_TASK:-1}" \
    -o "results/shard-${SLURM_ARRAY_TASK_ID}.csv"
