"""Training-data formats: read files in bounded memory and normalise their records.

Pure library code (stdlib, pyarrow and datasets only), shared by the import service and the CLI::

    with open_records(path) as source:
        for row in parse_file(source):
            ...  # row.record is an ExampleRecord / PairRecord, or row.error a RowError
"""

from app.formats.pipeline import ParsedRow, parse_file
from app.formats.readers import FileFormatError, RecordSource, open_records
from app.formats.records import (
    ROLES,
    ExampleRecord,
    Message,
    PairRecord,
    RecordInvalid,
    RowError,
    example_hash,
    pair_hash,
)
from app.formats.shapes import FORMATS, detect_format, parse_record

__all__ = [
    "FORMATS",
    "ROLES",
    "ExampleRecord",
    "FileFormatError",
    "Message",
    "PairRecord",
    "ParsedRow",
    "RecordInvalid",
    "RecordSource",
    "RowError",
    "detect_format",
    "example_hash",
    "open_records",
    "pair_hash",
    "parse_file",
    "parse_record",
]
