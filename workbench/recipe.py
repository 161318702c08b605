"""The recipe: one YAML file that says everything a run needs.

``Recipe`` and its ``*Spec`` sections are the one schema for YAML files, command-line
overrides (``key.path=value``) and the UI. :func:`load_recipe` layers the domain pack's
``domain.yaml`` under the file and the overrides over it, and reports every problem at once,
each with its file, key path and line.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from workbench.augment.checks import (
    noise_problems,
    reverb_problems,
    speed_problems,
    telephone_problems,
)
from workbench.decoding.options import DecodingOptions
from workbench.fileio import SpecialFileError, read_regular_bytes
from workbench.paths import domains_root
from workbench.schema import (
    Collector,
    Layer,
    Problem,
    RecipeError,
    Spec,
    build_spec,
    did_you_mean,
    join_key,
    key_paths,
    refuse_aliases,
    register_union,
    to_data,
    yaml_line_map,
    yaml_problem,
)

__all__ = [
    "AudioSource",
    "AugmentSpec",
    "DataSpec",
    "DecodingOptions",
    "EvalSpec",
    "LabelSpec",
    "LexiconSpec",
    "LoraSpec",
    "NoiseSpec",
    "Problem",
    "Recipe",
    "RecipeError",
    "ReverbSpec",
    "SpeedSpec",
    "TelephoneSpec",
    "TrainSpec",
    "load_recipe",
    "read_recipe_data",
    "recipe_to_yaml",
]

WHISPER_LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
# The lexicon boost's range, and the strengths tuning tries by default (lexicon.boost_grid).
MAX_BOOST = 20.0
BOOST_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
# Below this spelling similarity a "near miss" is another word (lexicon.near_miss).
MIN_NEAR_MISS = 0.5
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _path_field(kind: Literal["file", "dir", "any"], **kwargs: Any) -> Any:
    """A field holding a path, resolved against the folder of the file that set it."""
    return field(metadata={"path": kind}, **kwargs)


# --- data ------------------------------------------------------------------------------


CONDITION_NOISES = ("white", "pink", "brown", "machinery", "monitor", "babble")


@dataclass(kw_only=True)
class ConditionSpec(Spec):
    """A fixed listening condition a source's clips are rendered in when prepared.

    ``clean`` leaves the audio as it is (and records the condition); ``noise`` adds the
    ``noise`` kind at an SNR drawn per clip from ``min_snr_db``..``max_snr_db``
    (``babble``: other clips of the same source talking at once); ``telephone`` is the
    300-3400 Hz band at 8 kHz, mu-law when ``codec``. Seeded per clip: the same recipe
    gives the same audio.
    """

    kind: Literal["clean", "noise", "telephone"] = "clean"
    noise: str | None = None
    min_snr_db: float = 10.0
    max_snr_db: float = 15.0
    codec: bool = True
    seed: int = 0

    def check(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.kind == "noise":
            if self.noise not in CONDITION_NOISES:
                out.append(
                    (
                        "noise",
                        f"expected one of {', '.join(CONDITION_NOISES)} for kind noise, "
                        f"got {self.noise!r}",
                    )
                )
            for name in ("min_snr_db", "max_snr_db"):
                if not -20 <= getattr(self, name) <= 60:
                    out.append((name, f"expected [-20, 60] dB, got {getattr(self, name)}"))
            if self.min_snr_db > self.max_snr_db:
                out.append(
                    (
                        "max_snr_db",
                        f"must be >= min_snr_db ({self.min_snr_db}), got {self.max_snr_db}",
                    )
                )
        elif self.noise is not None:
            out.append(("noise", f"only kind: noise takes a noise kind (kind is {self.kind!r})"))
        return out

    @property
    def label(self) -> str:
        """The manifest's ``condition``: ``clean``, ``telephone``, ``babble 10-15 dB``."""
        if self.kind == "noise":
            return f"{self.noise} {self.min_snr_db:g}-{self.max_snr_db:g} dB"
        return self.kind

    @property
    def tag(self) -> str:
        """The label as an id suffix: ``clean``, ``telephone``, ``babble10-15dB``."""
        return self.label.replace(" ", "")


PART_MAX = 60  # characters of a source's part name


def _limit_problems(limit: int | None) -> list[tuple[str, str]]:
    if limit is not None and limit < 1:
        return [("limit", f"expected a positive integer or null, got {limit}")]
    return []


@dataclass(kw_only=True)
class SourceSpec(Spec):
    """One data source; ``source`` names its kind (see ``SOURCES``).

    ``condition`` renders every clip of the source in a listening condition (noise of a
    kind, telephone band) when prepared, and records it in the manifest; ids get the
    condition as a suffix, so one source listed under two conditions keeps its ids apart.
    ``part`` names what the source is ("your recordings", "synthetic held-out"): recorded
    in the manifest, the report gives each part of a set its own figures and the Compare
    tab its own view.
    """

    source: str
    limit: int | None = None  # keep at most this many utterances
    condition: ConditionSpec | None = None
    part: str | None = None

    def check(self) -> list[tuple[str, str]]:
        out = _limit_problems(self.limit)
        if self.part is not None and not (self.part.strip() and len(self.part) <= PART_MAX):
            out.append(("part", f"expected 1 to {PART_MAX} characters, got {self.part!r}"))
        return out


@dataclass(kw_only=True)
class ColumnsSpec(SourceSpec):
    """A tabular source: which columns hold the audio, the text and the speaker.

    ``None`` recognises the usual names (``file_name``/``path``/``audio``/``wav``/
    ``audio_filepath``; ``text``/``transcription``/``sentence``/``transcript``;
    ``speaker``/``speaker_id``/``client_id``).
    """

    audio_column: str | None = None
    text_column: str | None = None
    speaker_column: str | None = None


@dataclass(kw_only=True)
class ManifestSource(ColumnsSpec):
    """A manifest: JSON Lines (``{"id", "audio", "text"}`` a line), or any other accepted form
    recognised by its shape: an audiofolder, a ``save_to_disk`` folder, a Kaldi data
    directory, a Common Voice folder or TSV, LibriSpeech folders, a NeMo manifest, a CSV/TSV.
    ``split`` picks a Common Voice TSV or a saved ``DatasetDict``'s split."""

    source: Literal["manifest"] = "manifest"
    path: str = _path_field("any")
    split: str | None = None


@dataclass(kw_only=True)
class AudioFolderSource(ColumnsSpec):
    """A Hugging Face audiofolder: audio files plus ``metadata.csv`` or ``metadata.jsonl``."""

    source: Literal["audiofolder"] = "audiofolder"
    path: str = _path_field("dir")


@dataclass(kw_only=True)
class CsvSource(ColumnsSpec):
    """A CSV or TSV file with an audio-path column and a text column."""

    source: Literal["csv"] = "csv"
    path: str = _path_field("file")


@dataclass(kw_only=True)
class DiskDatasetSource(ColumnsSpec):
    """A dataset written by ``datasets.Dataset.save_to_disk`` (``split`` of a DatasetDict)."""

    source: Literal["hf_disk"] = "hf_disk"
    path: str = _path_field("dir")
    split: str | None = None


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass(kw_only=True)
class HubDatasetSource(ColumnsSpec):
    """A Hugging Face dataset by hub id, where a hub is reachable (else from the local cache)."""

    source: Literal["hf_hub"] = "hf_hub"
    id: str
    config: str | None = None
    split: str = "train"
    revision: str | None = None

    def check(self) -> list[tuple[str, str]]:
        out = super().check()
        if not _HUB_ID.match(self.id):
            out.append(("id", f"expected a hub dataset id like 'org/name', got {self.id!r}"))
        return out


@dataclass(kw_only=True)
class NemoSource(SourceSpec):
    """A NeMo manifest: ``{"audio_filepath", "text", "duration"}`` a line (``offset`` cut)."""

    source: Literal["nemo"] = "nemo"
    path: str = _path_field("file")
    text_column: str | None = None  # default "text"


@dataclass(kw_only=True)
class KaldiSource(SourceSpec):
    """A Kaldi data directory: ``wav.scp`` (plain paths), ``text``, ``utt2spk``, ``segments``."""

    source: Literal["kaldi"] = "kaldi"
    path: str = _path_field("dir")


@dataclass(kw_only=True)
class CommonVoiceSource(ColumnsSpec):
    """A Common Voice locale folder (``split`` picks ``<split>.tsv``) or one of its TSVs."""

    source: Literal["common_voice"] = "common_voice"
    path: str = _path_field("any")
    split: str = "train"


@dataclass(kw_only=True)
class LibriSpeechSource(SourceSpec):
    """LibriSpeech-style folders: ``*.trans.txt`` transcripts beside ``.flac`` files."""

    source: Literal["librispeech"] = "librispeech"
    path: str = _path_field("dir")
    lowercase: bool = False


@dataclass(kw_only=True)
class SynthSource(SourceSpec):
    """Synthetic speech: the pack's templates filled with lexicon terms, spoken by local voices.

    ``split: heldout`` uses the held-out templates only (for evaluation sets).
    """

    source: Literal["synth"] = "synth"
    split: Literal["train", "heldout"] = "train"
    voices: list[str] = field(default_factory=lambda: ["piper:joe"])
    per_term: int = 4
    categories: list[str] | None = None  # default: every category of the lexicon
    templates: str | None = _path_field("file", default=None)  # default: the pack's
    min_rate: float = 0.9
    max_rate: float = 1.1
    # "written": the voice reads the written sentence (e.g. espeak's yue voice reading
    # Chinese characters) instead of the spoken forms (pinyin, respellings).
    speak: Literal["spoken", "written"] = "spoken"
    seed: int = 0

    def check(self) -> list[tuple[str, str]]:
        out = super().check()
        if not 1 <= self.per_term <= 200:
            out.append(("per_term", f"expected 1 to 200 sentences a term, got {self.per_term}"))
        return out + _voice_problems(self.voices, self.min_rate, self.max_rate)


def _voice_problems(voices: list[str], min_rate: float, max_rate: float) -> list[tuple[str, str]]:
    from workbench.data.tts import check_voice_name

    out = []
    bad = [p for v in voices if (p := check_voice_name(v))]
    if bad or not voices:
        out.append(("voices", "; ".join(bad) or "expected at least one voice"))
    for name, rate in (("min_rate", min_rate), ("max_rate", max_rate)):
        if not 0.5 <= rate <= 2.0:
            out.append((name, f"expected a rate in [0.5, 2.0], got {rate}"))
    if min_rate > max_rate:
        out.append(("max_rate", f"must be >= min_rate ({min_rate}), got {max_rate}"))
    return out


@dataclass(kw_only=True)
class SpeakSource(SourceSpec):
    """Everyday sentences spoken by local voices (replay from many voices, no recordings).

    ``texts``: a text file, a sentence a line; default: the Asterisk prompts' texts.
    """

    source: Literal["speak"] = "speak"
    texts: str | None = _path_field("file", default=None)
    voices: list[str] = field(default_factory=lambda: ["espeak:en-us"])
    min_words: int = 4
    min_rate: float = 0.9
    max_rate: float = 1.1
    seed: int = 0  # which sentences a ``limit`` draws, and the rates

    def check(self) -> list[tuple[str, str]]:
        out = super().check() + _voice_problems(self.voices, self.min_rate, self.max_rate)
        if not 1 <= self.min_words <= 50:
            out.append(("min_words", f"expected 1 to 50 words, got {self.min_words}"))
        return out


@dataclass(kw_only=True)
class PocketsphinxSource(SourceSpec):
    """Real recorded English from Debian's ``pocketsphinx-testdata`` (10 clips)."""

    source: Literal["pocketsphinx"] = "pocketsphinx"
    sets: list[Literal["librivox", "cards"]] = field(default_factory=lambda: ["librivox", "cards"])


@dataclass(kw_only=True)
class AsteriskSource(SourceSpec):
    """Real recorded English prompts from Debian's Asterisk sound packages (8 kHz)."""

    source: Literal["asterisk"] = "asterisk"
    min_words: int = 4  # leave out one-word prompts ("Added.")
    seed: int = 0  # which prompts a ``limit`` draws


@dataclass(kw_only=True)
class TranscriberSource(SourceSpec):
    """A real two-speaker telephone conversation from Debian's ``transcriber`` examples."""

    source: Literal["transcriber"] = "transcriber"


SOURCES: dict[str, type[SourceSpec]] = {
    "manifest": ManifestSource,
    "audiofolder": AudioFolderSource,
    "csv": CsvSource,
    "hf_disk": DiskDatasetSource,
    "hf_hub": HubDatasetSource,
    "nemo": NemoSource,
    "kaldi": KaldiSource,
    "common_voice": CommonVoiceSource,
    "librispeech": LibriSpeechSource,
    "synth": SynthSource,
    "speak": SpeakSource,
    "pocketsphinx": PocketsphinxSource,
    "asterisk": AsteriskSource,
    "transcriber": TranscriberSource,
}
register_union(SourceSpec, "source", SOURCES)


# Audio files and the folders and list files that name them (``source: audio``).
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus")


@dataclass(kw_only=True)
class UnlabeledSpec(Spec):
    """A source of audio without transcripts (``data.unlabeled``); ``source`` names its kind."""

    source: str
    limit: int | None = None  # keep at most this many clips

    def check(self) -> list[tuple[str, str]]:
        return _limit_problems(self.limit)


@dataclass(kw_only=True)
class AudioSource(UnlabeledSpec):
    """Audio files with no transcript: a folder (every audio file under it, by suffix:
    .wav .flac .mp3 .ogg .oga .opus), or a text file listing audio paths, one a line
    (relative to the list file's folder; blank lines and ``#`` comments skipped).
    ``workbench label`` has a teacher transcribe them."""

    source: Literal["audio"] = "audio"
    path: str = _path_field("any")
    recursive: bool = True  # a folder's subfolders too


UNLABELED_SOURCES: dict[str, type[UnlabeledSpec]] = {"audio": AudioSource}
register_union(UnlabeledSpec, "source", UNLABELED_SOURCES)


@dataclass(kw_only=True)
class DataSpec(Spec):
    """Where the speech comes from: training, in-domain evaluation, general (forgetting)."""

    train: list[SourceSpec] = field(default_factory=list)  # what the adapter learns from
    eval: list[SourceSpec] = field(default_factory=list)  # in-domain speech it is judged on
    # General speech, never trained on: the report's measure of forgetting.
    general: list[SourceSpec] = field(default_factory=list)
    # General-domain speech mixed into training batches (replay, distillation). Kept apart
    # from `general`, which measures forgetting and must stay unseen.
    replay: list[SourceSpec] = field(default_factory=list)
    # General speech for decisions made while training (the forgetting guard), so that
    # `general`, which reports forgetting, is never used to choose anything.
    general_dev: list[SourceSpec] = field(default_factory=list)
    # Audio without transcripts, for `workbench label` (a teacher's pseudo-labels). Never
    # read by `data prepare` or training: they train on the labelled manifest it writes.
    unlabeled: list[UnlabeledSpec] = field(default_factory=list)
    on_bad_rows: Literal["drop", "stop"] = "drop"
    max_duration_s: float = 30.0
    # With no eval sources, this share of train becomes eval (speaker- or sentence-disjoint).
    eval_fraction: float = 0.1
    # A general set that shares a recording, a speaker, a source collection or a sentence
    # with train or replay is refused; true keeps it, and the report marks its figures
    # "not independent".
    allow_dependent_general: bool = False

    def check(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not 0 < self.max_duration_s <= 30:
            out.append(("max_duration_s", f"expected 0 < seconds <= 30, got {self.max_duration_s}"))
        if not 0 <= self.eval_fraction < 1:
            out.append(("eval_fraction", f"expected 0 <= share < 1, got {self.eval_fraction}"))
        return out


# --- augmentation ----------------------------------------------------------------------
# The range rules live in workbench.augment.checks, shared with the transforms themselves.


@dataclass(kw_only=True)
class SpeedSpec(Spec):
    """Speed perturbation by resampling (tempo and pitch together), Kaldi style."""

    min_rate: float = 0.8
    max_rate: float = 1.2
    rates: list[float] | None = None  # draw from this list instead of the range
    p: float = 0.5

    def check(self) -> list[tuple[str, str]]:
        return speed_problems(self.min_rate, self.max_rate, self.rates, self.p)


@dataclass(kw_only=True)
class NoiseSpec(Spec):
    """Additive noise at a signal-to-noise ratio drawn from ``min_snr_db``..``max_snr_db``."""

    min_snr_db: float = 5.0
    max_snr_db: float = 15.0
    p: float = 0.6
    kinds: list[str] = field(default_factory=lambda: ["white", "pink"])
    folder: str | None = _path_field("dir", default=None)  # the user's own noise files

    def check(self) -> list[tuple[str, str]]:
        return noise_problems(self.min_snr_db, self.max_snr_db, self.p, self.kinds, self.folder)


@dataclass(kw_only=True)
class ReverbSpec(Spec):
    """Room reverberation: simulated rooms and/or a folder of impulse-response files."""

    p: float = 0.3
    rooms: list[str] = field(default_factory=lambda: ["small_office", "ward", "factory_hall"])
    ir_folder: str | None = _path_field("dir", default=None)

    def check(self) -> list[tuple[str, str]]:
        return reverb_problems(self.p, self.rooms, self.ir_folder)


@dataclass(kw_only=True)
class TelephoneSpec(Spec):
    """Telephone channel: 8 kHz, 300-3400 Hz, with mu-law quantization when ``codec``."""

    p: float = 0.2
    codec: bool = True

    def check(self) -> list[tuple[str, str]]:
        return telephone_problems(self.p)


@dataclass(kw_only=True)
class AugmentSpec(Spec):
    """On-the-fly augmentation of the training split; ``null`` switches a transform off.

    Applied in this order: speed, reverb, noise, telephone.
    """

    speed: SpeedSpec | None = field(default_factory=SpeedSpec)
    reverb: ReverbSpec | None = None
    noise: NoiseSpec | None = field(default_factory=NoiseSpec)
    telephone: TelephoneSpec | None = None


# --- lexicon, model adaptation, training, evaluation ----------------------------------


@dataclass(kw_only=True)
class LexiconSpec(Spec):
    """The domain's terms: a ``lexicon.tsv`` (the pack's by default), and prompting."""

    path: str | None = _path_field("file", default=None)
    prompt: bool = False  # bias decoding with the lexicon's terms
    # Strength of the lexicon boost while decoding (workbench.decoding.boost); 0 = off.
    # Evaluation adds base_boost and adapted_boost systems when it is above 0.
    boost: float = 0.0
    tune_boost: bool = False  # choose boost from boost_grid on a dev fifth of the eval set
    boost_grid: list[float] = field(default_factory=lambda: list(BOOST_GRID))  # to tune from
    # Part of lexicon-aware decoding (workbench.decoding.snap): evaluation adds base_boost and
    # adapted_boost when it or boost is above 0.
    near_miss: float = 0.0  # rewrite a term's near-miss spellings to it at this similarity; 0 = off

    def check(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not (self.near_miss == 0 or MIN_NEAR_MISS <= self.near_miss <= 1):
            out.append(
                (
                    "near_miss",
                    f"expected 0 (off) or a spelling similarity from {MIN_NEAR_MISS:g} to 1 "
                    f"(0.75 rewrites 'deloxetine' to 'duloxetine'), got {self.near_miss}",
                )
            )
        if not 0 <= self.boost <= MAX_BOOST:
            out.append(
                ("boost", f"expected a number from 0 (off) to {MAX_BOOST:g}, got {self.boost}")
            )
        elif self.tune_boost and self.boost:
            out.append(
                (
                    "boost",
                    f"{self.boost}: with tune_boost: true the strength is chosen by tuning; "
                    "leave boost at 0, or set tune_boost: false to use this value",
                )
            )
        bad = [b for b in self.boost_grid if not 0 <= b <= MAX_BOOST]
        if bad or not self.boost_grid:
            out.append(
                (
                    "boost_grid",
                    f"expected a non-empty list of numbers from 0 to {MAX_BOOST:g}, "
                    f"got {self.boost_grid}",
                )
            )
        return out


@dataclass(kw_only=True)
class LoraSpec(Spec):
    """LoRA on the top encoder and decoder layers; every other weight frozen."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    top_encoder_layers: int = 2
    top_decoder_layers: int = 2

    def check(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.rank < 1:
            out.append(("rank", f"expected a positive integer, got {self.rank}"))
        if self.alpha <= 0:
            out.append(("alpha", f"expected a positive number, got {self.alpha}"))
        if not 0 <= self.dropout < 1:
            out.append(("dropout", f"expected 0 <= dropout < 1, got {self.dropout}"))
        bad = [t for t in self.targets if t not in WHISPER_LINEAR_MODULES]
        if bad or not self.targets:
            out.append(
                (
                    "targets",
                    f"expected a non-empty list from {', '.join(WHISPER_LINEAR_MODULES)}, "
                    f"got {self.targets}",
                )
            )
        for name in ("top_encoder_layers", "top_decoder_layers"):
            if getattr(self, name) < 0:
                out.append((name, f"expected 0 or more layers, got {getattr(self, name)}"))
        if self.top_encoder_layers == 0 and self.top_decoder_layers == 0:
            out.append(("top_decoder_layers", "encoder and decoder both 0: nothing to adapt"))
        return out


@dataclass(kw_only=True)
class TrainSpec(Spec):
    """Optimisation settings. ``max_steps``, when set, overrides ``epochs``."""

    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 8
    gradient_accumulation: int = 1
    learning_rate: float = 1.0e-3
    scheduler: Literal["linear", "cosine", "constant"] = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    log_steps: int = 5
    save_steps: int = 50
    # Forgetting control: a share of every batch from data.replay, a distillation term
    # (KL to the base model's outputs on those samples), and a guard that stops training
    # when the loss on data.general rises more than `max_general_loss_increase` (relative)
    # above the base model's, checked every `eval_steps`.
    replay_ratio: float = 0.0
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    eval_steps: int = 25
    max_general_loss_increase: float | None = None
    # Train with the lexicon prompt on this share of samples, so that prompting at
    # inference helps rather than hurts.
    prompt_p: float = 0.0
    # How much more the tokens that spell a lexicon term weigh in the loss of a training
    # clip than the words around them (1: the same; a weighted mean, so the loss keeps its
    # scale). The template words are learned in a few steps; the terms are what is left.
    term_weight: float = 1.0
    # Knowledge distillation toward a teacher model (bundled:NAME, a folder, a hub id): a KL
    # term between its token distribution and the student's on the training clips, at
    # `teacher_temperature`, weighted by `teacher_weight`. Only where teacher and student
    # share a tokenizer (checked with the recipe); otherwise train on the teacher's
    # transcripts (`workbench label`): sequence-level distillation.
    teacher: str | None = None
    teacher_weight: float = 0.0
    teacher_temperature: float = 2.0

    def check(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.teacher_weight < 0:
            out.append(("teacher_weight", f"expected 0 or more, got {self.teacher_weight}"))
        elif self.teacher_weight > 0 and not self.teacher:
            out.append(
                (
                    "teacher_weight",
                    f"is {self.teacher_weight} but train.teacher is not set: name the teacher "
                    "model (bundled:NAME, a folder or a hub id)",
                )
            )
        elif self.teacher and self.teacher_weight == 0:
            out.append(
                (
                    "teacher_weight",
                    f"is 0, so train.teacher ({self.teacher}) would not be used: give a weight "
                    "above 0 (e.g. 1.0), or remove train.teacher",
                )
            )
        if self.teacher_temperature <= 0:
            out.append(
                (
                    "teacher_temperature",
                    f"expected a positive number, got {self.teacher_temperature}",
                )
            )
        if not 1 <= self.term_weight <= 100:
            out.append(("term_weight", f"expected 1 to 100, got {self.term_weight}"))
        for name in ("replay_ratio", "prompt_p"):
            if not 0 <= getattr(self, name) < 1:
                out.append((name, f"expected a share in [0, 1), got {getattr(self, name)}"))
        if self.distill_weight < 0:
            out.append(("distill_weight", f"expected 0 or more, got {self.distill_weight}"))
        if self.distill_temperature <= 0:
            out.append(
                (
                    "distill_temperature",
                    f"expected a positive number, got {self.distill_temperature}",
                )
            )
        if self.max_general_loss_increase is not None and self.max_general_loss_increase <= 0:
            out.append(
                (
                    "max_general_loss_increase",
                    f"expected a positive share or null, got {self.max_general_loss_increase}",
                )
            )
        positive = ("batch_size", "gradient_accumulation", "log_steps", "save_steps", "eval_steps")
        for name in positive:
            if getattr(self, name) < 1:
                out.append((name, f"expected a positive integer, got {getattr(self, name)}"))
        if self.epochs <= 0:
            out.append(("epochs", f"expected a positive number, got {self.epochs}"))
        if self.max_steps is not None and self.max_steps < 1:
            out.append(("max_steps", f"expected a positive integer or null, got {self.max_steps}"))
        if not 0 < self.learning_rate <= 1:
            out.append(("learning_rate", f"expected 0 < rate <= 1, got {self.learning_rate}"))
        for name in ("warmup_steps", "weight_decay", "max_grad_norm"):
            if getattr(self, name) < 0:
                out.append((name, f"expected 0 or more, got {getattr(self, name)}"))
        return out


@dataclass(kw_only=True)
class EvalSpec(Spec):
    """Decoding settings shared by the base and the adapted model."""

    # Beam, temperature fallback, no-speech drop, token cap: Whisper's usual decoding.
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    num_beams: int | None = None  # older name of decoding.beam_size; when set, it wins
    batch_size: int = 8
    max_new_tokens: int | None = None  # cap per clip; default: all the model's positions
    # The encoder's precision. fp32 gives the same figures on every machine. auto is bf16
    # where the CPU or GPU has native bf16, bf16 was measured faster there (once per machine,
    # see workbench.models.probe) and the adapter leaves the encoder alone; but about 4% of
    # transcripts flip a near-tie word in bf16 (measured on the medical recipe), so figures
    # then depend on the hardware. The decoder always runs in the model's own precision.
    encoder_precision: Literal["auto", "fp32", "bf16"] = "fp32"
    # Where a teacher labelled the training data or train.teacher names one, decode the sets
    # with it too: a third system beside the student before and after (it costs its time).
    teacher: bool = True

    def check(self) -> list[tuple[str, str]]:
        out = [
            (name, f"expected a positive integer, got {getattr(self, name)}")
            for name in ("num_beams", "batch_size")
            if getattr(self, name) is not None and getattr(self, name) < 1
        ]
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            out.append(
                (
                    "max_new_tokens",
                    f"expected a positive integer or null, got {self.max_new_tokens}",
                )
            )
        return out

    def decoding_options(self) -> DecodingOptions:
        """``decoding``, with ``num_beams`` as its beam size where a recipe sets it."""
        if self.num_beams is None or self.num_beams == self.decoding.beam_size:
            return self.decoding
        return replace(self.decoding, beam_size=self.num_beams)


@dataclass(kw_only=True)
class LabelSpec(Spec):
    """Which of a teacher's pseudo-labels (``workbench label``) are kept for training.

    A clip is kept when its transcript is not empty and every threshold that is set holds:
    mean token log-probability at least ``min_avg_logprob``, compression ratio at most
    ``max_compression_ratio`` (a loop compresses well), no-speech probability at most
    ``max_no_speech_prob``. ``null`` turns a threshold off. The defaults are the decoding
    guards' own (eval.decoding): they drop what the guards could not mend.
    """

    min_avg_logprob: float | None = -1.0
    max_compression_ratio: float | None = 2.4
    max_no_speech_prob: float | None = 0.6

    def check(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.min_avg_logprob is not None and self.min_avg_logprob > 0:
            out.append(
                (
                    "min_avg_logprob",
                    f"expected a number at most 0 (log-probabilities are) or null, "
                    f"got {self.min_avg_logprob}",
                )
            )
        if self.max_compression_ratio is not None and self.max_compression_ratio <= 0:
            out.append(
                (
                    "max_compression_ratio",
                    f"expected a number above 0 or null, got {self.max_compression_ratio}",
                )
            )
        if self.max_no_speech_prob is not None and not 0 <= self.max_no_speech_prob <= 1:
            out.append(
                (
                    "max_no_speech_prob",
                    f"expected a probability from 0 to 1 or null, got {self.max_no_speech_prob}",
                )
            )
        return out


@dataclass(kw_only=True)
class Recipe(Spec):
    """Everything one run needs. Relative paths are relative to the file that set them."""

    name: str
    domain: str | None = None
    base_model: str = "bundled:tiny.en"
    language: str | None = None  # multilingual models only, e.g. "en", "zh"
    data: DataSpec = field(default_factory=DataSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    lexicon: LexiconSpec = field(default_factory=LexiconSpec)
    lora: LoraSpec = field(default_factory=LoraSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    label: LabelSpec = field(default_factory=LabelSpec)

    def check(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if (
            self.train.max_general_loss_increase is not None
            and self.data.general
            and not self.data.general_dev
            and not self.data.allow_dependent_general
        ):
            out.append(
                (
                    "train.max_general_loss_increase",
                    "the forgetting guard would stop training on data.general, the set that "
                    "reports forgetting, and so choose what it reports; give data.general_dev "
                    "(general speech kept for decisions made while training, sharing nothing "
                    "with data.general), or set data.allow_dependent_general: true (the report "
                    "then marks the general figures 'not independent')",
                )
            )
        if not _NAME.match(self.name):
            out.append(
                (
                    "name",
                    f"expected letters, digits, '.', '_' or '-' (a folder name), got {self.name!r}",
                )
            )
        return out


# --- loading ---------------------------------------------------------------------------


def _read_yaml(path: Path, label: str, problems: list[Problem]) -> tuple[dict, Layer] | None:
    layer = Layer(label=label, base_dir=path.parent)
    try:
        text = read_regular_bytes(path).decode("utf-8")
    except SpecialFileError as exc:
        problems.append(Problem(label, "", str(exc).removeprefix(f"{path}: ")))
        return None
    except FileNotFoundError:
        problems.append(Problem(label, "", "no such file"))
        return None
    except IsADirectoryError:
        problems.append(Problem(label, "", "is a folder, expected a YAML file"))
        return None
    except UnicodeDecodeError as exc:
        problems.append(Problem(label, "", f"not UTF-8 text (byte {exc.start})"))
        return None
    try:
        alias = refuse_aliases(text, label)
        if alias is not None:
            problems.append(alias)
            return None
        data = yaml.safe_load(text)
        lines, duplicates = yaml_line_map(text)
    except yaml.YAMLError as exc:
        problems.append(yaml_problem(exc, label, text))
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(
            Problem(label, "", f"expected a mapping of recipe keys, got {type(data).__name__}", 1)
        )
        return None
    for key, line, message in duplicates:
        problems.append(Problem(label, key, message, line))
    layer.lines = lines
    layer.keys = key_paths(data)
    return data, layer


def read_recipe_data(path: str | Path) -> dict:
    """A recipe file's own data (no pack, no checks beyond strict YAML).

    Raises:
        RecipeError: not UTF-8, invalid YAML, duplicate keys, or not a mapping.
    """
    problems: list[Problem] = []
    read = _read_yaml(Path(path), str(path), problems)
    if read is None or problems:
        raise RecipeError(problems)
    return read[0]


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """Split ``a.b.0.c=value`` into its key path and a YAML-parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {text!r}: expected key.path=value")
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    if any(p == "" for p in parts):
        raise ValueError(f"override {text!r}: empty part in key path {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def _apply_override(data: dict, parts: list[str | int], value: Any) -> str:
    node: Any = data
    key = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise ValueError(f"{key or 'recipe'} has no item {part} (it has {size})")
        elif not isinstance(node, dict):
            raise ValueError(f"{key} is not a mapping, cannot set {part!r} in it")
        key = join_key(key, part)
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and part not in node:
                node[part] = {}
            node = node[part]
    return key


def _merge(base: Any, top: Any) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        out = dict(base)
        for k, v in top.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(top)


_PACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")  # a pack's folder name


def available_domains(root: Path | None = None) -> list[str]:
    """The domain packs under ``root`` (default: the project's ``domains/``)."""
    root = root or domains_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "domain.yaml").is_file())


def load_recipe(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    domains_dir: str | Path | None = None,
    check_model: bool = True,
    check_inputs: bool = False,
    path_guard: Callable[[Path], str | None] | None = None,
) -> Recipe:
    """Load, merge and check a recipe.

    Layers, later ones winning: the domain pack's ``domain.yaml`` (when ``domain`` is set),
    the file, then ``overrides`` (``key.path=value``, values parsed as YAML). Relative paths
    resolve against the folder of the file that set them (overrides: the working folder),
    and paths that must exist are checked. With ``check_model``, layer counts and the
    ``language`` option are checked against the base model (read without loading weights).
    With ``check_inputs`` (``recipe validate``), the files the recipe names are read far
    enough to know that preparation will load them: the lexicon, each source's first rows
    and their audio, the templates a synth source fills (see ``workbench.data.preflight``).
    ``path_guard`` (the UI's) says why a path may not be read; such a path gets that one
    message, whether or not it exists, and a local base model it refuses is not looked at.

    Raises:
        RecipeError: listing every problem, each with file, key path and line.
    """
    path = Path(path)
    problems: list[Problem] = []
    read = _read_yaml(path, str(path), problems)
    if read is None:
        raise RecipeError(problems)
    data, file_layer = read
    layers = [file_layer]

    override_layer = Layer(label="command line", base_dir=Path.cwd())
    parsed = []
    for text in overrides:
        try:
            parsed.append((text, *parse_override(text)))
        except ValueError as exc:
            problems.append(Problem("command line", "", str(exc)))

    domain = data.get("domain")
    for _, parts, value in parsed:
        if parts == ["domain"]:
            domain = value
    if domain is not None:
        root = Path(domains_dir) if domains_dir else domains_root()
        pack = root / str(domain)
        if not isinstance(domain, str) or not _PACK_NAME.match(domain):
            problems.append(
                Problem(
                    str(path),
                    "domain",
                    f"{domain!r} is not a pack name: a domain is the name of a pack in {root} "
                    "(letters, digits, '.', '_', '-'), never a path; available: "
                    + (", ".join(available_domains(root)) or "none"),
                    file_layer.lines.get("domain"),
                )
            )
        elif not (pack / "domain.yaml").is_file():
            known = ", ".join(available_domains(root)) or "none"
            line = file_layer.lines.get("domain")
            problems.append(
                Problem(
                    str(path),
                    "domain",
                    f"no domain pack {domain!r} in {root}; available: {known}",
                    line,
                )
            )
        else:
            pack_read = _read_yaml(pack / "domain.yaml", str(pack / "domain.yaml"), problems)
            if pack_read is not None:
                pack_data, pack_layer = pack_read
                data = _merge(pack_data, data)
                layers.insert(0, pack_layer)

    for text, parts, value in parsed:
        try:
            key = _apply_override(data, parts, value)
        except ValueError as exc:
            problems.append(Problem("command line", "", f"override {text!r}: {exc}"))
            continue
        override_layer.keys |= {key} | key_paths(value, key)
    layers.append(override_layer)
    data.setdefault("name", re.sub(r"[^A-Za-z0-9._-]", "-", path.stem) or "recipe")

    collector = Collector(layers, path_guard)
    collector.problems = problems
    recipe = build_spec(Recipe, data, "", collector)
    from workbench.models.info import is_local_spec

    local = isinstance(recipe, Recipe) and is_local_spec(recipe.base_model)
    if local and path_guard and (refused := path_guard(Path(recipe.base_model).expanduser())):
        collector.add("base_model", refused)
    base_ok = not any(p.key == "base_model" for p in collector.problems)
    if isinstance(recipe, Recipe) and check_model and base_ok:
        _check_model(recipe, collector)
    teacher = recipe.train.teacher if isinstance(recipe, Recipe) else None
    local_teacher = bool(teacher) and is_local_spec(teacher or "")
    if local_teacher and path_guard and (refused := path_guard(Path(teacher).expanduser())):
        collector.add("train.teacher", refused)
    teacher_ok = not any(p.key == "train.teacher" for p in collector.problems)
    if teacher and check_model and base_ok and teacher_ok:
        _check_teacher(recipe, collector)
    if isinstance(recipe, Recipe) and check_inputs and not collector.problems:
        from workbench.data.preflight import check_inputs as preflight  # heavy: on request

        for key, message in preflight(recipe):
            collector.add(key, message)
    if collector.problems or not isinstance(recipe, Recipe):
        raise RecipeError(collector.sorted_problems())
    return recipe


def _check_model(recipe: Recipe, out: Collector) -> None:
    from workbench.models.bundled import ModelPackageError
    from workbench.models.info import ModelLoadError, language_code, model_info

    try:
        info = model_info(recipe.base_model)
    except (ModelLoadError, ModelPackageError, OSError, ValueError, KeyError) as exc:
        out.add("base_model", str(exc))
        return
    if info is None:
        return  # a hub model that is not cached: checked when it loads
    n_enc, n_dec = info.encoder_layers, info.decoder_layers
    if recipe.lora.top_encoder_layers > n_enc:
        out.add(
            "lora.top_encoder_layers",
            f"{recipe.base_model} has {n_enc} encoder layers, got {recipe.lora.top_encoder_layers}",
        )
    if recipe.lora.top_decoder_layers > n_dec:
        out.add(
            "lora.top_decoder_layers",
            f"{recipe.base_model} has {n_dec} decoder layers, got {recipe.lora.top_decoder_layers}",
        )
    if recipe.language is not None:
        if not info.multilingual:
            out.add("language", f"{recipe.base_model} is English-only; remove 'language'")
        elif language_code(recipe.language) not in info.languages:
            hint = did_you_mean(recipe.language, info.languages)
            out.add(
                "language",
                f"{recipe.base_model} has no language {recipe.language!r}{hint} "
                f"(it knows {', '.join(info.languages)})",
            )


def _check_teacher(recipe: Recipe, out: Collector) -> None:
    """``train.teacher`` must load and share the student's tokenizer: a token-level KL
    compares distributions over the same tokens."""
    from workbench.models.bundled import ModelPackageError
    from workbench.models.info import ModelLoadError, tokenizer_difference

    teacher = recipe.train.teacher or ""
    try:
        difference = tokenizer_difference(teacher, recipe.base_model)
    except (ModelLoadError, ModelPackageError, OSError, ValueError, KeyError) as exc:
        out.add("train.teacher", str(exc))
        return
    if difference:
        out.add(
            "train.teacher",
            f"{teacher} and the student {recipe.base_model} do not share a tokenizer "
            f"({difference}), so there is no token distribution to distil: sequence-level "
            f"distillation only. Label the audio with `workbench label RECIPE --teacher "
            f"{teacher}` and train on the manifest it writes; remove train.teacher and "
            "train.teacher_weight",
        )


def path_values(spec: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Every path a recipe (or any of its sections) holds, as ``(key path, value)`` pairs."""
    out: list[tuple[str, str]] = []
    if isinstance(spec, list):
        for i, item in enumerate(spec):
            out += path_values(item, join_key(prefix, i))
        return out
    if not is_dataclass(spec):
        return out
    for f in fields(spec):
        value = getattr(spec, f.name)
        key = join_key(prefix, f.name)
        if f.metadata.get("path") and isinstance(value, str):
            out.append((key, value))
        else:
            out += path_values(value, key)
    return out


def recipe_to_yaml(recipe: Recipe) -> str:
    """The resolved recipe as YAML (every key, defaults included)."""
    return yaml.safe_dump(to_data(recipe), sort_keys=False, allow_unicode=True)
