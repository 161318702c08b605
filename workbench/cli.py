"""The ``workbench`` command: a thin layer over the library (DESIGN.md section 10)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command imports the library lazily, so that --help is instant
    from workbench.models.loading import LoadedModel
    from workbench.recipe import Recipe
    from workbench.runs import RunDir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # as a shell reports a process ended by Ctrl-C


def _quiet_transformers() -> None:
    """Keep library chatter (progress bars, deprecation notes) out of the command's output."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    # peft calls a transformers helper that transformers 5 renamed; not the user's concern.
    warnings.filterwarnings("ignore", ".*is_gradient_checkpointing.*", FutureWarning)


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _load_recipe(path: Path, overrides: list[str], *, check_inputs: bool = False) -> Recipe | None:
    """The recipe, or None after printing every problem (file:line: key: message)."""
    from workbench.recipe import RecipeError, load_recipe

    try:
        return load_recipe(path, overrides, check_inputs=check_inputs)
    except RecipeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{path}: {n} problem{'s' if n != 1 else ''}", file=sys.stderr)
        return None


def cmd_recipe_validate(args: argparse.Namespace) -> int:
    recipe = _load_recipe(args.recipe, args.overrides, check_inputs=True)
    if recipe is None:
        return EXIT_USAGE
    print(f"{args.recipe}: valid (recipe {recipe.name!r}, base model {recipe.base_model})")
    return EXIT_OK


def cmd_data_prepare(args: argparse.Namespace) -> int:
    from workbench.data.prepare import SPLITS, DataError, check_prepare_target, prepare_data

    recipe = _load_recipe(args.recipe, args.overrides)
    if recipe is None:
        return EXIT_USAGE
    if args.out is not None and not _target_ok(
        lambda: check_prepare_target(args.out, recipes=[args.recipe])
    ):
        return EXIT_USAGE
    start = time.perf_counter()
    try:
        prepared = prepare_data(
            recipe, args.out, force=args.force, log=lambda m: print(m, flush=True)
        )
    except DataError as exc:
        _err(str(exc))
        return EXIT_FAILED
    splits = prepared.report["splits"]
    rows = [("SPLIT", "CLIPS", "HOURS", "SPEAKERS", "DROPPED")]
    rows += [
        (
            s,
            str(splits[s]["n"]),
            f"{splits[s]['hours']:.3f}",
            str(splits[s]["speakers"]),
            str(splits[s]["dropped"]),
        )
        for s in SPLITS
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    problems = [p for s in SPLITS for p in splits[s]["problems"]]
    if problems:
        print(f"\ndropped {len(problems)} row(s):")
        for problem in problems:
            print(f"  {problem}")
    how = (
        "already prepared, inputs unchanged"
        if prepared.cached
        else f"{time.perf_counter() - start:.1f} s"
    )
    print(f"\nmanifests in {prepared.folder} ({how})")
    return EXIT_OK


def _run_logger(run: RunDir) -> Callable[[str], None]:
    """Print, and append to train.log unless this process's output already goes there."""
    from workbench.runs import SUBPROCESS_ENV

    to_file = not os.environ.get(SUBPROCESS_ENV)

    def log(message: str) -> None:
        print(message, flush=True)
        if to_file:
            run.root.mkdir(parents=True, exist_ok=True)
            with open(run.log_path, "a") as f:
                f.write(message + "\n")

    return log


def _open_run(args: argparse.Namespace, recipe: Recipe) -> RunDir | None:
    """``--run-dir``, else a new run folder; None (after saying why) for a bad ``--resume``."""
    from workbench.runs import RunDir, new_run_dir
    from workbench.safe_write import check_new_run_dir

    if args.resume and args.run_dir is None:
        _err("--resume needs --run-dir: the run to continue")
        return None
    if args.run_dir is None:
        return new_run_dir(recipe.name)
    # Under torchrun every rank opens the same folder; the first checks it (the others
    # would see what it has begun to write), and a refusal there ends them all.
    first_rank = os.environ.get("RANK", "0") == "0"
    if (
        not args.resume
        and first_rank
        and not _target_ok(lambda: check_new_run_dir(args.run_dir, recipes=[args.recipe]))
    ):
        return None
    return RunDir(args.run_dir)


def _target_ok(check: Callable[[], object]) -> bool:
    """Run a write-target check (:mod:`workbench.safe_write`); False after saying why not."""
    from workbench.safe_write import TargetError

    try:
        check()
    except TargetError as exc:
        _err(str(exc))
        return False
    return True


def cmd_train(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from workbench.data.prepare import DataError
    from workbench.train.loop import TrainError, train_recipe

    recipe = _load_recipe(args.recipe, args.overrides)
    run = _open_run(args, recipe) if recipe is not None else None
    if run is None:
        return EXIT_USAGE
    status = run.status()
    if status.get("state") in ("running", "queued") and status.get("pid") != os.getpid():
        # (A trainer started by start_training finds its own pid in the status.)
        pid = status.get("pid")
        _err(f"{run.root} is already training (pid {pid}); stop it or choose another --run-dir")
        return EXIT_USAGE
    print(f"run folder: {run.root}", flush=True)
    try:
        result = train_recipe(recipe, run, resume=args.resume, log=_run_logger(run))
    except (TrainError, DataError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    return EXIT_OK if result.state in ("done", "stopped") else EXIT_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    """Prepare, then train in a subprocess (output in train.log, followed here), evaluate,
    export; each phase is written to the run's status for anyone watching."""
    from workbench.data.prepare import DataError, prepare_data
    from workbench.runs import start_training

    recipe = _load_recipe(args.recipe, args.overrides)
    run = _open_run(args, recipe) if recipe is not None else None
    if run is None:
        return EXIT_USAGE
    if args.resume and not run.status_path.is_file():
        _err(f"{run.root} is not a run folder (no status.json); nothing to resume")
        return EXIT_USAGE
    from workbench.runs import PREP_FIELDS, EvalProgress, PrepareProgress, finished

    if args.resume and finished(run):
        # Resuming would only decode the evaluation sets again: `workbench eval` does that.
        print(f"{run.root} is finished (report.json written); nothing to resume")
        return EXIT_OK
    start = time.perf_counter()

    def phase(name: str, **fields: object) -> None:
        run.write_status(phase=name, pipeline_pid=os.getpid(), **fields)

    def fail(message: str) -> int:
        _err(message)
        run.write_status(phase="failed", pipeline_pid=None, error=message)
        return EXIT_FAILED

    # The counts of an earlier attempt go: the page shows this one's from its first clip.
    phase("preparing", recipe_path=str(args.recipe), error=None, **dict.fromkeys(PREP_FIELDS))
    print(f"run folder: {run.root}", flush=True)
    try:
        prepared = prepare_data(
            recipe, log=lambda m: print(m, flush=True), progress=PrepareProgress(run)
        )
    except DataError as exc:
        return fail(str(exc))
    if recipe.lexicon.tune_boost:  # told now, not after training
        problem = _tuning_problem(recipe, prepared)
        if problem:
            return fail(f"{args.recipe}: lexicon.tune_boost: {problem}")
    phase("training")
    print(f"training (log: {run.log_path}) ...", flush=True)
    proc = start_training(args.recipe, run, args.overrides, resume=args.resume)
    # The trainer runs in a session of its own (so that it outlives a closed UI): Ctrl-C and
    # SIGTERM reach only this process, which passes them on as a STOP at the next step.
    interrupted = False
    follow = _LogFollower(run.log_path)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while True:
            try:
                while proc.poll() is None:
                    follow()
                    time.sleep(1.0)
                break
            except KeyboardInterrupt:
                if interrupted:  # the second time: no waiting for the step to end
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
                interrupted = True
                run.request_stop()
                print(
                    "\ninterrupted: the trainer stops after its current step and saves a "
                    "checkpoint (interrupt again to kill it)",
                    flush=True,
                )
    finally:
        signal.signal(signal.SIGTERM, previous)
    follow()
    status = run.status()
    print(
        f"training {status.get('state')} at step {status.get('step')} "
        f"({time.perf_counter() - start:.0f} s in all)"
    )
    if interrupted:
        run.write_status(phase="stopped", pipeline_pid=None)
        print(f"resume with: workbench run {args.recipe} --run-dir {run.root} --resume")
        return EXIT_INTERRUPTED
    if status.get("state") not in ("done", "stopped"):
        return fail(status.get("error") or "training failed; see train.log")
    if status.get("state") == "stopped" and not status.get("stopped_by"):
        # Stopped by hand (a STOP file): the user resumes or evaluates when they choose.
        run.write_status(phase="stopped", pipeline_pid=None)
        print("stopped on request; resume with --resume")
        return EXIT_OK
    _quiet_transformers()
    # The counts of an earlier attempt go: the page shows this one's from its first clip.
    phase("evaluating", eval_done=None, eval_total=None, eval_eta_s=None)
    try:
        code = _evaluate(recipe, run.adapter, run.report, progress=EvalProgress(run))
    except BaseException as exc:  # a watcher must see the failure, whatever it was
        run.write_status(phase="failed", pipeline_pid=None, error=f"evaluation: {exc!r}")
        raise
    if code != EXIT_OK:
        return fail("evaluation failed; see pipeline.log")
    phase("exporting")
    from workbench.export.package import ExportError, export_peft

    try:
        folder, archive = export_peft(run.root, run.root / "export" / "peft")
    except ExportError as exc:
        return fail(str(exc))
    print(f"adapter package: {folder} ({archive.name})")
    run.write_status(phase="finished", pipeline_pid=None)
    print(f"({time.perf_counter() - start:.0f} s in all)")
    return EXIT_OK


def _tuning_problem(recipe: Recipe, prepared) -> str | None:
    """Why the prepared data cannot tune the boost, or None."""
    from workbench.data.prepare import DataError, recipe_lexicon
    from workbench.decoding.tuning import TuningError, check_tunable
    from workbench.lexicon import UNSPACED_LANGUAGES

    try:
        sets = {name: prepared.utterances(name) for name in ("eval", "general", "general_dev")}
        spaced = (recipe.language or "en") not in UNSPACED_LANGUAGES
        check_tunable(sets, recipe_lexicon(recipe), spaced=spaced)
    except (TuningError, DataError) as exc:
        return str(exc)
    return None


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class _LogFollower:
    """Prints what was appended to a log file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path, self.position = path, 0

    def __call__(self) -> None:
        if not self.path.exists():
            return
        with open(self.path) as f:
            f.seek(self.position)
            chunk = f.read()
            self.position = f.tell()
        if chunk:
            print(chunk, end="", flush=True)


def _evaluate(
    recipe: Recipe,
    adapter: Path,
    out: Path,
    data: list[str] | None = None,
    prompt: bool | None = None,
    boost: float | None = None,
    lexicon: Path | None = None,
    force: bool = False,
    foreign: bool = False,
    progress: Callable[[int, int], None] | None = None,
    tune_boost: bool | None = None,
    teacher: bool | None = None,
) -> int:
    from workbench.data.prepare import DataError
    from workbench.decoding.tuning import TuningError
    from workbench.evaluate.compare import (
        EvalError,
        check_report_targets,
        evaluate_adapter,
        summary_table,
        write_report,
    )
    from workbench.export.adapter_check import AdapterError
    from workbench.lexicon import LexiconError
    from workbench.safe_write import enclosing_run

    own_run = enclosing_run(adapter.resolve())
    # Checked before the evaluation, which can take long: a bad --out fails at once.
    if not _target_ok(lambda: check_report_targets(out, force=force, own_run=own_run)):
        return EXIT_USAGE
    try:
        report = evaluate_adapter(
            recipe,
            adapter,
            data=data,
            prompt=prompt,
            boost=boost,
            lexicon_path=lexicon,
            foreign=foreign,
            tune_boost=tune_boost,
            teacher=teacher,
            log=lambda m: print(m, flush=True),
            progress=progress,
        )
    except (EvalError, DataError, AdapterError, LexiconError, TuningError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    written = write_report(report, out, force=force, own_run=own_run)
    print("\n" + summary_table(report))
    print("\nwritten: " + ", ".join(str(p) for p in written))
    return EXIT_OK


# Decoding flags shared by `transcribe` and `eval`: flag name -> DecodingOptions field.
DECODING_FLAGS = {
    "beams": "beam_size",
    "best_of": "best_of",
    "temperatures": "temperatures",
    "compression_ratio_threshold": "compression_ratio_threshold",
    "logprob_threshold": "logprob_threshold",
    "no_speech_threshold": "no_speech_threshold",
    "max_tokens_per_second": "max_tokens_per_second",
}


def _add_decoding_flags(parser: argparse.ArgumentParser, where: str) -> None:
    """The decoding flags; a flag not given leaves the setting to ``where``."""
    group = parser.add_argument_group(
        f"decoding (default: {where}; 'none' turns a threshold off)",
        argument_default=argparse.SUPPRESS,  # absent unless given: 'none' is a value
    )
    group.add_argument("--beams", type=int, help="beam size at temperature 0 (1: greedy)")
    group.add_argument("--best-of", type=int, help="candidates sampled above temperature 0 (5)")
    group.add_argument(
        "--temperatures",
        type=_float_list,
        metavar="T,T,...",
        help="fallback temperatures, tried in turn (0,0.2,0.4,0.6,0.8,1)",
    )
    for flag, default, what in (
        ("--compression-ratio-threshold", 2.4, "a transcript compressing more is a loop"),
        ("--logprob-threshold", -1.0, "mean token log-prob under it falls back"),
        ("--no-speech-threshold", 0.6, "no-speech prob over it (log-prob low) drops a window"),
        ("--max-tokens-per-second", 25.0, "of audio; a window reaching it falls back"),
    ):
        group.add_argument(
            flag, type=_optional_float, metavar="X|none", help=f"{what} ({default:g})"
        )
    group.add_argument(
        "--no-guards",
        action="store_true",
        default=False,
        help="plain decoding at temperature 0: no fallback, no drop, no token cap",
    )


def _float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None


def _optional_float(text: str) -> float | None:
    if text.strip().lower() in ("none", "null", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def _decoding_settings(args: argparse.Namespace) -> dict:
    """The decoding flags given on the command line, as DecodingOptions fields."""
    out = {}
    if getattr(args, "no_guards", False):
        out.update(
            temperatures=[0.0],
            compression_ratio_threshold=None,
            logprob_threshold=None,
            no_speech_threshold=None,
            max_tokens_per_second=None,
        )
    for flag, name in DECODING_FLAGS.items():
        if hasattr(args, flag):
            out[name] = getattr(args, flag)
    return out


def _decoding_overrides(args: argparse.Namespace) -> list[str]:
    """The decoding flags as recipe overrides (``eval.decoding.X=value``)."""
    import json

    return [
        f"eval.decoding.{name}={json.dumps(value)}"
        for name, value in _decoding_settings(args).items()
    ]


def cmd_eval(args: argparse.Namespace) -> int:
    _quiet_transformers()
    recipe = _load_recipe(args.recipe, [*args.overrides, *_decoding_overrides(args)])
    if recipe is None:
        return EXIT_USAGE
    out = args.out
    if out is None:  # a run's adapter reports into its run folder
        parent = args.adapter.resolve().parent
        out = parent / "report.json" if (parent / "status.json").is_file() else Path("report.json")
    if args.boost is not None and args.boost < 0:
        _err(f"--boost: expected 0 (off) or more, got {args.boost}")
        return EXIT_USAGE
    if args.tune_boost and args.boost is not None:
        _err("--tune-boost chooses the strength: give it or --boost X, not both")
        return EXIT_USAGE
    if args.tune_boost and args.data:
        _err("--tune-boost needs the recipe's eval and general sets; it does not take --data")
        return EXIT_USAGE
    return _evaluate(
        recipe,
        args.adapter,
        out,
        data=args.data,
        prompt=args.prompt,
        boost=args.boost,
        lexicon=args.lexicon,
        force=args.force,
        foreign=args.foreign_adapter,
        tune_boost=args.tune_boost,
        teacher=False if args.no_teacher else None,
    )


def cmd_augment(args: argparse.Namespace) -> int:
    import json

    from workbench.audio import AudioError
    from workbench.augment.pipeline import augment_file

    recipe = _load_recipe(args.recipe, args.overrides)
    if recipe is None:
        return EXIT_USAGE
    try:
        params = augment_file(recipe, args.audio, args.out, seed=args.seed)
    except AudioError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except ValueError as exc:
        _err(f"{args.recipe}: {exc}")
        return EXIT_USAGE
    print(json.dumps(params))
    return EXIT_OK


def _load(spec: str) -> LoadedModel | None:
    from workbench.models.bundled import ModelPackageError
    from workbench.models.loading import ModelLoadError, load_model

    try:
        return load_model(spec)
    except (ModelLoadError, ModelPackageError) as exc:
        _err(str(exc))
        return None


def _transcribe_boost(args: argparse.Namespace, transcriber, adapters):
    """The lexicon boost per adapter (None: no adapter), as ``{name: (processor, rewriter)}``
    (both None: no boost), or False after saying what is wrong.

    ``--boost X`` sets the strength for all (0: off, the near-miss rewrite too), with
    ``--lexicon`` or else each adapter's ``lexicon.tsv`` (the first found, for an adapter
    without one); without it, each adapter package decodes with its own default
    (``lexicon_boost.json``: the strength and the near-miss rewrite).
    """
    from workbench.decoding.boost import boost_processor
    from workbench.decoding.snap import lexicon_rewriter
    from workbench.export.adapter_check import AdapterError
    from workbench.export.boost_setting import read_package_boost
    from workbench.lexicon import UNSPACED_LANGUAGES, LexiconError, load_lexicon

    if args.lexicon is not None and not args.boost and not args.term_gate:
        _err("--lexicon: give --boost X (above 0) or --term-gate to decode with it")
        return False
    if args.boost is not None and args.boost < 0:
        _err(f"--boost: expected 0 (off) or more, got {args.boost}")
        return False
    folders = {name: adapters.folders[name] for name in adapters.names} or {None: None}
    first = next(
        (f / "lexicon.tsv" for f in adapters.folders.values() if (f / "lexicon.tsv").is_file()),
        None,
    )
    wanted: dict[str | None, tuple[float, Path | None, float]] = {}
    for name, folder in folders.items():
        try:
            default = read_package_boost(folder) if folder is not None else None
        except AdapterError as exc:
            _err(f"--adapter: {exc}")
            return False
        near_miss = default.near_miss if default is not None else 0.0
        if args.boost is not None:
            own = folder / "lexicon.tsv" if folder is not None else None
            own = own if own is not None and own.is_file() else first
            wanted[name] = (args.boost, args.lexicon or own, near_miss if args.boost else 0.0)
            continue
        if default is not None and default.active:
            print(f"note: {name}: {default.describe()}", file=sys.stderr)
            wanted[name] = (default.boost, default.lexicon, near_miss)
    spaced = (transcriber.options.language or "en") not in UNSPACED_LANGUAGES
    tokenizer = transcriber.loaded.processor.tokenizer
    plan: dict = dict.fromkeys(folders, (None, None))
    lexicons: dict[Path, object] = {}
    for name, (strength, path, near_miss) in wanted.items():
        if not strength and not near_miss:
            continue
        if path is None:
            _err(
                "--boost needs a lexicon: --lexicon FILE, or an adapter package with its "
                "lexicon.tsv"
            )
            return False
        if path not in lexicons:
            try:
                lexicons[path] = load_lexicon(path)
            except LexiconError as exc:
                _err(f"--lexicon: {exc}")
                return False
        lexicon = lexicons[path]
        processor = None
        if strength:
            processor = boost_processor(lexicon, tokenizer, strength, spaced=spaced)
        rewriter = lexicon_rewriter(lexicon, tokenizer, spaced=spaced, near_miss=near_miss)
        plan[name] = (processor, rewriter)
    return plan


def _term_gate(args: argparse.Namespace, transcriber, adapters, rewrite=None):
    """The term gate of ``--term-gate`` over the one adapter (comparing transcripts after
    ``rewrite``, the boost's misrecognition rewrite), or False after saying why not."""
    from workbench.decoding.gate import TermGate
    from workbench.lexicon import UNSPACED_LANGUAGES, LexiconError, load_lexicon

    if len(adapters.names) != 1:
        _err(f"--term-gate: give exactly one --adapter, got {len(adapters.names)}")
        return False
    name = adapters.names[0]
    path = args.lexicon or adapters.folders[name] / "lexicon.tsv"
    if not path.is_file():
        _err(f"--term-gate needs a lexicon: --lexicon FILE, or {path} in the adapter package")
        return False
    try:
        lexicon = load_lexicon(path)
    except LexiconError as exc:
        _err(f"--lexicon: {exc}")
        return False
    spaced = (transcriber.options.language or "en") not in UNSPACED_LANGUAGES
    return TermGate(transcriber, adapters, name, lexicon, spaced=spaced, rewrite=rewrite)


def cmd_transcribe(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from workbench.decoding import DecodingOptions
    from workbench.export.adapter_check import AdapterError
    from workbench.schema import SpecError
    from workbench.transcribe import UNPROMPTED_NOTE, AdapterSet, DecodeOptions, Transcriber

    flags = {name: flag for flag, name in DECODING_FLAGS.items()}
    try:  # settings first: a bad flag is told before a model loads
        decoding = DecodingOptions(**_decoding_settings(args))
    except SpecError as exc:
        for name, message in exc.problems:
            _err(f"--{flags[name].replace('_', '-')}: {message}")
        return EXIT_USAGE
    loaded = _load(args.model)
    if loaded is None:
        return EXIT_USAGE
    try:
        adapters = AdapterSet(loaded, args.adapter or [], foreign=args.foreign_adapter)
    except AdapterError as exc:
        _err(f"--adapter: {exc}")
        return EXIT_USAGE
    prompt = None
    if args.lexicon_prompt:
        from workbench.lexicon import LexiconError

        try:
            prompt = adapters.prompt_text()
        except LexiconError as exc:
            _err(f"--lexicon-prompt: the adapter's lexicon.tsv is not usable:\n{exc}")
            return EXIT_USAGE
        if prompt is None:
            _err("--lexicon-prompt needs an adapter package with its lexicon.tsv")
            return EXIT_USAGE
        for name in adapters.trained_without_prompt():
            print(f"note: {name}: {UNPROMPTED_NOTE}", file=sys.stderr)
    options = DecodeOptions(
        decoding=decoding,
        language=args.language,
        prompt=prompt,
        max_new_tokens=args.max_new_tokens,
        encoder_precision=args.encoder_precision,
    )
    try:
        transcriber = Transcriber(loaded, options, batch_size=args.batch_size)
    except ValueError as exc:
        _err(f"--language: {exc}")
        return EXIT_USAGE
    plan = _transcribe_boost(args, transcriber, adapters)
    if plan is False:
        return EXIT_USAGE
    gated = None
    if args.term_gate:
        rewrite = plan[adapters.names[0]][1] if len(adapters.names) == 1 else None
        gated = _term_gate(args, transcriber, adapters, rewrite)
        if gated is False:
            return EXIT_USAGE
    failed = 0
    for name in adapters.names or [None]:
        adapters.activate(name)  # the base stays loaded; only the adapter switches
        processor, rewrite = plan[name]
        transcriber.set_logits_processors([processor] if processor is not None else [])
        prefix = f"{name}\t" if len(adapters.names) > 1 else ""
        decode = None
        if gated:
            rewrite, decode = None, gated.transcribe_arrays  # the gate has rewritten both sides
        for result in transcriber.transcribe_files(args.audio, decode):
            if result.ok:
                text = rewrite(result.text) if rewrite is not None else result.text
                print(f"{result.path}\t{prefix}{text}", flush=True)
            else:
                failed += 1
                _err(result.error or "")
    if failed:
        print(f"{failed} transcription(s) failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_label(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from workbench.label import LabelError, check_label_target, label_audio

    recipe = _load_recipe(args.recipe, [*args.overrides, *_decoding_overrides(args)])
    if recipe is None:
        return EXIT_USAGE
    out = args.out or Path("labels") / recipe.name
    if not _target_ok(lambda: check_label_target(out, recipes=[args.recipe], force=args.force)):
        return EXIT_USAGE
    try:
        result = label_audio(
            recipe,
            out,
            teacher=args.teacher,
            adapter=args.teacher_adapter,
            boost=args.boost,
            lexicon_path=args.lexicon,
            check=args.check,
            force=args.force,
            foreign_adapter=args.foreign_adapter,
            batch_size=args.batch_size,
            recipes=[args.recipe],
            log=lambda m: print(m, flush=True),
        )
    except LabelError as exc:
        _err(str(exc))
        return EXIT_FAILED
    s = result.summary
    print(
        f"\n{s['clips']} clips labelled by {s['teacher']} in {s['decode_seconds']:.1f} s "
        f"({s['clips_per_minute']} clips/min); kept {s['kept']}, dropped {s['dropped']}"
    )
    for reason, n in s["dropped_by_reason"].items():
        print(f"  dropped for {reason}: {n}")
    if s["refused_audio"]:
        print(f"{len(s['refused_audio'])} clip(s) refused before labelling:")
        for problem in s["refused_audio"]:
            print(f"  {problem}")
    check = s["check"]
    if check:

        def wer(part: dict) -> str:
            return "-" if part["wer"] is None else f"{part['wer']:.3f} (n={part['n']})"

        print(
            f"\nteacher WER against {check['manifest']} ({check['n']} clips): all "
            f"{wer(check['all'])}, kept {wer(check['kept'])}, dropped {wer(check['dropped'])}"
        )
        for row in check["by_avg_logprob"]:
            print(f"  avg_logprob {row['bucket']}: WER {wer(row)}")
    print(
        f"\nmanifests in {result.folder}: {result.kept.name} (kept; train on it with "
        f"data.train: [{{source: manifest, path: {result.kept}}}]), labels.jsonl (all), "
        "summary.json"
    )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from workbench.export.adapter_check import AdapterError
    from workbench.export.package import ExportError, export_ct2, export_merged, export_peft

    run = args.run_dir
    out = args.out or run / "export" / args.format
    force = args.force
    try:
        if args.format == "peft":
            folder, archive = export_peft(run, out, force=force)
            print(f"adapter package: {folder}\nzip: {archive}")
        elif args.format == "merged":
            print(f"merged model: {export_merged(run, out, force=force)}")
        else:
            folder = export_ct2(run, out, args.quantization, force=force)
            print(f"faster-whisper model ({args.quantization}): {folder}")
    except (ExportError, AdapterError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from workbench.export.adapter_check import AdapterError
    from workbench.serve.config import ServeConfig, ServeConfigError, parse_adapter
    from workbench.serve.server import ServeError, serve

    try:
        config = ServeConfig(
            model=args.model,
            adapters=[parse_adapter(a) for a in args.adapter or []],
            host=args.host,
            port=args.port,
            api_key_env=args.api_key_env,
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            max_queue=args.max_queue,
            max_upload_mb=args.max_upload_mb,
            max_audio_seconds=args.max_audio_seconds,
            max_new_tokens=args.max_new_tokens,
            threads=args.threads,
        )
        serve(config, log=lambda m: print(m, flush=True))
    except (ServeConfigError, AdapterError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except ServeError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cmd_models(args: argparse.Namespace) -> int:
    from workbench.models.bundled import (
        BUNDLED,
        ModelPackageError,
        cache_dir,
        ensure_converted,
        is_converted,
        part_paths,
    )

    if args.convert:
        _quiet_transformers()
        names = list(BUNDLED) if args.convert == ["all"] else args.convert
        for name in names:
            if name not in BUNDLED:
                _err(f"no bundled model {name!r}; available: {', '.join(BUNDLED)}")
                return EXIT_USAGE
            try:
                path = ensure_converted(BUNDLED[name])
            except ModelPackageError as exc:
                _err(str(exc))
                return EXIT_FAILED
            print(f"bundled:{name} converted: {path}")
    rows = [("MODEL", "LANGUAGES", "PACKAGE", "CONVERTED", "SIZE", "CACHE")]
    for model in BUNDLED.values():
        try:
            installed = all(p.is_file() for p in part_paths(model))
        except ModelPackageError:
            installed = False
        converted = is_converted(model)
        size = f"{_folder_size(cache_dir(model)) / 1e6:.0f} MB" if converted else "-"
        rows.append(
            (
                model.spec,
                "multilingual" if model.multilingual else "English",
                "installed"
                if installed
                else "missing: pip install " + " ".join(model.distributions),
                "yes" if converted else "no",
                size,
                str(cache_dir(model)) if converted else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    _print_precision_choices()
    return EXIT_OK


def _print_precision_choices() -> None:
    """The encoder precisions ``auto`` measured on this machine, with their timings."""
    import torch

    from workbench.models.precision import native_bf16
    from workbench.models.probe import cache_path, describe, machine_choices, processor_name

    print(
        f"\nencoder_precision auto on this machine ({processor_name('cpu')}, torch "
        f"{torch.__version__}):"
    )
    if not native_bf16("cpu") and not torch.cuda.is_available():
        print("  no native bf16 here: fp32, nothing to measure")
        return
    entries = machine_choices()
    for entry in entries:
        print(f"  {entry['model']}: {describe(entry)}")
    if not entries:
        print("  not measured yet: measured on a model's first use with auto")
    print(f"  (kept in {cache_path()}; delete it to measure again)")


def cmd_demo(args: argparse.Namespace) -> int:
    _quiet_transformers()
    import jiwer

    from workbench.demo import librivox_clips
    from workbench.evaluate.normalize import get_normalizer
    from workbench.transcribe import Transcriber

    try:
        clips = librivox_clips()
    except FileNotFoundError as exc:
        _err(str(exc))
        return EXIT_FAILED
    print(f"Loading {args.model} (converted from its PyPI package on first use) ...", flush=True)
    start = time.perf_counter()
    loaded = _load(args.model)
    if loaded is None:
        return EXIT_USAGE
    print(f"  ready in {time.perf_counter() - start:.1f} s: {loaded.path}")
    print(f"Transcribing {len(clips)} LibriVox clips (Debian pocketsphinx-testdata) ...\n")
    normalize = get_normalizer("en")
    refs, hyps = [], []
    start = time.perf_counter()
    results = Transcriber(loaded).transcribe_files([c.path for c in clips])
    for clip, result in zip(clips, results, strict=False):
        if not result.ok:
            _err(result.error or "")
            continue
        print(f"{clip.path.name}\n  reference:  {clip.text}\n  transcript: {result.text}")
        refs.append(normalize(clip.text))
        hyps.append(normalize(result.text or ""))
    elapsed = time.perf_counter() - start
    if refs:
        wer = jiwer.process_words(refs, hyps).wer
        print(
            f"\nWER {wer:.3f} over {len(refs)} clips (Whisper English normalizer), {elapsed:.1f} s"
        )
    print(
        "\nNext: `workbench transcribe YOUR.wav`, `workbench models`, `workbench recipe validate`."
    )
    return EXIT_OK if len(refs) == len(clips) else EXIT_FAILED


def _add_recipe_args(parser: argparse.ArgumentParser) -> None:
    """The recipe file and its ``key.path=value`` overrides, as every recipe command takes."""
    parser.add_argument("recipe", type=Path, help="recipe YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="overrides")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Adapt Whisper to a specialist domain: recipes, training, evaluation.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    recipe = sub.add_parser("recipe", help="check recipe files")
    recipe_sub = recipe.add_subparsers(dest="recipe_command", required=True, metavar="ACTION")
    validate = recipe_sub.add_parser(
        "validate", help="check a recipe; exit 0 if valid, 2 listing every problem"
    )
    _add_recipe_args(validate)
    validate.set_defaults(func=cmd_recipe_validate)

    data = sub.add_parser("data", help="prepare a recipe's data")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    prepare = data_sub.add_parser(
        "prepare", help="validate every source and write train/eval/general manifests"
    )
    _add_recipe_args(prepare)
    prepare.add_argument("--out", type=Path, help="folder for the manifests (default: the cache)")
    prepare.add_argument("--force", action="store_true", help="prepare again even if unchanged")
    prepare.set_defaults(func=cmd_data_prepare)

    train = sub.add_parser("train", help="train a recipe's adapter into a run folder")
    _add_recipe_args(train)
    train.add_argument("--run-dir", type=Path, help="run folder (default: runs/<name>-<time>)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.set_defaults(func=cmd_train)

    run = sub.add_parser("run", help="prepare, train (as a subprocess), evaluate, export")
    _add_recipe_args(run)
    run.add_argument("--run-dir", type=Path, help="run folder (default: runs/<name>-<time>)")
    run.add_argument(
        "--resume", action="store_true", help="continue the run's training, then evaluate"
    )
    run.set_defaults(func=cmd_run)

    evaluate = sub.add_parser("eval", help="compare the adapted model with the base model")
    _add_recipe_args(evaluate)
    evaluate.add_argument(
        "--adapter", type=Path, required=True, help="adapter folder (a run's adapter/)"
    )
    evaluate.add_argument(
        "--data",
        action="append",
        metavar="MANIFEST",
        help="evaluate on this manifest (any accepted form), not the recipe's sets; repeatable",
    )
    evaluate.add_argument("--out", type=Path, help="report.json path (default: the run folder)")
    evaluate.add_argument(
        "--force",
        action="store_true",
        help="replace files at --out (and utterances.csv, report.html beside it) that the "
        "workbench did not write",
    )
    evaluate.add_argument(
        "--prompt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also decode with the lexicon as prompt (default: the recipe's lexicon.prompt)",
    )
    evaluate.add_argument(
        "--boost",
        type=float,
        metavar="X",
        help="also decode with the lexicon boost at strength X (base_boost, adapted_boost); "
        "default: the recipe's lexicon.boost, 0 = off",
    )
    evaluate.add_argument(
        "--lexicon", type=Path, metavar="FILE", help="a lexicon.tsv other than the recipe's"
    )
    evaluate.add_argument(
        "--tune-boost",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="choose the boost from the recipe's lexicon.boost_grid on a dev fifth of the eval "
        "set (then not scored), keeping the WER of data.general_dev (else the general set) "
        "within 0.5 point of no boost and its term false alarms at most 1 per 1,000 words "
        "(default: the recipe's lexicon.tune_boost)",
    )
    evaluate.add_argument(
        "--foreign-adapter",
        action="store_true",
        help="the adapter was made elsewhere (no workbench_adapter.json); its peft config "
        "must name the base model",
    )
    evaluate.add_argument(
        "--no-teacher",
        action="store_true",
        help="leave out the teacher that labelled the training data (or train.teacher), "
        "which is otherwise decoded as a third system; it saves its decoding time "
        "(the recipe's eval.teacher: false does the same)",
    )
    _add_decoding_flags(evaluate, "the recipe's eval.decoding")
    evaluate.set_defaults(func=cmd_eval)

    export = sub.add_parser(
        "export", help="package a run's adapter, merged model or CTranslate2 model"
    )
    export.add_argument("run_dir", type=Path, help="the run folder")
    export.add_argument("--format", choices=("peft", "merged", "ct2"), default="peft")
    export.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/export/FORMAT)")
    export.add_argument(
        "--force",
        action="store_true",
        help="replace a folder (or OUT.zip) at --out that the workbench did not write",
    )
    export.add_argument(
        "--quantization",
        default="int8",
        choices=("int8", "int8_float32", "float16", "float32"),
        help="ct2 only: weight type of the faster-whisper model",
    )
    export.set_defaults(func=cmd_export)

    augment = sub.add_parser(
        "augment", help="write one clip augmented by a recipe; print the drawn parameters (JSON)"
    )
    augment.add_argument("recipe", type=Path, help="recipe YAML file")
    augment.add_argument("audio", type=Path, help="input clip")
    augment.add_argument("overrides", nargs="*", metavar="key.path=value", help="overrides")
    augment.add_argument("--out", type=Path, required=True, help="output file (.wav, .flac)")
    augment.add_argument("--seed", type=int, default=0, help="same seed, same augmentation")
    augment.set_defaults(func=cmd_augment)

    transcribe = sub.add_parser(
        "transcribe", help="print 'path<TAB>text' for each audio file (exit 1 if any failed)"
    )
    transcribe.add_argument("audio", nargs="+", type=Path, help="wav, flac, mp3, ogg, ...")
    transcribe.add_argument(
        "--model", default="bundled:tiny.en", help="bundled:NAME, folder or hub id"
    )
    transcribe.add_argument("--language", help="language code, multilingual models only")
    _add_decoding_flags(transcribe, "Whisper's usual guards, greedy")
    transcribe.add_argument("--batch-size", type=int, default=8)
    transcribe.add_argument(
        "--max-new-tokens",
        type=int,
        metavar="N",
        help="at most N tokens per clip (per 30-second window of a longer one)",
    )
    transcribe.add_argument(
        "--encoder-precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="the encoder's precision; auto: the faster here, measured on first use and kept",
    )
    transcribe.add_argument(
        "--adapter",
        action="append",
        type=Path,
        metavar="DIR",
        help="an adapter (package or run's adapter/); repeat to compare several on one base",
    )
    transcribe.add_argument(
        "--lexicon-prompt", action="store_true", help="bias decoding with the adapter's lexicon"
    )
    transcribe.add_argument(
        "--boost",
        type=float,
        metavar="X",
        help="boost the lexicon's terms while decoding (0: off; try 2) and rewrite their known "
        "misrecognitions; the lexicon: --lexicon, else the adapter package's. Default: an "
        "adapter package's own strength (its lexicon_boost.json), else off",
    )
    transcribe.add_argument(
        "--lexicon",
        type=Path,
        metavar="FILE",
        help="the lexicon.tsv to boost (with --boost) or to gate on (with --term-gate)",
    )
    transcribe.add_argument(
        "--term-gate",
        action="store_true",
        help="with one --adapter: its transcript only where it changes a lexicon term, else "
        "the base model's (everyday speech stays as the base writes it; two decoder passes)",
    )
    transcribe.add_argument(
        "--foreign-adapter",
        action="store_true",
        help="the adapter was made elsewhere (no workbench_adapter.json); its peft config "
        "must name the base model",
    )
    transcribe.set_defaults(func=cmd_transcribe)

    label = sub.add_parser(
        "label", help="a teacher model's pseudo-labels for the recipe's data.unlabeled audio"
    )
    _add_recipe_args(label)
    label.add_argument(
        "--teacher",
        metavar="MODEL",
        help="bundled:NAME, folder or hub id (default: bundled:base when installed, else "
        "the recipe's base_model)",
    )
    label.add_argument(
        "--teacher-adapter", type=Path, metavar="PKG", help="an adapter for the teacher"
    )
    label.add_argument(
        "--foreign-adapter",
        action="store_true",
        help="the teacher's adapter was made elsewhere (no workbench_adapter.json)",
    )
    label.add_argument(
        "--out", type=Path, help="folder for the manifests (default: labels/<recipe name>)"
    )
    label.add_argument(
        "--force",
        action="store_true",
        help="replace a folder at --out that `workbench label` did not write",
    )
    label.add_argument(
        "--check",
        type=Path,
        metavar="MANIFEST",
        help="a labelled manifest of some of the same audio (matched by path): report the "
        "teacher's WER against it, overall and per confidence bucket",
    )
    label.add_argument(
        "--boost",
        type=float,
        metavar="X",
        help="boost the lexicon's terms while decoding (default: the recipe's lexicon.boost)",
    )
    label.add_argument(
        "--lexicon", type=Path, metavar="FILE", help="a lexicon.tsv other than the recipe's"
    )
    label.add_argument("--batch-size", type=int, help="default: the recipe's eval.batch_size")
    _add_decoding_flags(label, "the recipe's eval.decoding")
    label.set_defaults(func=cmd_label)

    serve = sub.add_parser(
        "serve",
        help="the OpenAI audio API (/v1/audio/transcriptions) for a base model and adapters",
    )
    serve.add_argument("--model", default="bundled:tiny.en", help="bundled:NAME, folder or hub id")
    serve.add_argument(
        "--adapter",
        action="append",
        metavar="[NAME=]PKG",
        help="an adapter package, served as model NAME (default: its folder's name); repeatable",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the API key clients send as 'Bearer KEY' "
        "(required for a --host other than loopback)",
    )
    serve.add_argument(
        "--max-batch",
        type=int,
        default=8,
        help="most requests decoded in one batch (1: one at a time)",
    )
    serve.add_argument(
        "--max-wait-ms",
        type=float,
        default=20.0,
        help="how long the first request of a batch waits for others (not after a batch of one)",
    )
    serve.add_argument(
        "--max-queue", type=int, default=128, help="requests waiting beyond this get 429"
    )
    serve.add_argument("--max-upload-mb", type=float, default=25.0, help="largest upload")
    serve.add_argument(
        "--max-audio-seconds", type=float, default=3600.0, help="longest audio a request"
    )
    serve.add_argument(
        "--max-new-tokens",
        type=int,
        metavar="N",
        help="at most N tokens per clip (per 30-second window of a longer one)",
    )
    serve.add_argument("--threads", type=int, help="torch threads for decoding (default: torch's)")
    serve.set_defaults(func=cmd_serve)

    models = sub.add_parser("models", help="list the bundled models and their cache state")
    models.add_argument(
        "--convert", nargs="+", metavar="NAME", help="convert these bundled models now ('all')"
    )
    models.set_defaults(func=cmd_models)

    demo = sub.add_parser("demo", help="the built-in default: transcribe real English clips")
    demo.add_argument("--model", default="bundled:tiny.en")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Overrides may come after options too: `workbench train R --resume lora.rank=8`.
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    sizes = ("beams", "best_of", "batch_size", "max_new_tokens")
    values = [getattr(args, name, None) for name in sizes]
    if any(v is not None and v < 1 for v in values):
        _err("--beams, --best-of, --batch-size and --max-new-tokens must be positive integers")
        return EXIT_USAGE
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
