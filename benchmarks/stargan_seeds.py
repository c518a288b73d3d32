"""How often a StarGAN recipe meets issue 4's two targets, over seeds, from the results already
recorded: reads every row of benchmarks/results/quality_stargan-*.jsonl written for a run of
`--run-steps` steps, and prints per recipe (the settings that tell the recipes apart) and seed the
checkpoint's CNN-judge accuracy (target >= 0.95) and PSNR to the true emoji (target: above
identity), then how many seeds meet both. GAN runs at this budget vary more between seeds than
between recipes, so a recipe is judged by this count, not by its best seed.

    python benchmarks/stargan_seeds.py                   # the 14,000-step recipe, its last checkpoint
    python benchmarks/stargan_seeds.py --step 10000 --live
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load_rows(run_steps: int, step: int, live: bool) -> list[dict]:
    rows = []
    for path in sorted(RESULTS.glob("quality_stargan-*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if (row.get("run_steps") == run_steps and row.get("step") == step
                    and row.get("generator", "").startswith("live") == live):
                rows.append(row)
    return rows


def recipe_names(rows: list[dict]) -> list[str]:
    """Each row's recipe, named by the settings whose values differ between the rows (absent: the
    plugin's default)."""
    keys = sorted({k for r in rows for k in r["settings"]})
    differing = [k for k in keys if len({json.dumps(r["settings"].get(k)) for r in rows}) > 1]
    return [" ".join(f"{k}={r['settings'].get(k, 'default')}" for k in differing) or "all rows" for r in rows]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-steps", type=int, default=14000, help="the runs' length")
    p.add_argument("--step", type=int, default=0, help="the checkpoint to read (default: the run's last)")
    p.add_argument("--live", action="store_true", help="the live weights instead of the --ema average")
    args = p.parse_args()
    rows = load_rows(args.run_steps, args.step or args.run_steps, args.live)
    if not rows:
        raise SystemExit(f"no rows for --run-steps {args.run_steps} --step {args.step or args.run_steps} in {RESULTS}")
    by_recipe: dict[str, dict[int, dict]] = defaultdict(dict)
    for name, row in zip(recipe_names(rows), rows):
        by_recipe[name][row["seed"]] = row  # a seed recorded twice: the later row
    w = max(map(len, by_recipe))
    print(f"{'recipe':<{w}} {'seed':>4} {'accuracy':>8} {'PSNR':>6} {'identity':>8}  targets met")
    for name, seeds in by_recipe.items():
        both = []
        for seed, r in sorted(seeds.items()):
            accurate = r["target_accuracy"] >= r.get("target_accuracy_goal", 0.95)
            faithful = r["psnr"] > r["identity/psnr"]
            met = ", ".join(m for m, ok in (("accuracy", accurate), ("PSNR", faithful)) if ok) or "neither"
            print(f"{name:<{w}} {seed:>4} {r['target_accuracy']:>8.3f} {r['psnr']:>6.2f} {r['identity/psnr']:>8.2f}  {met}")
            if accurate and faithful:
                both.append(seed)
        print(f"{name:<{w}} both targets on {len(both)} of {len(seeds)} seeds {both}\n")


if __name__ == "__main__":
    main()
