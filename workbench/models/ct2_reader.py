"""Reader for CTranslate2 ``model.bin`` files (binary format version 6).

Layout (little-endian): u32 version; string spec name; u32 revision; u32 variable count;
per variable: string name, u8 rank, ``rank`` x u32 dims, u8 dtype, u32 byte count, raw C-order
data; then u32 alias count and (alias, target) string pairs. A string is a u16 length that
counts a trailing NUL, then the bytes and the NUL.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

SUPPORTED_VERSION = 6

# CTranslate2 dtype codes. bf16 has no numpy dtype: it is read as uint16 and widened.
_DTYPES: dict[int, str] = {0: "<f4", 1: "i1", 2: "<i2", 3: "<i4", 4: "<f2", 5: "bf16"}


class CT2FormatError(ValueError):
    """A ``model.bin`` that is truncated, of another version, or otherwise malformed."""


@dataclass
class CT2Model:
    """Everything a ``model.bin`` holds: spec name and revision, variables, aliases."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray:
        """Return a variable by name, following aliases."""
        seen = set()
        while name in self.aliases and name not in self.variables:
            if name in seen:
                raise CT2FormatError(f"alias cycle at {name!r}")
            seen.add(name)
            name = self.aliases[name]
        try:
            return self.variables[name]
        except KeyError:
            raise CT2FormatError(f"model.bin has no variable {name!r}") from None


class _Reader:
    def __init__(self, stream: BinaryIO, source: str) -> None:
        self.stream = stream
        self.source = source

    def read(self, n: int, what: str) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise CT2FormatError(
                f"{self.source}: file ends early while reading {what} "
                f"(wanted {n} bytes, got {len(data)}); the file is truncated"
            )
        return data

    def u8(self, what: str) -> int:
        return self.read(1, what)[0]

    def u16(self, what: str) -> int:
        return struct.unpack("<H", self.read(2, what))[0]

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.read(4, what))[0]

    def string(self, what: str) -> str:
        length = self.u16(what)
        raw = self.read(length, what)
        if length == 0 or raw[-1] != 0:
            raise CT2FormatError(f"{self.source}: {what} is not a NUL-terminated string")
        return raw[:-1].decode("utf-8")


def read_ct2_model(source: str | Path | BinaryIO, *, name: str | None = None) -> CT2Model:
    """Parse a CTranslate2 ``model.bin`` from a path or a binary stream.

    Raises:
        CT2FormatError: the file is truncated, has trailing bytes, an unknown dtype, or a
            format version other than 6.
    """
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            return read_ct2_model(io.BufferedReader(f, buffer_size=1 << 20), name=str(source))
    r = _Reader(source, name or "model.bin")
    version = r.u32("format version")
    if version != SUPPORTED_VERSION:
        raise CT2FormatError(
            f"{r.source}: CTranslate2 format version {version}; only version "
            f"{SUPPORTED_VERSION} is supported"
        )
    spec = r.string("spec name")
    revision = r.u32("spec revision")
    count = r.u32("variable count")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        var = r.string("variable name")
        rank = r.u8(f"rank of {var}")
        dims = tuple(r.u32(f"shape of {var}") for _ in range(rank))
        code = r.u8(f"dtype of {var}")
        if code not in _DTYPES:
            raise CT2FormatError(f"{r.source}: variable {var!r} has unknown dtype code {code}")
        nbytes = r.u32(f"size of {var}")
        raw = r.read(nbytes, f"data of {var}")
        dtype = _DTYPES[code]
        if dtype == "bf16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=dtype)
        expected = int(np.prod(dims)) if dims else 1
        if array.size != expected:
            raise CT2FormatError(
                f"{r.source}: variable {var!r} holds {array.size} values, shape {dims} "
                f"needs {expected}"
            )
        variables[var] = array.reshape(dims)
    aliases: dict[str, str] = {}
    alias_count = r.u32("alias count")
    for _ in range(alias_count):
        alias = r.string("alias name")
        aliases[alias] = r.string(f"target of alias {alias}")
    if source.read(1):
        raise CT2FormatError(f"{r.source}: unexpected bytes after the alias table")
    return CT2Model(spec=spec, revision=revision, variables=variables, aliases=aliases)
