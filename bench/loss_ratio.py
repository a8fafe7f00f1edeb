#!/usr/bin/env python3
"""Training losses of runs against a reference run, on the same steps.

Runs of one seed see the same batches and Q-layer noise at every step, so the ratio
of their logged task losses, step by step, compares the networks without the batch's
own difficulty. Prints, per window of steps, the geometric mean of each task's ratio
(segmentation, disparity, reconstruction).

    python3 bench/loss_ratio.py --reference runs/scratch-zoo/tiny-l0/metrics.jsonl \
        runs/study/zoo-l0/metrics.jsonl runs/scratch-zoo/tiny-l0.03/metrics.jsonl
"""
import argparse
import json
import math

TASKS = ("segmentation", "disparity", "reconstruction")
WINDOWS = ((0, 100), (100, 300), (300, 1000), (1000, 2000), (2000, 3000),
           (3000, 4000), (4000, 5000), (5000, 5400))


def load(path):
    with open(path) as f:
        return {d["step"]: d for d in map(json.loads, f)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference", required=True, help="metrics.jsonl of the reference run")
    p.add_argument("runs", nargs="+", help="metrics.jsonl of each run to compare")
    args = p.parse_args()
    ref = load(args.reference)
    for path in args.runs:
        run = load(path)
        print(path)
        print("  steps        " + "  ".join(f"{t[:5]:>6}" for t in TASKS))
        for lo, hi in WINDOWS:
            steps = [s for s in run if lo < s <= hi and s in ref]
            if not steps:
                continue
            ratios = [
                math.exp(sum(math.log(run[s][t] / ref[s][t]) for s in steps) / len(steps))
                for t in TASKS
            ]
            print(f"  {lo:>4}-{hi:<5}  " + "  ".join(f"{r:6.3f}" for r in ratios) + f"  ({len(steps)} steps)")


if __name__ == "__main__":
    main()
