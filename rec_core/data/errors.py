"""Errors of the data layer. Every message names the file (and line/field when known) so a user can fix it."""

from __future__ import annotations

from pathlib import Path


class DataError(RuntimeError):
    """Base class: any data-layer failure a user can act on (the CLI prints it without a traceback)."""


class UnknownDatasetError(DataError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0] if self.args else ""


class DatasetUnavailableError(DataError):
    """A file is neither in the mirror nor downloadable (or the download failed)."""


class ChecksumError(DataError):
    def __init__(self, file: str | Path, expected: str, actual: str, kind: str = "sha256"):
        self.file, self.expected, self.actual = str(file), expected, actual
        super().__init__(f"checksum mismatch for {file}: expected {kind} {expected}, got {actual}")


class DataFormatError(DataError):
    """A source file is truncated or malformed. Names the file and, when known, the line and field."""

    def __init__(self, file: str | Path, detail: str, *, line: int | None = None, field: str | None = None):
        self.file, self.detail, self.line, self.field = str(file), detail, line, field
        where = str(file)
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {detail}")

    def relocated(self, file: str | Path) -> "DataFormatError":
        """The same error, naming `file` (e.g. the mirror path or URL rather than a temporary copy)."""
        return DataFormatError(file, self.detail, line=self.line, field=self.field)
