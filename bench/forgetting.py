"""Forgetting control, one technique at a time, measured side by side in one run.

    python bench/forgetting.py [--recipe RECIPE] [--only NAME ...] [--variant NAME KEY=VALUE ...]
                                [--seeds N ...] [--out FILE] [--runs DIR]
    python bench/forgetting.py --reports RUN_DIR ...    # the tables of finished runs

(default recipe: data_recipes/medical_tiny-en_lora.yaml)

Runs `workbench run` on the recipe once per variant (overrides below), each in its own run
folder, and reads back every report.json: domain WER and term recall, base against adapted,
and the WER change on the general set (real everyday speech never trained on). Variants:
none (no replay, no distillation, no guard), replay alone, replay + distillation (the shipped
setting), the forgetting guard alone, a lower learning rate alone. Prints a table and writes
the figures as JSON. Each variant is a full run (minutes on a CPU): use --only to pick.
With several ``--seeds`` (``train.seed``) each variant runs once per seed and the table gives
the mean, with the spread (min..max) of the changes. A second table gives every system of
the reports (the boosted and gated ones too, with a lexicon boost: e.g. ``--variant tuned
lexicon.tune_boost=true``): eval WER, term recall and term false alarms per 1,000 words,
general WER and its term false alarms, as means over the seeds.
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
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = (
    "base",
    "base_boost",
    "adapted",
    "adapted_boost",
    "adapted_gated",
    "adapted_gated_boost",
)

OFF = ["train.replay_ratio=0", "train.distill_weight=0"]
VARIANTS: dict[str, list[str]] = {
    "none": OFF,
    "replay": ["train.distill_weight=0"],
    "replay+distill": [],
    # The shipped recipes have no data.general_dev: the guard then decides on the reported
    # general set, which the recipe must allow and the report marks as not independent.
    "guard": [
        *OFF,
        "train.max_general_loss_increase=0.05",
        "train.eval_steps=10",
        "data.allow_dependent_general=true",
    ],
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
    row["groups"] = {
        f"{field}={group}": {
            system: {"n": d["n"], "wer": d[system]["wer"], "term_recall": d[system]["term_recall"]}
            for system in SYSTEMS
            if system in d
        }
        for field, groups in (ev.get("groups") or {}).items()
        for group, d in groups.items()
    }
    row["boost"] = (report.get("boost_tuning") or {}).get("chosen", report["decoding"].get("boost"))
    row["systems"] = {
        system: {
            name: {
                "wer": data[system]["wer"],
                "term_recall": data[system].get("term_recall"),
                "term_false_alarms": data[system].get("term_false_alarms"),
                "term_false_alarms_per_1k_words": data[system].get(
                    "term_false_alarms_per_1k_words"
                ),
            }
            for name, data in sets.items()
            if system in data
        }
        for system in SYSTEMS
        if system in ev
    }
    return row


def run_figures(path: Path) -> dict:
    """The figures of a finished run folder (its report.json, recipe.yaml and status.json), or
    of a report.json that ``workbench eval RUN/recipe.yaml --adapter RUN/adapter --out`` wrote
    elsewhere (the run folder is then the one holding the report's adapter)."""
    import yaml

    report_path = path if path.is_file() else path / "report.json"
    report = json.loads(report_path.read_text())
    run_dir = report_path.parent if path.is_dir() else Path(report["adapter"]).parent
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    status = json.loads((run_dir / "status.json").read_text())
    _add_gated_boost(report, run_dir)
    row = {"variant": "reports", "seed": (recipe.get("train") or {}).get("seed", 0)}
    row.update(run=str(run_dir), steps=status.get("step"), **figures(report))
    return row


def _add_gated_boost(report: dict, run_dir: Path) -> None:
    """``adapted_gated_boost`` for a report written before it existed: the term gate over
    the per-utterance ``base_boost`` and ``adapted_boost`` texts, scored by the report's own
    ``compare_set``."""
    sys.path.insert(0, str(ROOT))
    sets = report["sets"]
    if "adapted_boost" not in sets["eval"] or "adapted_gated_boost" in sets["eval"]:
        return
    from workbench.data.manifest import Utterance
    from workbench.data.prepare import recipe_lexicon
    from workbench.decoding.gate import gate
    from workbench.evaluate.compare import compare_set
    from workbench.evaluate.normalize import get_normalizer
    from workbench.lexicon import UNSPACED_LANGUAGES
    from workbench.recipe import load_recipe

    lexicon = recipe_lexicon(load_recipe(run_dir / "recipe.yaml"))
    language = report.get("language") or "en"
    normalize, spaced = get_normalizer(language), language not in UNSPACED_LANGUAGES
    for data in sets.values():
        rows = data["utterances"]
        hyps = {s: [u[s] for u in rows] for s in ("base", "adapted", "base_boost", "adapted_boost")}
        hyps["adapted_gated_boost"], _ = gate(
            hyps["base_boost"], hyps["adapted_boost"], lexicon, normalize, spaced=spaced
        )
        utts = [Utterance(u["id"], u["audio"], u["reference"]) for u in rows]
        timing = dict.fromkeys(hyps, 0.0)
        scored = compare_set(utts, hyps, timing, normalize, lexicon, spaced)
        data["adapted_gated_boost"] = scored["adapted_gated_boost"]


def print_groups(rows: list[dict]) -> None:
    """Per variant, eval-set group (voice, condition) and system: mean WER and term recall."""
    print(f"\n{'variant':16} {'eval group':28} {'n':>4}  WER / term recall per system")
    for name in dict.fromkeys(r["variant"] for r in rows):
        runs = [r for r in rows if r["variant"] == name and r.get("groups")]
        for group in dict.fromkeys(g for r in runs for g in r["groups"]):
            cells, n = [], "-"
            for system in SYSTEMS:
                have = [r["groups"][group][system] for r in runs if system in r["groups"][group]]
                if not have:
                    continue
                n = str(have[0]["n"])
                recalls = [h["term_recall"] for h in have if h["term_recall"] is not None]
                recall = f"{mean(recalls):.3f}" if recalls else "-"
                cells.append(f"{system} {mean(h['wer'] for h in have):.3f}/{recall}")
            print(f"{name:16} {group:28} {n:>4}  " + "  ".join(cells))


def print_systems(rows: list[dict]) -> None:
    """Per variant and system: the means over seeds of every report figure."""
    print(
        f"\n{'variant':16} {'system':20} {'seeds':>5} {'eval WER':>8} {'recall':>6} "
        f"{'FA/1k':>6} {'general WER':>11} {'gen FA':>6}   (means over seeds)"
    )
    for name in dict.fromkeys(r["variant"] for r in rows):
        runs = [r for r in rows if r["variant"] == name and r.get("systems")]
        for system in SYSTEMS:
            have = [r["systems"][system] for r in runs if system in r["systems"]]
            if not have:
                continue

            def m(set_name: str, key: str, have: list[dict] = have) -> str:
                values = [h[set_name][key] for h in have if set_name in h]
                values = [v for v in values if v is not None]
                return f"{mean(values):.3f}" if values else "-"

            print(
                f"{name:16} {system:20} {len(have):>5} {m('eval', 'wer'):>8} "
                f"{m('eval', 'term_recall'):>6} {m('eval', 'term_false_alarms_per_1k_words'):>6} "
                f"{m('general', 'wer'):>11} {m('general', 'term_false_alarms'):>6}"
            )


def run_variant(
    args: argparse.Namespace, name: str, overrides: list[str], seed: int
) -> dict | None:
    """One full ``workbench run`` of a variant with ``train.seed=seed``; its figures, or None."""
    tag = name if len(args.seeds) == 1 else f"{name}-seed{seed}"
    run_dir = args.runs / tag
    # The log goes beside the run folder: the write rule refuses a run folder the workbench
    # did not make.
    log_path = args.runs / f"{tag}.log"
    command = [
        sys.executable,
        "-m",
        "workbench.cli",
        "run",
        args.recipe,
        "--run-dir",
        str(run_dir),
        *overrides,
        f"train.seed={seed}",
    ]
    shutil.rmtree(run_dir, ignore_errors=True)  # the bench's own folder from an earlier run
    args.runs.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log_path, "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - start
    report = run_dir / "report.json"
    if done.returncode != 0 or not report.exists():
        print(f"{tag}: failed (exit {done.returncode}); see {log_path}")
        return None
    row = {"variant": name, "seed": seed, "overrides": overrides, "wall_s": round(wall, 1)}
    row.update(figures(json.loads(report.read_text())))
    status = json.loads((run_dir / "status.json").read_text())
    row["steps"] = status.get("step")
    print(f"{tag}: done in {wall:.0f} s", flush=True)
    return row


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def print_table(rows: list[dict]) -> None:
    """Per variant: steps, base figure and the mean change (min..max over seeds)."""
    print(
        f"\n{'variant':16} {'seeds':>5} {'steps':>5} {'eval WER':>24} {'term recall':>24} "
        f"{'general WER':>24}"
    )
    for name in dict.fromkeys(r["variant"] for r in rows):
        runs = [r for r in rows if r["variant"] == name]

        def cell(base_key: str, adapted_key: str, runs: list[dict] = runs) -> str:
            pairs = [(r[base_key], r[adapted_key]) for r in runs if r[base_key] is not None]
            if not pairs:
                return "-"
            deltas = [100 * (a - b) for b, a in pairs]
            spread = f" ({min(deltas):+.1f}..{max(deltas):+.1f})" if len(deltas) > 1 else ""
            return f"{_mean([b for b, _ in pairs]):.3f}{_mean(deltas):+6.1f}pt{spread}"

        print(
            f"{name:16} {len(runs):>5} {runs[0]['steps']:>5} "
            f"{cell('eval_wer_base', 'eval_wer_adapted'):>24} "
            f"{cell('recall_base', 'recall_adapted'):>24} "
            f"{cell('general_wer_base', 'general_wer_adapted'):>24}"
        )


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
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[0], help="train.seed values (default: 0)"
    )
    parser.add_argument(
        "--reports",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="tabulate finished runs (a run folder, or a report.json workbench eval wrote for one)",
    )
    args = parser.parse_args()
    if args.reports:
        rows = [run_figures(d) for d in args.reports]
        print_table(rows)
        print_systems(rows)
        print_groups(rows)
        return

    variants = dict(VARIANTS)
    for name, *overrides in args.variant:
        variants[name] = overrides
    chosen = args.only if args.only is not None else ([] if args.variant else list(VARIANTS))
    chosen = chosen + [name for name, *_ in args.variant if name not in chosen]

    rows = []
    for name in chosen:
        for seed in args.seeds:
            row = run_variant(args, name, variants[name], seed)
            if row is not None:
                rows.append(row)
    print_table(rows)
    print_systems(rows)
    print_groups(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "platform": platform.platform()}
    args.out.write_text(
        json.dumps({"machine": machine, "recipe": str(args.recipe), "variants": rows}, indent=2)
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
