"""The training loop: LoRA on a frozen Whisper, written as a resumable run.

Built on ``accelerate``, so the same run spreads over GPUs or machines under
``accelerate launch`` or ``torchrun`` (gloo on CPUs), in bf16/fp16 on GPUs and fp32 on CPUs.
Each optimizer step draws its batch from a seeded plan (epoch, batch index), so a run
resumed from a checkpoint continues exactly where an uninterrupted run would have been.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from peft import set_peft_model_state_dict
from safetensors.torch import load_file
from transformers import get_scheduler

from workbench.augment.pipeline import recipe_augmenter
from workbench.data.prepare import PreparedData, prepare_data, recipe_lexicon
from workbench.export.adapter_check import MARKER as ADAPTER_MARKER
from workbench.models.bundled import ModelPackageError
from workbench.models.info import model_fingerprint
from workbench.models.loading import LoadedModel, ModelLoadError, load_model
from workbench.recipe import Recipe, recipe_to_yaml
from workbench.runs import STARTED_ENV, RunDir
from workbench.train.adapters import AdapterSummary, apply_lora
from workbench.train.batches import IGNORE, BatchPlan, Collator, LabelMaker, SpeechSet

KEEP_CHECKPOINTS = 2
STATUS_EVERY_S = 2.0  # the status tells the step and time left at least this often
# Keep the general set's encoder outputs between forgetting checks up to this size.
GENERAL_ENCODED_LIMIT = 1 << 30


class TrainError(RuntimeError):
    """A run that cannot start: no data, too little disk, a model that does not fit."""


@dataclass
class TrainResult:
    state: str  # done | stopped
    step: int
    total_steps: int
    adapter: Path | None
    summary: AdapterSummary


def _accelerator(recipe: Recipe) -> Accelerator:
    spec = recipe.train
    cuda = torch.cuda.is_available() and spec.device != "cpu"
    if spec.device == "cuda" and not torch.cuda.is_available():
        raise TrainError("train.device is 'cuda' but no GPU is available")
    precision = spec.precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if precision in ("bf16", "fp16") and not cuda:
        raise TrainError(f"train.precision {precision!r} needs a GPU; use fp32 on CPU")
    return Accelerator(
        cpu=not cuda,
        mixed_precision="no" if precision == "fp32" else precision,
        gradient_accumulation_steps=spec.gradient_accumulation,
    )


def _check_disk(run: RunDir, summary: AdapterSummary) -> None:
    # An adapter in fp32, plus Adam's two moments, for each kept checkpoint and the final.
    need = summary.trainable_params * 4 * 3 * (KEEP_CHECKPOINTS + 1) + 50 * 2**20
    free = shutil.disk_usage(run.root).free
    if free < need:
        raise TrainError(
            f"{run.root}: {free / 2**20:.0f} MB free, checkpoints need about {need / 2**20:.0f} MB"
        )


def _kd_loss(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(teacher || student) on the label positions, scaled by T^2 (Hinton et al.)."""
    mask = labels != IGNORE
    s = F.log_softmax(student.float() / temperature, dim=-1)
    t = F.log_softmax(teacher.float() / temperature, dim=-1)
    kl = F.kl_div(s, t, log_target=True, reduction="none").sum(-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1) * temperature**2


def _weighted_ce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the label positions, a weighted mean (``train.term_weight``)."""
    mask = labels != IGNORE
    ce = F.cross_entropy(logits.float()[mask], labels[mask], reduction="none")
    w = weights[mask]
    return (ce * w).sum() / w.sum()


class Trainer:
    """One run of one recipe into one run directory."""

    def __init__(
        self,
        recipe: Recipe,
        run: RunDir,
        prepared: PreparedData | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.recipe, self.run, self.log = recipe, run, log
        # A STOP made after this moment (loading can take minutes) is for this run.
        self.started = float(os.environ.get(STARTED_ENV) or time.time())
        self.acc = _accelerator(recipe)
        # Share the CPU between processes started on one machine (torchrun, accelerate).
        if self.acc.device.type == "cpu":
            local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
        spec = recipe.train
        lexicon = recipe_lexicon(recipe)
        if spec.term_weight != 1 and not lexicon:
            raise TrainError(
                f"recipe {recipe.name!r}: train.term_weight is {spec.term_weight} but the recipe "
                "has no lexicon terms (set lexicon.path, or a domain whose pack has lexicon.tsv)"
            )
        with self.acc.main_process_first():
            self.prepared = prepared or prepare_data(
                recipe, log=log if self.acc.is_main_process else lambda m: None
            )
        train = self.prepared.utterances("train")
        if not train:
            raise TrainError(f"recipe {recipe.name!r}: the train set is empty; check data.train")
        replay = self.prepared.utterances("replay")
        # The forgetting guard decides on general_dev; data.general only where the recipe
        # allows a dependent general set (Recipe.check refuses it otherwise).
        self.general = self.prepared.utterances("general_dev") or self.prepared.utterances(
            "general"
        )
        self._general: list[dict[str, torch.Tensor]] | None = None

        torch.manual_seed(spec.seed)
        loaded = load_model(recipe.base_model, device="cpu", dtype=torch.float32)
        self.processor = loaded.processor
        self.base_path = loaded.path
        self.multilingual = loaded.multilingual
        try:
            model, self.summary = apply_lora(loaded.model, recipe.lora)
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        self.teacher = self._load_teacher(loaded) if spec.teacher else None
        run.root.mkdir(parents=True, exist_ok=True)
        _check_disk(run, self.summary)
        # With no trainable weight in the encoder (a decoder-only adapter), the encoder says
        # the same with the adapter on or off: the student's encoder pass serves the
        # distillation teacher too, and the general set's encoder outputs are computed once.
        self.share_encoder = not any(p.requires_grad for p in model.get_encoder().parameters())

        self.data = SpeechSet(train, replay, recipe_augmenter(recipe, train), spec.seed)
        self.plan = BatchPlan.build(
            len(train), len(replay), spec.batch_size, spec.replay_ratio, spec.seed
        )
        prompt = lexicon.prompt_text() if (lexicon and spec.prompt_p > 0) else None
        self.labels = LabelMaker(
            self.processor,
            multilingual=self.multilingual,
            language=recipe.language,
            prompt=prompt,
            max_positions=loaded.model.config.max_target_positions,
            lexicon=lexicon if spec.term_weight != 1 else None,
        )
        self.collate = Collator(
            self.processor, self.labels, spec.prompt_p, spec.seed, spec.term_weight
        )
        micro_per_epoch = self.plan.batches_per_epoch
        self.total_steps = spec.max_steps or max(
            1, math.ceil(spec.epochs * micro_per_epoch / spec.gradient_accumulation)
        )
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
        scheduler = get_scheduler(
            spec.scheduler,
            optimizer,
            num_warmup_steps=spec.warmup_steps,
            num_training_steps=self.total_steps,
        )
        self.model, self.optimizer, self.scheduler = self.acc.prepare(model, optimizer, scheduler)

    def _load_teacher(self, student: LoadedModel) -> torch.nn.Module:
        """``train.teacher``, frozen on the training device, once its tokenizer is known to
        be the student's (the recipe checked what it could without loading it)."""
        from workbench.models.info import tokenizer_difference

        spec = self.recipe.train.teacher or ""

        def refusal(difference: str) -> TrainError:
            return TrainError(
                f"train.teacher {spec} and the student {self.recipe.base_model} do not share a "
                f"tokenizer ({difference}): sequence-level distillation only (train on the "
                f"manifest of `workbench label --teacher {spec}`; remove train.teacher)"
            )

        difference = tokenizer_difference(spec, self.recipe.base_model)
        if difference:
            raise refusal(difference)
        try:
            teacher = load_model(spec, device="cpu", dtype=torch.float32)
        except (ModelLoadError, ModelPackageError, OSError) as exc:
            raise TrainError(f"train.teacher {spec}: {exc}") from None
        mine, theirs = (
            student.processor.tokenizer.get_vocab(),
            teacher.processor.tokenizer.get_vocab(),
        )
        if mine != theirs or teacher.model.config.vocab_size != student.model.config.vocab_size:
            moved = sum(1 for token, i in mine.items() if theirs.get(token) != i)
            raise refusal(f"{len(theirs)} against {len(mine)} tokens, {moved} differ")
        model = teacher.model.to(self.acc.device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    # --- batches and losses ------------------------------------------------------------

    def _batch(self, micro: int) -> dict[str, torch.Tensor]:
        epoch, index = divmod(micro, self.plan.batches_per_epoch)
        picked = self.plan.batch(epoch, index)
        shard = picked[self.acc.process_index :: self.acc.num_processes] or picked[:1]
        batch = self.collate([self.data.get(i, epoch) for i in shard], micro)
        return {k: v.to(self.acc.device) for k, v in batch.items()}

    def _encode(self, features: torch.Tensor) -> tuple[torch.Tensor]:
        """The frozen encoder's output, as ``encoder_outputs`` for the model's forward."""
        encoder = self.acc.unwrap_model(self.model).get_encoder()
        with torch.no_grad(), self.acc.autocast():
            return (encoder(features).last_hidden_state,)

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        general = batch.pop("general")
        spec = self.recipe.train
        distill = spec.distill_weight > 0 and bool(general.any())
        features = batch.pop("input_features")
        if self.share_encoder:
            encoded = self._encode(features)
            audio = {"encoder_outputs": encoded}
            teacher_audio = {"encoder_outputs": (encoded[0][general],)}
        else:
            audio = {"input_features": features}
            teacher_audio = {"input_features": features[general]}
        weights = batch.pop("label_weights", None)
        with self.acc.autocast():
            out = self.model(**audio, **batch)
        loss = out.loss
        parts = {"ce": float(out.loss.detach())}
        if weights is not None:
            loss = _weighted_ce(out.logits, batch["labels"], weights)
            parts["ce_weighted"] = float(loss.detach())
        if distill:
            peft_model = self.acc.unwrap_model(self.model)
            with torch.no_grad(), peft_model.disable_adapter(), self.acc.autocast():
                teacher = peft_model(
                    **teacher_audio, decoder_input_ids=batch["decoder_input_ids"][general]
                ).logits
            kd = _kd_loss(
                out.logits[general], teacher, batch["labels"][general], spec.distill_temperature
            )
            loss = loss + spec.distill_weight * kd
            parts["kd"] = float(kd.detach())
        own = ~general  # the training clips (replay has its own distillation, toward the base)
        if self.teacher is not None and bool(own.any()):
            with torch.no_grad(), self.acc.autocast():
                teacher = self.teacher(
                    input_features=features[own], decoder_input_ids=batch["decoder_input_ids"][own]
                ).logits
            kd = _kd_loss(out.logits[own], teacher, batch["labels"][own], spec.teacher_temperature)
            loss = loss + spec.teacher_weight * kd
            parts["teacher_kd"] = float(kd.detach())
        return loss, parts

    def _general_batches(self) -> list[dict]:
        """The general set as collated batches, built once and kept (read every check);
        with a frozen encoder, its outputs are kept in place of the features when they fit."""
        if self._general is None:
            size = self.recipe.train.batch_size
            config = self.acc.unwrap_model(self.model).config
            # float32 encoder states: 1500 positions x d_model per clip
            encoded_bytes = len(self.general) * config.max_source_positions * config.d_model * 4
            keep_encoded = self.share_encoder and encoded_bytes <= GENERAL_ENCODED_LIMIT
            self._general = []
            for start in range(0, len(self.general), size):
                chunk = SpeechSet(self.general[start : start + size])
                collated = self.collate([chunk.get(i, 0) for i in range(len(chunk))])
                collated.pop("general")
                batch: dict = {k: v.to(self.acc.device) for k, v in collated.items()}
                if keep_encoded:
                    batch["encoder_outputs"] = self._encode(batch.pop("input_features"))
                self._general.append(batch)
        return self._general

    @torch.no_grad()
    def general_loss(self, adapter: bool = True) -> float | None:
        """Mean token loss on the general set (teacher-forced), with or without the adapter."""
        if not self.general:
            return None
        peft_model = self.acc.unwrap_model(self.model)
        peft_model.eval()
        total, tokens = 0.0, 0
        for batch in self._general_batches():
            with self.acc.autocast():
                if adapter:
                    logits = peft_model(**batch).logits
                else:
                    with peft_model.disable_adapter():
                        logits = peft_model(**batch).logits
            mask = batch["labels"] != IGNORE
            ce = F.cross_entropy(logits.float()[mask], batch["labels"][mask], reduction="sum")
            total += float(ce)
            tokens += int(mask.sum())
        peft_model.train()
        return total / max(1, tokens)

    # --- checkpoints ----------------------------------------------------------------------

    def save_checkpoint(self, step: int) -> Path:
        """Write a checkpoint whole or not at all; a failed write (a full disk) removes its
        partial files and raises :class:`TrainError`, leaving the last good checkpoint."""
        tmp = self.run.checkpoints / f".step-{step:06d}.tmp"
        try:
            return self._save_checkpoint(step, tmp)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            last = self.run.latest_checkpoint()
            where = f"the last good checkpoint is {last.name}" if last else "no checkpoint yet"
            raise TrainError(
                f"{self.run.checkpoints}: cannot write the checkpoint of step {step} "
                f"({exc.strerror or exc}); {where}. {self._free_and_resume()}"
            ) from exc

    def _free_and_resume(self) -> str:
        return (
            "Free some space, then resume "
            f"(workbench train RECIPE --run-dir {self.run.root} --resume)."
        )

    def _save_checkpoint(self, step: int, tmp: Path) -> Path:
        final = self.run.checkpoints / f"step-{step:06d}"
        if self.acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.acc.wait_for_everyone()
        torch.save(torch.get_rng_state(), tmp / f"rng-{self.acc.process_index}.pt")
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            self.acc.unwrap_model(self.model).save_pretrained(tmp)
            torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            (tmp / "state.json").write_text(
                json.dumps({"step": step, "total_steps": self.total_steps})
            )
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            done = sorted(
                p for p in self.run.checkpoints.glob("step-*") if (p / "state.json").is_file()
            )
            for old in done[:-KEEP_CHECKPOINTS]:
                shutil.rmtree(old, ignore_errors=True)
        self.acc.wait_for_everyone()
        return final

    def load_checkpoint(self, path: Path) -> int:
        """Restore a checkpoint. Its optimizer and RNG files are torch pickles, read with
        ``weights_only`` (tensors and plain containers only, never code)."""
        try:
            return self._load_checkpoint(path)
        except Exception as exc:  # damaged, tampered with, or from another recipe
            raise TrainError(
                f"{path}: checkpoint {path.name} cannot be loaded ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:300]}); remove it to resume from an earlier one, "
                "or start a new run"
            ) from exc

    def _load_checkpoint(self, path: Path) -> int:
        weights = load_file(str(path / "adapter_model.safetensors"))
        set_peft_model_state_dict(self.acc.unwrap_model(self.model), weights)
        self.optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
        self.scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
        rng = path / f"rng-{self.acc.process_index}.pt"
        if rng.is_file():
            torch.set_rng_state(torch.load(rng, weights_only=True))
        return int(json.loads((path / "state.json").read_text())["step"])

    def save_adapter(self) -> Path:
        """Write the adapter whole or not at all: a temporary folder renamed into place."""
        final = self.run.adapter
        if self.acc.is_main_process:
            tmp = self.run.root / ".adapter.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                self._write_adapter(tmp)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise TrainError(
                    f"{final}: cannot write the adapter ({exc.strerror or exc}). "
                    f"{self._free_and_resume()}"
                ) from exc
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        self.acc.wait_for_everyone()
        return final

    def _write_adapter(self, tmp: Path) -> None:
        self.acc.unwrap_model(self.model).save_pretrained(tmp)
        info = {
            "recipe": self.recipe.name,
            "base_model": self.recipe.base_model,
            "base_sha256": model_fingerprint(self.recipe.base_model, self.base_path),
            "language": self.recipe.language,
            "rank": self.recipe.lora.rank,
            **self.summary.to_dict(),
        }
        (tmp / ADAPTER_MARKER).write_text(json.dumps(info, indent=2))

    # --- the loop ------------------------------------------------------------------------

    def train(self, resume: bool = False, progress: bool | None = None) -> TrainResult:
        run, spec, main = self.run, self.recipe.train, self.acc.is_main_process
        start = 0
        if resume:
            checkpoint = run.latest_checkpoint()
            if checkpoint is None:
                self.log(f"{run.root}: no checkpoint to resume from; starting at step 0")
            else:
                start = self.load_checkpoint(checkpoint)
                self.log(f"resumed from {checkpoint.name} (step {start} of {self.total_steps})")
        if main:
            if resume:
                run.keep_metrics_through(start)
            run.recipe.write_text(recipe_to_yaml(self.recipe))
            run.clear_stale_stop(self.started)
            run.write_status(
                state="running",
                pid=os.getpid(),
                step=start,
                total_steps=self.total_steps,
                epoch=start * spec.gradient_accumulation / self.plan.batches_per_epoch,
                error=None,
                adapter=self.summary.to_dict(),
            )
            n, trainable = len(self.summary.modules), self.summary.trainable_params
            self.log(
                f"LoRA on {n} modules: {trainable:,} of "
                f"{self.summary.total_params:,} parameters trainable; "
                f"{self.plan.n_train} train + {self.plan.n_replay} replay clips, "
                f"{self.total_steps} steps"
            )
        guard = spec.max_general_loss_increase
        base_general = self.general_loss(adapter=False) if (guard and self.general) else None
        if base_general is not None and main:
            run.append_metrics({"step": start, "general_loss_base": round(base_general, 5)})

        show = sys.stderr.isatty() if progress is None else progress
        bar = None
        if show and main:
            from tqdm import tqdm

            bar = tqdm(total=self.total_steps, initial=start, unit="step", dynamic_ncols=True)
        t0, samples = time.time(), 0
        said = t0  # when the status last told the step (between log steps too, for the ETA)
        state, step = "done", start
        self.model.train()
        while step < self.total_steps:
            if run.stop_requested():
                state = "stopped"
                break
            parts: dict[str, float] = {}
            for micro in range(spec.gradient_accumulation):
                index = step * spec.gradient_accumulation + micro
                batch = self._batch(index)
                samples += batch["labels"].shape[0] * self.acc.num_processes
                with self.acc.accumulate(self.model):
                    loss, parts = self._loss(batch)
                    self.acc.backward(loss)
                    if self.acc.sync_gradients and spec.max_grad_norm > 0:
                        self.acc.clip_grad_norm_(self.model.parameters(), spec.max_grad_norm)
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad()
            step += 1
            loss_value = float(self.acc.reduce(loss.detach(), reduction="mean"))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.3f}")
            logged = step % spec.log_steps == 0 or step == self.total_steps
            if main and not logged and time.time() - said >= STATUS_EVERY_S:
                said = time.time()
                rate = (step - start) / (said - t0)
                eta = (self.total_steps - step) / rate if rate > 0 else None
                run.write_status(step=step, eta_s=eta and round(eta))
            if logged:
                said = time.time()
                elapsed = time.time() - t0
                rate = (step - start) / elapsed if elapsed > 0 else 0.0
                row = {
                    "step": step,
                    "epoch": round(
                        step * spec.gradient_accumulation / self.plan.batches_per_epoch, 4
                    ),
                    "loss": round(loss_value, 5),
                    **{k: round(v, 5) for k, v in parts.items()},
                    "learning_rate": self.scheduler.get_last_lr()[0],
                    "samples_per_s": round(samples / elapsed, 3) if elapsed > 0 else None,
                }
                if main:
                    run.append_metrics(row)
                    eta = (self.total_steps - step) / rate if rate > 0 else None
                    run.write_status(
                        step=step, epoch=row["epoch"], loss=row["loss"], eta_s=eta and round(eta)
                    )
                    if bar is None:
                        lr = row["learning_rate"]
                        self.log(
                            f"step {step}/{self.total_steps} loss {row['loss']:.4f} lr {lr:.2e}"
                        )
            if guard and base_general is not None and step % spec.eval_steps == 0:
                value = self.general_loss()
                rise = value / base_general - 1
                if main:
                    run.append_metrics(
                        {
                            "step": step,
                            "general_loss": round(value, 5),
                            "general_loss_rise": round(rise, 5),
                        }
                    )
                if rise > guard:
                    self.log(
                        f"forgetting guard: general-set loss rose {rise:.1%} over the base model "
                        f"(limit {guard:.1%}); stopping at step {step}"
                    )
                    if main:
                        run.write_status(stopped_by="forgetting guard")
                    break
            if step % spec.save_steps == 0 and step < self.total_steps:
                self.save_checkpoint(step)
        if bar is not None:
            bar.close()
        self.save_checkpoint(step)
        adapter = self.save_adapter()
        if main:
            run.write_status(state=state, step=step, pid=None)
            self.log(f"{state} at step {step}; adapter in {adapter}")
        return TrainResult(state, step, self.total_steps, adapter, self.summary)


def train_recipe(
    recipe: Recipe,
    run: RunDir,
    *,
    resume: bool = False,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``recipe`` into ``run``; the status says ``failed`` (with the error) if it fails."""
    try:
        trainer = Trainer(recipe, run, log=log)
        return trainer.train(resume=resume, progress=progress)
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt):
            run.root.mkdir(parents=True, exist_ok=True)
            run.write_status(state="failed", error=f"{type(exc).__name__}: {exc}", pid=None)
        else:
            run.write_status(state="stopped", error="interrupted", pid=None)
        raise
