"""The server's settings, checked when made; every error names the option."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
LOOPBACK_NAMES = ("localhost",)


class ServeConfigError(ValueError):
    """A server setting that cannot be used; the message names the option."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: reachable from this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_adapter(arg: str) -> tuple[str, Path]:
    """``PKG`` (named after its folder) or ``NAME=PKG`` -> (name, folder).

    Raises:
        ServeConfigError: a name the API cannot carry.
    """
    name, sep, path = arg.partition("=")
    if not sep or "/" in name or not name:
        folder = Path(arg)
        name = folder.resolve().name
    else:
        folder = Path(path)
    if not NAME.match(name):
        raise ServeConfigError(
            f"--adapter {arg}: name {name!r}; expected letters, digits and . _ : - "
            "(at most 64, starting with a letter or digit); give one as NAME=PKG"
        )
    return name, folder


@dataclass
class ServeConfig:
    """What ``workbench serve`` runs: one base model, its adapters, limits, address."""

    model: str = "bundled:tiny.en"
    adapters: list[tuple[str, Path]] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    api_key_env: str | None = None
    max_batch: int = 8
    max_wait_ms: float = 20.0
    max_queue: int = 128
    max_upload_mb: float = 25.0  # the OpenAI API's own limit
    max_audio_seconds: float = 3600.0
    max_new_tokens: int | None = None  # per 30-s window; default: all positions left
    threads: int | None = None  # torch's intra-op threads; default: torch's own choice
    device: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ServeConfigError(f"--port: expected 0 to 65535, got {self.port}")
        sizes = (
            ("--max-batch", self.max_batch),
            ("--max-queue", self.max_queue),
            ("--max-new-tokens", self.max_new_tokens),
            ("--threads", self.threads),
        )
        for option, value in sizes:
            if value is not None and value < 1:
                raise ServeConfigError(f"{option}: expected a positive integer, got {value}")
        if not 0 <= self.max_wait_ms <= 10_000:
            raise ServeConfigError(f"--max-wait-ms: expected 0 to 10000, got {self.max_wait_ms}")
        if self.max_upload_mb <= 0:
            raise ServeConfigError(f"--max-upload-mb: expected above 0, got {self.max_upload_mb}")
        if self.max_audio_seconds <= 0:
            raise ServeConfigError(
                f"--max-audio-seconds: expected above 0, got {self.max_audio_seconds}"
            )
        names = [name for name, _ in self.adapters]
        for name in names:
            if name == self.model:
                raise ServeConfigError(f"--adapter: name {name!r} is the base model's name")
            if names.count(name) > 1:
                raise ServeConfigError(
                    f"--adapter: two adapters named {name!r}; name one as NAME=PKG"
                )
        if self.api_key_env is not None and self.api_key is None:
            key = os.environ.get(self.api_key_env, "")
            if not key.strip():
                raise ServeConfigError(
                    f"--api-key-env: environment variable {self.api_key_env} is unset or empty"
                )
            self.api_key = key.strip()
        if not is_loopback(self.host) and not self.api_key:
            raise ServeConfigError(
                f"--host {self.host}: reachable from other machines, so it needs an API key: "
                "put one in an environment variable and pass --api-key-env VAR"
            )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"
