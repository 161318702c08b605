"""Accuracy per CPU-minute: the shipped medical recipe end to end, as a first-time user runs it.

    python bench/accuracy_per_minute.py [--recipe RECIPE] [--home DIR] [--out FILE]

Runs `workbench run RECIPE` in a subprocess with a fresh workbench home (so the model
conversion and the speech synthesis are counted, as on a new machine; pass --home with a used
folder to time a warm run), and times each phase from its output: prepare, train, evaluate
and export. Reads the run's report.json: base against adapted WER and term recall on the
held-out domain set, and the WER change on the general set. Goals (#9): under 10 minutes on
2 CPU cores, term recall up by at least 30 points, general WER up by at most 1 point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forgetting import figures

# A line of `workbench run`'s output that ends a phase, and the phase it ends.
MARKERS = (
    ("training (log:", "prepare"),
    ("training done at step", "train"),
    ("training stopped at step", "train"),
    ("adapter package:", "evaluate+export"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="data_recipes/medical_tiny-en_lora.yaml")
    parser.add_argument("--home", type=Path, help="workbench home to use (default: a fresh one)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/accuracy_per_minute.json"))
    args = parser.parse_args()

    work = args.out.with_suffix("")
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    home = args.home
    if home is None:
        home = work / "home"
        shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "WORKBENCH_HOME": str(home.resolve())}
    command = [sys.executable, "-m", "workbench.cli", "run", args.recipe, "--run-dir", str(run_dir)]
    phases: dict[str, float] = {}
    work.mkdir(parents=True, exist_ok=True)
    start = last = time.perf_counter()
    with open(work / "run.log", "w") as log:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None  # set by stdout=PIPE
        for line in proc.stdout:
            log.write(line)
            for marker, name in MARKERS:
                if line.startswith(marker) and name not in phases:
                    now = time.perf_counter()
                    phases[name] = round(now - last, 1)
                    last = now
        code = proc.wait()
    wall = time.perf_counter() - start
    report = run_dir / "report.json"
    if code != 0 or not report.is_file():
        sys.exit(f"workbench run failed (exit {code}); see {work / 'run.log'}")

    row = figures(json.loads(report.read_text()))
    recall_gain = 100 * (row["recall_adapted"] - row["recall_base"])
    general = None
    if row["general_wer_base"] is not None:
        general = 100 * (row["general_wer_adapted"] - row["general_wer_base"])
    steps = json.loads((run_dir / "status.json").read_text()).get("step")
    print(f"recipe: {args.recipe} ({steps} steps), {os.cpu_count()} CPUs")
    print("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()))
    print(f"wall time of `workbench run`: {wall / 60:.1f} min (goal < 10)")
    print(f"eval WER: {row['eval_wer_base']:.3f} -> {row['eval_wer_adapted']:.3f}")
    print(
        f"term recall: {row['recall_base']:.3f} -> {row['recall_adapted']:.3f} "
        f"({recall_gain:+.1f} points; goal >= +30)"
    )
    if general is not None:
        print(
            f"general WER: {row['general_wer_base']:.3f} -> {row['general_wer_adapted']:.3f} "
            f"({general:+.1f} points; goal <= +1)"
        )
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "recipe": args.recipe,
        "fresh_home": args.home is None,
        "steps": steps,
        "wall_s": round(wall, 1),
        "phases_s": phases,
        "recall_gain_points": round(recall_gain, 1),
        "general_wer_change_points": None if general is None else round(general, 1),
        **row,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
