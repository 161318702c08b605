from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from ct2_writer import write_model_bin

from workbench.models.ct2_reader import CT2FormatError, read_ct2_model


def _variables() -> dict[str, np.ndarray]:
    return {
        "encoder/num_heads": np.array(6, dtype="<i2"),
        "decoder/embeddings/weight": np.arange(12, dtype="<f2").reshape(4, 3),
        "encoder/conv1/bias": np.array([1.5, -2.0], dtype="<f4"),
    }


def test_round_trip_keeps_names_shapes_values_and_aliases(tmp_path):
    path = tmp_path / "model.bin"
    write_model_bin(path, _variables(), {"decoder/projection/weight": "decoder/embeddings/weight"})
    model = read_ct2_model(path)
    assert model.spec == "WhisperSpec"
    assert model.revision == 3
    assert list(model.variables) == list(_variables())
    for name, expected in _variables().items():
        np.testing.assert_array_equal(model.variables[name], expected)
        assert model.variables[name].dtype == expected.dtype
    np.testing.assert_array_equal(
        model.get("decoder/projection/weight"), _variables()["decoder/embeddings/weight"]
    )


def test_bf16_is_widened_to_float32(tmp_path):
    path = tmp_path / "model.bin"
    values = np.array([1.0, -0.5, 3.25], dtype="<f4")  # exact in bf16
    write_model_bin(path, {"w": values}, bf16={"w"})
    got = read_ct2_model(path).variables["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values)


@pytest.mark.parametrize("cut", [3, 10, 40, -30, -1])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    path = tmp_path / "model.bin"
    write_model_bin(path, _variables())
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(CT2FormatError, match=r"truncated|ends early"):
        read_ct2_model(path)


def test_other_format_version_is_refused(tmp_path):
    path = tmp_path / "model.bin"
    write_model_bin(path, _variables(), version=5)
    with pytest.raises(CT2FormatError, match="version 5"):
        read_ct2_model(path)


def test_trailing_bytes_are_refused(tmp_path):
    path = tmp_path / "model.bin"
    write_model_bin(path, _variables())
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(CT2FormatError, match="unexpected bytes"):
        read_ct2_model(path)


def test_unknown_dtype_code_is_refused():
    name = b"w\0"
    blob = (
        struct.pack("<I", 6)
        + struct.pack("<H", 12)
        + b"WhisperSpec\0"
        + struct.pack("<II", 3, 1)
        + struct.pack("<H", len(name))
        + name
        + struct.pack("<BIB", 1, 1, 9)
    )
    with pytest.raises(CT2FormatError, match="unknown dtype code 9"):
        read_ct2_model(io.BytesIO(blob))


def test_missing_variable_names_itself():
    with pytest.raises(CT2FormatError, match="no variable 'nope'"):
        read_ct2_model(io.BytesIO(_minimal())).get("nope")


def _minimal() -> bytes:
    return (
        struct.pack("<I", 6)
        + struct.pack("<H", 12)
        + b"WhisperSpec\0"
        + struct.pack("<III", 3, 0, 0)
    )
