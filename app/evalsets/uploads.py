"""An uploaded eval file lives on disk only while it is read: its records end up in the
database (each item keeps the record as read), so the file is removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from app.config import Settings
from app.imports.uploads import discard, store_upload

UPLOAD_FOLDER = "eval-sets"


@contextmanager
def uploaded_file(stream: BinaryIO, filename: str, settings: Settings) -> Iterator[Path]:
    """Stream the upload to disk (within the upload limit), yield its path, then delete it."""
    path = store_upload(
        stream, filename, settings.upload_dir / UPLOAD_FOLDER, settings.upload_max_bytes
    )
    try:
        yield path
    finally:
        discard(path)
