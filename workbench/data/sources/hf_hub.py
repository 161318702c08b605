"""``source: hf_hub``: a Hugging Face dataset by hub id (``org/name``), where a hub is reachable.

Before ``datasets`` is asked for anything, the hub is probed with a short timeout: with
``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE`` set, or a hub that does not answer, the dataset is
read from the local ``datasets`` cache only, and a dataset that is not there is a one-sentence
error, never a wait on the network. Rows are read as for ``source: hf_disk``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

from workbench.data.candidates import PrepareContext, SourceError, SourceRows
from workbench.data.sources.hf_disk import dataset_candidates
from workbench.recipe import HubDatasetSource

PROBE_TIMEOUT_S = 3.0
_TRUE = {"1", "ON", "YES", "TRUE"}


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_reason() -> str | None:
    """Why the hub cannot be used now (an offline variable, or no answer), else None."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(name, "").upper() in _TRUE:
            return f"{name} is set"
    url = urlparse(hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"{hub_endpoint()} did not answer: {exc.__class__.__name__}"


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """``datasets`` and ``huggingface_hub`` in offline mode (their flags are read at import)."""
    import datasets
    import huggingface_hub.constants as hub_constants

    saved = datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved


def _describe(spec: HubDatasetSource) -> str:
    parts = [spec.id] + [f"{k} {v!r}" for k in ("config", "revision") if (v := getattr(spec, k))]
    return f"hub dataset {' '.join(parts)} (split {spec.split!r})"


def load_hub_dataset(spec: HubDatasetSource, log: Callable[[str], None] | None = None) -> Any:
    """The split of the hub dataset: downloaded, or from the local cache when offline.

    Raises:
        SourceError: offline and not cached, not on the hub, or no such split.
    """
    import datasets

    reason = offline_reason()
    what = _describe(spec)
    if reason and log:
        log(f"  {spec.id}: the hub is not usable ({reason}); reading the local cache")
    kwargs = {"name": spec.config, "split": spec.split, "revision": spec.revision}
    try:
        with _offline() if reason else contextlib.nullcontext():
            return datasets.load_dataset(spec.id, **{k: v for k, v in kwargs.items() if v})
    except ValueError as exc:  # an unknown split or config
        raise SourceError(f"{what}: {exc}") from None
    except (ConnectionError, FileNotFoundError, OSError) as exc:
        if reason:
            raise SourceError(
                f"{what} is not in the local datasets cache and the hub is not usable "
                f"({reason}); download it where the hub is reachable and save it with "
                "save_to_disk, then use source: hf_disk"
            ) from None
        raise SourceError(f"{what}: {exc}") from None
    except Exception as exc:  # datasets' own errors (DatasetNotFoundError, ...) share no base
        raise SourceError(f"{what}: {exc.__class__.__name__}: {exc}") from None


def prepare_hf_hub(spec: HubDatasetSource, ctx: PrepareContext) -> SourceRows:
    """Read the hub dataset's split into candidates (audio bytes go to the staging folder)."""
    data = load_hub_dataset(spec, ctx.log)
    return dataset_candidates(data, spec, ctx, f"hf://{spec.id}/{spec.split}", None)


def fingerprint_hf_hub(spec: HubDatasetSource, ctx: PrepareContext | None = None) -> str:
    """The spec itself: a revision pins the data; without one the hub's latest is used."""
    keys = ("id", "config", "split", "revision")
    return hashlib.sha256(json.dumps([getattr(spec, k) for k in keys]).encode()).hexdigest()
