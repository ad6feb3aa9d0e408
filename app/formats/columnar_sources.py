"""Readers for columnar containers: Parquet files and ``datasets.save_to_disk`` directories.

Both are read a batch of rows at a time; pyarrow and datasets are imported only when needed
because importing datasets alone takes seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.formats.source_base import FileFormatError, RecordSource, Row

BATCH_ROWS = 1024


class _BatchSource(RecordSource):
    """Rows from an iterator of pyarrow batches (tables or record batches)."""

    unit = "record"

    def __init__(self, path: Path, total_rows: int) -> None:
        super().__init__(path)
        self._total_rows = total_rows
        self._rows_done = 0

    def _batches(self) -> Iterator[Any]:
        raise NotImplementedError

    def _records(self) -> Iterator[Row]:
        number = 0
        with self._reading():
            for batch in self._batches():
                # Progress moves per batch: cheaper than per row, and precise enough for a bar.
                self._rows_done = number
                for record in batch.to_pylist():
                    number += 1
                    yield number, record
        self._rows_done = number

    def _progress(self) -> float:
        return self._rows_done / self._total_rows if self._total_rows else 0.0


class ParquetSource(_BatchSource):
    container = "parquet"

    def __init__(
        self, path: Path, data_path: Path | None = None, *, delete_data: bool = False
    ) -> None:
        """Read ``data_path`` (default ``path``; ``path`` is the name used in messages), and
        delete it on close when ``delete_data`` (a temporary decompressed copy)."""
        self._delete_path = data_path if delete_data else None
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            self._file = pq.ParquetFile(data_path or path)
        except (pa.ArrowException, OSError) as exc:
            raise FileFormatError(f"{path}: not a readable Parquet file: {exc}") from None
        super().__init__(path, self._file.metadata.num_rows)

    def _batches(self) -> Iterator[Any]:
        import pyarrow as pa

        try:
            yield from self._file.iter_batches(batch_size=BATCH_ROWS)
        except pa.ArrowException as exc:
            raise FileFormatError(f"{self.path}: corrupt Parquet data: {exc}") from None

    def close(self) -> None:
        self._file.close()
        if self._delete_path is not None:
            self._delete_path.unlink(missing_ok=True)


class DatasetDirSource(_BatchSource):
    """A directory written by ``Dataset.save_to_disk`` (or ``DatasetDict.save_to_disk``, when
    the "train" split, or the only split, is read)."""

    container = "datasets"

    def __init__(self, path: Path) -> None:
        self.split: str | None = None
        data_dir = path
        if (path / "dataset_dict.json").is_file():
            self.split = _choose_split(path)
            data_dir = path / self.split
        if not (data_dir / "state.json").is_file():
            raise FileFormatError(
                f"{path}: a directory must be a dataset saved with datasets' save_to_disk"
            )
        import datasets

        try:
            self._dataset = datasets.load_from_disk(str(data_dir))
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"{path}: cannot load the dataset: {exc}") from None
        super().__init__(path, self._dataset.num_rows)

    def _batches(self) -> Iterator[Any]:
        return iter(self._dataset.with_format("arrow").iter(batch_size=BATCH_ROWS))

    def close(self) -> None:
        self._dataset = None  # the memory-mapped Arrow files are released with it


def _choose_split(path: Path) -> str:
    try:
        splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(f"{path}: unreadable dataset_dict.json: {exc}") from None
    if "train" in splits:
        return "train"
    if len(splits) == 1:
        return str(splits[0])
    raise FileFormatError(
        f"{path}: the dataset has splits {', '.join(map(str, splits))} and none is 'train'"
    )
