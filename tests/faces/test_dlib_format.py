"""dlib's serialization primitives, read from hand-made bytes, and wrong model files."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ModelFileError
from engine.faces.dlib_format import DlibReader
from engine.faces.model_files import FACE_RESNET_FILE, LANDMARKS_5_FILE, model_path
from engine.faces.resnet import load_face_resnet


def reader(hex_or_bytes: str | bytes) -> DlibReader:
    data = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
    return DlibReader(data, name="test")


def encode_int(value: int) -> bytes:
    """dlib's integer encoding, written independently of the reader to cross-check it."""
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


# --- integers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hex_bytes", "value"),
    [
        ("01 00", 0),  # the doc's examples
        ("01 02", 2),
        ("81 01", -1),
        ("01 ff", 255),
        ("02 2c 01", 300),  # multi-byte, little-endian
        ("83 70 11 01", -70000),
        ("08 ff ff ff ff ff ff ff 7f", 2**63 - 1),
        ("00", 0),  # zero bytes of value is also zero
    ],
)
def test_read_int(hex_bytes: str, value: int) -> None:
    r = reader(hex_bytes)
    assert r.read_int() == value
    assert r.remaining == 0


def test_read_int_round_trips_the_encoding() -> None:
    values = [0, 1, -1, 127, 128, -128, 65535, -65536, 2**31, -(2**40) + 3]
    r = reader(b"".join(encode_int(v) for v in values))
    assert [r.read_int() for _ in values] == values


def test_bad_integer_control_byte() -> None:
    with pytest.raises(ModelFileError, match="bad integer control byte 0x31"):
        reader("31 00").read_int()


# --- floats --------------------------------------------------------------------------------
def test_read_float_of_the_doc_example() -> None:
    # 0.04 = 10737418 · 2^-28: mantissa first, then exponent.
    value = reader("03 0a d7 a3 81 1c").read_float()
    assert value == 10737418 * 2.0**-28
    assert value == pytest.approx(0.04, rel=1e-7)


def test_read_negative_and_exact_floats() -> None:
    r = reader(encode_int(-10737418) + encode_int(-28) + encode_int(3) + encode_int(4))
    assert r.read_float() == -10737418 * 2.0**-28
    assert r.read_float() == 48.0


@pytest.mark.parametrize(
    ("exponent", "check"),
    [
        (32000, lambda v: v == math.inf),
        (32001, lambda v: v == -math.inf),
        (32002, math.isnan),
    ],
)
def test_read_float_special_exponents(exponent: int, check) -> None:
    assert check(reader(encode_int(0) + encode_int(exponent)).read_float())


# --- strings, bools, matrices, tensors ------------------------------------------------------
def test_read_string_and_expect_string() -> None:
    r = reader(encode_int(5) + b"con_4" + encode_int(7) + b"affine_")
    assert r.read_string() == "con_4"
    r.expect_string("affine_")
    assert r.remaining == 0


def test_expect_string_mismatch_names_both_and_does_not_move() -> None:
    r = reader(encode_int(5) + b"relu_")
    with pytest.raises(ModelFileError, match=r"expected record 'con_4', found 'relu_'"):
        r.expect_string("con_4")
    assert r.pos == 0


def test_read_bool() -> None:
    r = reader(b"10")
    assert r.read_bool() is True
    assert r.read_bool() is False
    with pytest.raises(ModelFileError, match="bad bool"):
        reader(b"x").read_bool()


def test_read_float_matrix() -> None:
    # rows and cols are stored negated (dlib's "new format" marker), elements row-major.
    data = encode_int(-2) + encode_int(-1) + encode_int(3) + encode_int(0)
    data += encode_int(-1) + encode_int(-1)
    m = reader(data).read_float_matrix()
    assert m.shape == (2, 1)
    np.testing.assert_array_equal(m[:, 0], [3.0, -0.5])


def test_read_tensor_is_raw_little_endian_float32() -> None:
    values = [1.5, -2.0, 0.25, 1e-8]
    data = encode_int(2) + b"".join(encode_int(d) for d in (1, 2, 1, 2))
    data += struct.pack("<4f", *values)
    t = reader(data).read_tensor()
    assert t.shape == (1, 2, 1, 2)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.ravel(), np.float32(values))


def test_read_alias_tensor() -> None:
    data = encode_int(1) + b"".join(encode_int(d) for d in (32, 3, 7, 7))
    assert reader(data).read_alias_tensor() == (32, 3, 7, 7)


def test_tensor_with_wrong_version() -> None:
    with pytest.raises(ModelFileError, match="unsupported tensor version 3"):
        reader(encode_int(3)).read_tensor()


# --- truncated data ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "data"),
    [
        ("read_int", bytes.fromhex("08 01 02")),  # promises 8 bytes, has 2
        ("read_string", encode_int(9) + b"con"),  # promises 9 characters, has 3
        ("read_float", bytes.fromhex("03 0a d7 a3")),  # mantissa without its exponent
        # a 1×1×1×4 tensor with only two of its four floats
        ("read_tensor", encode_int(2) + b"".join(map(encode_int, (1, 1, 1, 4))) + b"\0" * 8),
    ],
)
def test_truncated_data_raises_model_file_error(method: str, data: bytes) -> None:
    with pytest.raises(ModelFileError, match=r"test: unexpected end of file at byte \d+"):
        getattr(reader(data), method)()


# --- whole files ---------------------------------------------------------------------------
def test_the_landmark_file_is_not_the_face_resnet() -> None:
    with pytest.raises(ModelFileError, match="not dlib's face recognition ResNet"):
        load_face_resnet(model_path(LANDMARKS_5_FILE))


def test_random_bytes_are_not_the_face_resnet(tmp_path: Path) -> None:
    path = tmp_path / "random.dat"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFileError, match="not dlib's face recognition ResNet"):
        load_face_resnet(path)


def test_truncated_face_resnet_file(tmp_path: Path) -> None:
    data = model_path(FACE_RESNET_FILE).read_bytes()
    path = tmp_path / "truncated.dat"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"truncated.dat.*unexpected end of file"):
        load_face_resnet(path)


def test_trailing_bytes_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "padded.dat"
    path.write_bytes(model_path(FACE_RESNET_FILE).read_bytes() + b"\0\0")
    with pytest.raises(ModelFileError, match="2 unexpected bytes after the network"):
        load_face_resnet(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read model file"):
        load_face_resnet(tmp_path / "nope.dat")
