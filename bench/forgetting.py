"""Forgetting control, one technique at a time, measured side by side in one run.

    python bench/forgetting.py [--recipe RECIPE] [--only NAME ...] [--variant NAME KEY=VALUE ...]
                                [--out FILE] [--runs DIR]

(default recipe: data_recipes/medical_tiny-en_lora.yaml)

Runs `workbench run` on the recipe once per variant (overrides below), each in its own run
folder, and reads back every report.json: domain WER and term recall, base against adapted,
and the WER change on the general set (real everyday speech never trained on). Variants:
none (no replay, no distillation, no guard), replay alone, replay + distillation (the shipped
setting), the forgetting guard alone, a lower learning rate alone. Prints a table and writes
the figures as JSON. Each variant is a full run (minutes on a CPU): use --only to pick.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

OFF = ["train.replay_ratio=0", "train.distill_weight=0"]
VARIANTS: dict[str, list[str]] = {
    "none": OFF,
    "replay": ["train.distill_weight=0"],
    "replay+distill": [],
    "guard": [*OFF, "train.max_general_loss_increase=0.05", "train.eval_steps=10"],
    "low_lr": [*OFF, "train.learning_rate=5e-4"],
}


def figures(report: dict) -> dict[str, float | None]:
    """The headline figures of a report.json: domain and general WER, term recall."""
    sets = report["sets"]
    ev = sets["eval"]
    row: dict[str, float | None] = {
        "eval_wer_base": ev["base"]["wer"],
        "eval_wer_adapted": ev["adapted"]["wer"],
        "recall_base": ev["base"]["term_recall"],
        "recall_adapted": ev["adapted"]["term_recall"],
        "general_wer_base": None,
        "general_wer_adapted": None,
    }
    if "general" in sets:
        row["general_wer_base"] = sets["general"]["base"]["wer"]
        row["general_wer_adapted"] = sets["general"]["adapted"]["wer"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="data_recipes/medical_tiny-en_lora.yaml")
    parser.add_argument("--only", nargs="*", choices=sorted(VARIANTS), help="variants to run")
    parser.add_argument("--runs", type=Path, default=Path("bench/out/forgetting"))
    parser.add_argument("--out", type=Path, default=Path("bench/out/forgetting.json"))
    parser.add_argument(
        "--variant",
        nargs="+",
        action="append",
        default=[],
        metavar=("NAME", "KEY=VALUE"),
        help="an extra variant: its name, then recipe overrides (repeatable)",
    )
    args = parser.parse_args()

    variants = dict(VARIANTS)
    for name, *overrides in args.variant:
        variants[name] = overrides
    chosen = args.only if args.only is not None else ([] if args.variant else list(VARIANTS))
    chosen = chosen + [name for name, *_ in args.variant if name not in chosen]

    rows = []
    for name in chosen:
        run_dir = args.runs / name
        command = [
            sys.executable,
            "-m",
            "workbench.cli",
            "run",
            args.recipe,
            "--run-dir",
            str(run_dir),
            *variants[name],
        ]
        start = time.time()
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "bench.log", "w") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
        wall = time.time() - start
        report = run_dir / "report.json"
        if done.returncode != 0 or not report.exists():
            print(f"{name}: failed (exit {done.returncode}); see {run_dir}/bench.log")
            continue
        row = {"variant": name, "overrides": variants[name], "wall_s": round(wall, 1)}
        row.update(figures(json.loads(report.read_text())))
        status = json.loads((run_dir / "status.json").read_text())
        row["steps"] = status.get("step")
        rows.append(row)
        print(f"{name}: done in {wall:.0f} s", flush=True)

    print(f"\n{'variant':16} {'steps':>5} {'eval WER':>15} {'term recall':>15} {'general WER':>15}")
    for r in rows:
        general = "-"
        if r["general_wer_base"] is not None:
            delta = 100 * (r["general_wer_adapted"] - r["general_wer_base"])
            general = f"{r['general_wer_base']:.3f}{delta:+6.1f}pt"
        ev = 100 * (r["eval_wer_adapted"] - r["eval_wer_base"])
        rec = 100 * (r["recall_adapted"] - r["recall_base"])
        print(
            f"{r['variant']:16} {r['steps']:>5} {r['eval_wer_base']:.3f}{ev:+7.1f}pt "
            f"{r['recall_base']:.3f}{rec:+7.1f}pt {general:>15}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "platform": platform.platform()}
    args.out.write_text(
        json.dumps({"machine": machine, "recipe": str(args.recipe), "variants": rows}, indent=2)
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
