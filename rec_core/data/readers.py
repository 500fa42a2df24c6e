"""Strict low-level readers: every malformed row raises DataFormatError with the file, line and field.

pandas' own readers silently coerce or drop bad rows (e.g. a truncated last line becomes NaN), which
would corrupt counts without anyone noticing; these readers refuse instead.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rec_core.data.errors import DataFormatError

csv.field_size_limit(2**31 - 1)  # TMDB overviews/keywords are long quoted fields


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """Decoded text with line ends untouched: line numbers count '\\n' only, as grep/sed/wc do."""
    try:
        with open(path, encoding=encoding, newline="") as fh:
            return fh.read()
    except UnicodeDecodeError as e:
        line = Path(path).read_bytes()[: e.start].count(b"\n") + 1
        raise DataFormatError(path, f"not valid {encoding} text ({e.reason})", line=line) from e


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"invalid JSON: {e.msg} (column {e.colno})", line=e.lineno) from e


def iter_delimited(
    path: Path, sep: str, n_fields: int | tuple[int, int], *, encoding: str = "utf-8", skip_blank: bool = True
) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for a simple separator-delimited file without quoting.

    n_fields: exact count, or (min, max) inclusive. A truncated last line (fewer fields) is an error.
    """
    lo, hi = (n_fields, n_fields) if isinstance(n_fields, int) else n_fields
    for i, raw in enumerate(read_text(path, encoding).split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            if skip_blank:
                continue
        parts = line.split(sep)
        if not lo <= len(parts) <= hi:
            want = str(lo) if lo == hi else f"{lo}-{hi}"
            raise DataFormatError(
                path, f"expected {want} fields separated by {sep!r}, found {len(parts)}: {line[:80]!r}", line=i
            )
        yield i, parts


def iter_csv(
    path: Path,
    expected_header: list[str] | None = None,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    quoting: int = csv.QUOTE_MINIMAL,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (physical line number of the row's end, row dict). Checks the header and every row's width."""
    # Feed '\n'-terminated pieces so line_num counts '\n' only: a bare '\r' inside a quoted field (TMDB has
    # three) is content, not a line break.
    text = read_text(path, encoding)
    pieces = [p + "\n" for p in text.split("\n")]
    if text.endswith("\n"):
        pieces.pop()
    reader = csv.reader(pieces, delimiter=delimiter, quoting=quoting, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataFormatError(path, "file is empty (no header)", line=1) from None
    except csv.Error as e:
        raise DataFormatError(path, f"unreadable header: {e}", line=1) from e
    if expected_header is not None and header[: len(expected_header)] != expected_header:
        raise DataFormatError(path, f"header {header} does not start with {expected_header}", line=1)
    width = len(header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataFormatError(path, f"malformed CSV: {e}", line=reader.line_num) from e
        if not row:
            continue
        if len(row) != width:
            raise DataFormatError(
                path,
                f"expected {width} fields, found {len(row)} (truncated or unbalanced quotes?)",
                line=reader.line_num,
            )
        yield reader.line_num, dict(zip(header, row))


def to_int(value: str, path: Path, line: int | None, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataFormatError(path, f"expected an integer, found {value!r}", line=line, field=field) from None


def to_float(value: str, path: Path, line: int | None, field: str, *, allow_empty: bool = False) -> float:
    if allow_empty and value.strip() == "":
        return math.nan
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DataFormatError(path, f"expected a number, found {value!r}", line=line, field=field) from None
    return out
