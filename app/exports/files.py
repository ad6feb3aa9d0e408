"""Snapshot files on disk: JSONL written once, hashed, and never rewritten (no DB, no web)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import IO, Any

import orjson


def _encode(row: dict[str, Any]) -> bytes:
    # Compact UTF-8 JSON, keys in the row's order; orjson is several times faster than json.
    try:
        return orjson.dumps(row) + b"\n"
    except orjson.JSONEncodeError:  # e.g. a lone surrogate, which orjson refuses
        return json.dumps(row, separators=(",", ":")).encode() + b"\n"


def item_line(kind: str, item_id: int, version: int, content_hash: str, split: str) -> bytes:
    """The `items.jsonl` row, byte for byte what `_encode` writes for the same dict, built
    without one: this line is written once per exported row."""
    return b'{"kind":%s,"id":%d,"version":%d,"content_hash":%s,"split":%s}\n' % (
        orjson.dumps(kind),
        item_id,
        version,
        orjson.dumps(content_hash),
        orjson.dumps(split),
    )


class JsonlFiles:
    """Lazily opened JSONL files in one folder, keyed by file name; counts rows per file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._handles: dict[str, IO[bytes]] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, row: dict[str, Any]) -> None:
        self.write_line(name, _encode(row))

    def write_line(self, name: str, line: bytes) -> None:
        """One row already encoded as a JSON line (ending in a newline)."""
        handle = self._handles.get(name)
        if handle is None:
            handle = (self.folder / name).open("wb")
            self._handles[name] = handle
            self.rows[name] = 0
        handle.write(line)
        self.rows[name] += 1

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def write_parquet(jsonl: Path) -> Path:
    import datasets  # heavy: only when asked for

    target = jsonl.with_suffix(".parquet")
    datasets.Dataset.from_json(str(jsonl), keep_in_memory=False).to_parquet(str(target))
    return target


def write_datasets_tar(jsonl: Path) -> Path:
    """A `save_to_disk` folder, packed as an uncompressed, reproducible tar for download."""
    import datasets

    folder = jsonl.with_suffix(".datasets")
    datasets.Dataset.from_json(str(jsonl), keep_in_memory=False).save_to_disk(str(folder))
    target = jsonl.with_suffix(".datasets.tar")
    with tarfile.open(target, "w") as tar:
        for path in sorted(folder.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(folder.parent)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_file():
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    shutil.rmtree(folder)
    return target
