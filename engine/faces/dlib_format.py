"""Reader for dlib's binary serialization (dlib/serialize.h, dlib/dnn/core.h).

dlib writes models with a small set of primitives; we read them ourselves so that no dlib
is needed at run time. See ``shared/docs/dlib-models.md`` for the format.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from engine.errors import ModelFileError

# Exponent values dlib uses to encode special floats.
_EXP_POS_INF, _EXP_NEG_INF, _EXP_NAN = 32000, 32001, 32002


class DlibReader:
    """Sequential reader over the bytes of a dlib-serialized file.

    Every ``read_*`` advances the cursor; a read past the end raises ``ModelFileError``
    naming the file and offset, so a truncated or wrong file fails with a clear message.
    """

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        self._data = memoryview(data)
        self.pos = 0
        self.name = name

    @classmethod
    def from_file(cls, path: str | Path) -> DlibReader:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from exc
        return cls(data, name=str(path))

    @property
    def remaining(self) -> int:
        return len(self._data) - self.pos

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self._data):
            raise ModelFileError(
                f"{self.name}: unexpected end of file at byte {self.pos} (wanted {n} more bytes)"
            )
        chunk = self._data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def fail(self, message: str) -> ModelFileError:
        """An error that names the file and where in it the problem is."""
        return ModelFileError(f"{self.name}: {message} (at byte {self.pos})")

    # --- primitives -------------------------------------------------------------------
    def read_int(self) -> int:
        """Integer of any width: control byte (bit 7 = negative, low 4 bits = n), n LE bytes."""
        control = self._take(1)[0]
        n = control & 0x0F
        if n > 8 or control & 0x70:
            self.pos -= 1
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self._take(n), "little") if n else 0
        return -value if control & 0x80 else value

    def read_bool(self) -> bool:
        c = bytes(self._take(1))
        if c == b"1":
            return True
        if c == b"0":
            return False
        self.pos -= 1
        raise self.fail(f"bad bool byte {c!r}")

    def read_float(self) -> float:
        """float/double: 64-bit mantissa integer, then 16-bit exponent; value = m * 2**e."""
        mantissa = self.read_int()
        exponent = self.read_int()
        if exponent == _EXP_POS_INF:
            return math.inf
        if exponent == _EXP_NEG_INF:
            return -math.inf
        if exponent == _EXP_NAN:
            return math.nan
        return math.ldexp(mantissa, exponent)

    def read_string(self) -> str:
        n = self.read_int()
        if n < 0:
            raise self.fail(f"negative string length {n}")
        return bytes(self._take(n)).decode("latin-1")

    def expect_string(self, expected: str) -> None:
        """Read a layer/record name and check it: the file's own sanity markers."""
        start = self.pos
        try:
            got = self.read_string()
        except ModelFileError:
            got = None
        if got != expected:
            self.pos = start
            raise self.fail(f"expected record {expected!r}, found {got!r}")

    def read_float_matrix(self) -> np.ndarray:
        """dlib matrix: -rows, -cols (negative = new format), elements row-major as floats."""
        rows, cols = -self.read_int(), -self.read_int()
        if rows < 0 or cols < 0:
            raise self.fail(f"bad matrix shape {rows}x{cols}")
        values = [self.read_float() for _ in range(rows * cols)]
        return np.asarray(values, dtype=np.float64).reshape(rows, cols)

    def read_tensor(self) -> np.ndarray:
        """dlib tensor: version 2, n, k, nr, nc, then raw little-endian float32."""
        version = self.read_int()
        if version != 2:
            raise self.fail(f"unsupported tensor version {version}")
        shape = tuple(self.read_int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"bad tensor shape {shape}")
        count = math.prod(shape)
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()

    def read_alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.read_int()
        if version != 1:
            raise self.fail(f"unsupported alias_tensor version {version}")
        return tuple(self.read_int() for _ in range(4))  # type: ignore[return-value]

    def skip_layer_training_state(self, with_sample_expansion: bool) -> None:
        """What dlib's ``add_layer`` wrapper writes after each layer body: three flags and three
        (training-only, empty in a saved net) tensors; the input layer's wrapper adds its sample
        expansion factor."""
        for _ in range(3):
            self.read_bool()
        for _ in range(3):
            self.read_tensor()
        if with_sample_expansion:
            self.read_int()

    def read_bytes(self, n: int) -> bytes:
        return bytes(self._take(n))
