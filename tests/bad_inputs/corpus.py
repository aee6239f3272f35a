"""A corpus of bad (and awkward but valid) inputs, made in code, for every entry point.

Truncated and empty files, text and SVG named as images, decompression bombs,
1×1 and 20000×20000 images, CMYK / 16-bit / palette-with-alpha / animated / EXIF-rotated images
(valid: they must work), no face, 20 faces, a non-UTF-8 file name, hostile zips and broken pairs
files. Each item says what must happen to it (``expect``), so one table drives every test.

Expected outcomes:

* ``invalid``  — refused as not a (safe) image: ``InvalidImage``, an "unreadable" bulk outcome;
* ``no_face``  — a readable image without a face;
* ``several``  — a readable image with several faces;
* ``ok``       — a valid image with one face, however awkwardly encoded: it must work;
* ``refused``  — a zip or pairs file refused whole with a typed error;
* ``partial``  — a zip that is read, with each bad member reported on its own line.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

Kind = Literal["image", "zip", "pairs"]
Expect = Literal["invalid", "no_face", "several", "ok", "refused", "partial"]


@dataclass(frozen=True)
class BadInput:
    name: str
    path: Path
    kind: Kind
    expect: Expect
    message: str = ""
    """A phrase the user-facing message must contain (case-insensitive); empty: any."""
    root: Path | None = None
    """Pairs files: the image root to pass with them."""

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def upload_name(self) -> str:
        """The file name a browser would send (always valid UTF-8)."""
        return os.fsencode(self.path.name).decode("utf-8", "replace")


# --- image encoders ------------------------------------------------------------------------------
def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int, *, bit_depth: int, colour: int, rows: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` with only ``rows`` rows of (zero) data:
    tiny on disk, enormous once decoded — a decompression bomb, made in milliseconds."""
    channels = {0: 1, 2: 3}[colour]
    row = b"\x00" + bytes((width * channels * bit_depth + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def face_crop(astronaut: np.ndarray) -> np.ndarray:
    """Eileen Collins's head from scikit-image's astronaut, with some margin."""
    return np.ascontiguousarray(astronaut[20:230, 150:330])


def twenty_faces(astronaut: np.ndarray) -> np.ndarray:
    """20 copies of one face (about 100 px) on a 4 × 5 grid, on a grey canvas over 800 px wide,
    so the detector finds them all without the slower upsampled retry."""
    crop = np.asarray(Image.fromarray(face_crop(astronaut)).resize((144, 168)))
    h, w = crop.shape[:2]
    canvas = np.full((4 * (h + 20) + 20, 5 * (w + 20) + 20, 3), 200, np.uint8)
    for i in range(20):
        r, c = divmod(i, 5)
        y, x = 20 + r * (h + 20), 20 + c * (w + 20)
        canvas[y : y + h, x : x + w] = crop
    return canvas


def _exif_rotated(astronaut: np.ndarray) -> bytes:
    """Pixels stored lying on their side, with EXIF orientation 6 saying "turn 90° clockwise":
    only a reader that applies the tag sees an upright face."""
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = Image.fromarray(astronaut).transpose(Image.Transpose.ROTATE_90)
    return _encode(sideways, "JPEG", exif=exif, quality=92)


def _animated_gif(astronaut: np.ndarray) -> bytes:
    frames = [Image.fromarray(astronaut), Image.fromarray(astronaut[:, ::-1])]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def _palette_alpha(astronaut: np.ndarray) -> bytes:
    image = Image.fromarray(astronaut).quantize(255)
    palette = image.getpalette() or []
    image.putpalette([*palette[: 255 * 3], 0, 0, 0])
    alpha = np.full(256, 255, np.uint8)
    alpha[255] = 0  # one fully transparent entry: a real palette-with-alpha PNG
    pixels = np.asarray(image).copy()
    pixels[:16, :16] = 255
    image = Image.fromarray(pixels, mode="P")
    image.putpalette([*palette[: 255 * 3], 0, 0, 0])
    return _encode(image, "PNG", transparency=alpha.tobytes())


def _bad_crc_png(astronaut: np.ndarray) -> bytes:
    data = bytearray(_encode(Image.fromarray(astronaut[:64, :64]), "PNG"))
    data[29] ^= 0xFF  # inside IHDR's CRC
    return bytes(data)


def _broken_exif_jpeg(astronaut: np.ndarray) -> bytes:
    return _encode(
        Image.fromarray(astronaut), "JPEG", exif=b"Exif\x00\x00MM\x00*garbage", quality=90
    )


def image_items(folder: Path, astronaut: np.ndarray, coffee: np.ndarray) -> list[BadInput]:
    """The image part of the corpus, written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    jpeg = _encode(Image.fromarray(astronaut), "JPEG", quality=90)
    png = _encode(Image.fromarray(astronaut), "PNG")
    gray16 = (np.asarray(Image.fromarray(astronaut).convert("L"), np.uint16) * 257).astype(
        np.uint16
    )
    transparent = np.zeros((64, 64, 4), np.uint8)
    specs: list[tuple[str, bytes, Expect, str]] = [
        ("truncated.jpg", jpeg[: len(jpeg) // 2], "invalid", "truncated"),
        ("truncated.png", png[: len(png) // 3], "invalid", ""),
        ("zero_bytes.jpg", b"", "invalid", "empty"),
        ("text.jpg", b"shopping list: milk, eggs\n", "invalid", "not an image format"),
        ("html.png", b"<!doctype html><html><body>hi</body></html>", "invalid", "not an image"),
        ("pdf.jpg", b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n", "invalid", "not an image"),
        (
            "drawing.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
            b'<circle cx="50" cy="50" r="40"/></svg>',
            "invalid",
            "not an image format",
        ),
        ("bad_crc.png", _bad_crc_png(astronaut), "invalid", ""),
        (
            "bomb.png",  # 100000² pixels claimed: Pillow's own bomb check fires on open
            _png_claiming(100_000, 100_000, bit_depth=1, colour=0, rows=8),
            "invalid",
            "10,000 megapixels",
        ),
        (
            "huge_20000.png",  # 20000×20000 (400 MP) in a few kB: our cap fires on the header
            _png_claiming(20_000, 20_000, bit_depth=1, colour=0, rows=20_000),
            "invalid",
            "400 megapixels",
        ),
        ("one_pixel.png", _encode(Image.new("RGB", (1, 1), (128, 64, 32)), "PNG"), "no_face", ""),
        ("strip_1x4000.png", _encode(Image.new("L", (1, 4000), 90), "PNG"), "no_face", ""),
        ("transparent.png", _encode(Image.fromarray(transparent, "RGBA"), "PNG"), "no_face", ""),
        ("coffee.png", _encode(Image.fromarray(coffee).resize((820, 547)), "PNG"), "no_face", ""),
        (
            "twenty_faces.png",
            _encode(Image.fromarray(twenty_faces(astronaut)), "PNG"),
            "several",
            "",
        ),
        ("cmyk.jpg", _encode(Image.fromarray(astronaut).convert("CMYK"), "JPEG"), "ok", ""),
        ("gray16.png", _encode(Image.fromarray(gray16), "PNG"), "ok", ""),
        ("gray.png", _encode(Image.fromarray(astronaut).convert("L"), "PNG"), "ok", ""),
        ("palette_alpha.png", _palette_alpha(astronaut), "ok", ""),
        ("animated.gif", _animated_gif(astronaut), "ok", ""),
        ("exif_rotated.jpg", _exif_rotated(astronaut), "ok", ""),
        ("broken_exif.jpg", _broken_exif_jpeg(astronaut), "ok", ""),
        ("png_named.jpg", png, "ok", ""),
        (
            "float32.tif",
            _encode(Image.fromarray(gray16.astype(np.float32) / 257, "F"), "TIFF"),
            "ok",
            "",
        ),
        ("webp.webp", _encode(Image.fromarray(astronaut), "WEBP", quality=90), "ok", ""),
        ("bmp.bmp", _encode(Image.fromarray(astronaut), "BMP"), "ok", ""),
    ]
    items = []
    for name, data, expect, message in specs:
        path = folder / name
        path.write_bytes(data)
        items.append(BadInput(name, path, "image", expect, message))
    odd = non_utf8_name(folder, "caf\udce9", ".png")
    if odd is not None:
        odd.write_bytes(_encode(Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])), "PNG"))
        items.append(BadInput("non_utf8_name.png", odd, "image", "ok"))
    return items


def non_utf8_name(folder: Path, stem: str, suffix: str) -> Path | None:
    """``folder/stem+suffix`` where ``stem`` holds a surrogate escape (a byte that is not
    UTF-8, e.g. Latin-1 ``é`` = 0xE9); None when the filesystem refuses such names."""
    path = folder / f"{stem}{suffix}"
    try:
        path.write_bytes(b"")
        path.unlink()
    except (OSError, UnicodeError):
        return None
    return path


# --- zips ----------------------------------------------------------------------------------------
def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _declared_size_bomb(png: bytes) -> bytes:
    """A zip whose central directory claims one entry inflates to 3 GB (a zip bomb's headers);
    the real data is one small image."""
    data = bytearray(_zip({"Eileen_Collins/a.png": png}))
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 3_000_000_000)
    return bytes(data)


def _deflate_bomb() -> bytes:
    """One entry of 60 MB of zeros (60 kB compressed, 1000:1), beside a text file."""
    zeros = bytes(60 * 1024 * 1024)
    return _zip({"Eileen_Collins/zeros.png": zeros, "Eileen_Collins/notes.jpg": b"notes"})


def zip_items(folder: Path, astronaut: np.ndarray) -> list[BadInput]:
    folder.mkdir(parents=True, exist_ok=True)
    png = _encode(Image.fromarray(astronaut), "PNG")
    specs: list[tuple[str, bytes, Expect, str]] = [
        (
            "zip_slip.zip",
            _zip({"Eileen_Collins/a.png": png, "../evil/a.png": png}),
            "refused",
            "outside",
        ),
        ("zip_absolute.zip", _zip({"/tmp/Eileen_Collins/a.png": png}), "refused", "outside"),
        ("zip_backslash.zip", _zip({"..\\evil\\a.png": png}), "refused", "outside"),
        ("zip_bomb_declared.zip", _declared_size_bomb(png), "refused", "MB"),
        ("zip_bomb_deflate.zip", _deflate_bomb(), "partial", ""),
        ("not_a_zip.zip", b"this is not a zip file at all", "refused", "zip"),
        ("zip_truncated.zip", _zip({"Eileen_Collins/a.png": png})[:-30], "refused", "zip"),
        ("zip_empty.zip", b"", "refused", "zip"),
        (
            "zip_nested.zip",
            _zip({"Eileen_Collins/inner.zip": _zip({"a/b.png": png})}),
            "partial",
            "",
        ),
    ]
    items = []
    for name, data, expect, message in specs:
        path = folder / name
        path.write_bytes(data)
        items.append(BadInput(name, path, "zip", expect, message))
    return items


# --- pairs files ---------------------------------------------------------------------------------
def pairs_items(folder: Path, astronaut: np.ndarray, images: list[BadInput]) -> list[BadInput]:
    """LFW-format pairs files that are malformed or point at missing or broken images."""
    root = folder / "lfw"
    for person in ("Eileen", "Broken"):
        (root / person).mkdir(parents=True, exist_ok=True)
    jpeg = _encode(Image.fromarray(astronaut), "JPEG", quality=90)
    (root / "Eileen" / "Eileen_0001.jpg").write_bytes(jpeg)
    bad = [i for i in images if i.expect == "invalid"]
    for n, item in enumerate(bad[:2], 1):
        (root / "Broken" / f"Broken_{n:04d}.jpg").write_bytes(item.data)
    specs: list[tuple[str, bytes, str]] = [
        ("pairs_missing_images.txt", b"1\nEileen\t1\t2\nEileen\t1\tNobody\t1\n", "missing"),
        ("pairs_malformed_line.txt", b"1\nEileen\t1\nEileen\t1\tGrace\t1\n", ":2: expected"),
        ("pairs_bad_header.txt", b"one pair\nEileen\t1\t2\n", "line 1"),
        ("pairs_count_mismatch.txt", b"3\nEileen\t1\t2\n", "header promises"),
        ("pairs_not_numbers.txt", b"1\nEileen\tone\ttwo\nEileen\t1\tGrace\tx\n", "expected"),
        ("pairs_empty.txt", b"", "empty"),
        ("pairs_binary.txt", bytes(range(256)) * 4, "text"),
        # Names are folder names, never paths: "../../etc" is refused before any file is read.
        ("pairs_traversal.txt", b"1\n../../etc\t1\t2\nEileen\t1\t../x\t1\n", "not a path"),
        (
            "pairs_broken_images.txt",
            b"1\nBroken\t1\t2\nEileen\t1\tBroken\t1\n",
            "genuine and impostor",
        ),
    ]
    items = []
    for name, data, message in specs:
        path = folder / name
        path.write_bytes(data)
        items.append(BadInput(name, path, "pairs", "refused", message, root=root))
    return items


def build_corpus(folder: Path, astronaut: np.ndarray, coffee: np.ndarray) -> list[BadInput]:
    images = image_items(folder / "images", astronaut, coffee)
    return (
        images
        + zip_items(folder / "zips", astronaut)
        + pairs_items(folder / "pairs", astronaut, images)
    )


# --- the gallery, before and after ---------------------------------------------------------------
def gallery_checksum(data_dir: Path, gallery=None) -> str:
    """SHA-256 over the gallery's people, faces and embeddings (read through the store API) and
    the bytes of every chip file: equal before and after means nothing was added or lost.

    ``gallery``: an open ``Gallery`` on ``data_dir`` to read through (the app's cached one);
    without it one is opened and closed here.
    """
    from store import Gallery

    digest = hashlib.sha256()
    owned = gallery is None
    if owned:
        gallery = Gallery(Path(data_dir) / "gallery")
    try:
        for person in sorted(gallery.people(), key=lambda p: p.id):
            digest.update(repr((person.id, person.name, person.notes, person.face_count)).encode())
            for face in sorted(gallery.faces_of(person.id), key=lambda f: f.id):
                digest.update(
                    repr(
                        (face.id, face.image_sha256, face.box, face.landmarks, face.score)
                    ).encode()
                )
            digest.update(np.ascontiguousarray(gallery.person_embeddings(person.id)).tobytes())
    finally:
        if owned:
            gallery.close()
    chips = Path(data_dir) / "gallery" / "chips"
    for chip in sorted(chips.rglob("*")) if chips.is_dir() else []:
        if chip.is_file():
            digest.update(chip.relative_to(chips).as_posix().encode())
            digest.update(chip.read_bytes())
    return digest.hexdigest()
