"""Checking an uploaded file by its content, cleaning its name, and where files are kept."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from flask import current_app
from PIL import Image, ImageOps

from htsd_workflow.core.text import visible

#: (content type, extension, what the person is told) of the files we accept
PDF = ("application/pdf", "pdf")
JPEG = ("image/jpeg", "jpg")
PNG = ("image/png", "png")
WEBP = ("image/webp", "webp")
HEIC = ("image/heic", "heic")

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
MAX_NAME = 120


def detect_type(head: bytes) -> tuple[str, str] | None:
    """The (content type, extension) a file's first bytes show, or None if not accepted."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return HEIC
    return None


def clean_filename(name: str | None, extension: str) -> str:
    """A safe display name: no folders, control or reserved characters; the detected extension.

    Vietnamese letters stay (the download header encodes them), so "Giấy khen.jpg" stays
    readable.
    """
    name = visible(unicodedata.normalize("NFC", name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = _UNSAFE.sub(" ", stem)
    stem = " ".join(stem.split()).strip(" .")
    if not stem:
        stem = "minh-chung"
    stem = stem[: MAX_NAME - len(extension) - 1]
    return f"{stem}.{extension}"


def upload_root() -> Path:
    """The folder for evidence files: outside the web root (under instance/ by default)."""
    return Path(current_app.config["UPLOAD_FOLDER"])


def stored_path(case_id: int, stored_name: str) -> Path:
    return upload_root() / str(int(case_id)) / stored_name


#: the longest side a photo is kept at: enough to read a certificate, small for weak links
PHOTO_MAX_SIDE = 1600
#: (Pillow's format name, save options) of the photos shrunk on the server
_PHOTO_FORMATS = {
    JPEG[0]: ("JPEG", {"quality": 85, "optimize": True}),
    PNG[0]: ("PNG", {"optimize": True}),
    WEBP[0]: ("WEBP", {"quality": 85}),
}


def shrink_photo(path: Path, content_type: str) -> bool:
    """Rewrite a photo at ``path`` upright (its EXIF orientation applied), at most
    ``PHOTO_MAX_SIDE`` pixels on its longest side, and without its metadata (the location a
    phone writes into EXIF is not kept). Return whether it was rewritten: a file Pillow
    cannot read (HEIC, a damaged photo) is kept as it came."""
    kind = _PHOTO_FORMATS.get(content_type)
    if kind is None:
        return False
    name, options = kind
    try:
        with Image.open(path) as image:
            if content_type == JPEG[0]:
                image.draft("RGB", (PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))  # decode at a smaller scale
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
            if name == "JPEG" and upright.mode not in ("RGB", "L"):
                upright = upright.convert("RGB")
            shrunk = path.with_suffix(".shrunk")
            # saved without ``exif=``: no metadata, so no GPS position, goes along
            upright.save(shrunk, name, **options)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    shrunk.replace(path)
    return True
