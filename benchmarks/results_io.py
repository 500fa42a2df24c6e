"""Writing a section's results (markdown + JSON) and reading figures back out of its markdown.

results/<section>.json is a flat object: `"path/name": number` pairs (slash-separated lowercase paths such as
`rqvae/beauty/recon_cosine`) plus two strings, `measured_on` (date, hardware) and `command` (what reproduces
it). Sections render markdown; their `figures(md)` read the numbers back with the helpers below, so the JSON
holds exactly the figures the markdown shows (at the precision it shows them) and can be derived for
sections measured before the JSON existed.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

KEY = re.compile(r"^[a-z0-9_@.+\-]+(/[a-z0-9_@.+\-]+)*$")
STRINGS = ("measured_on", "command")
_NUM = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[+-]?\d+)?", re.I)


def check_figures(figures: dict) -> dict:
    """Flat `name: number` pairs only: a bool, string, None, NaN/inf or nested value is an error, as is a
    key that is not a lowercase slash path."""
    for k, v in figures.items():
        if not isinstance(k, str) or not KEY.match(k) or k in STRINGS:
            raise ValueError(f"figure name {k!r}: expected a lowercase slash path like 'rqvae/beauty/recon_cosine'")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"figure {k!r} = {v!r}: expected a number")
        if not math.isfinite(v):
            raise ValueError(f"figure {k!r} = {v!r}: expected a finite number")
    return figures


def results_json(figures: dict, measured_on: str, command: str) -> dict:
    if not (isinstance(measured_on, str) and measured_on and isinstance(command, str) and command):
        raise ValueError("measured_on and command must be non-empty strings")
    return {**dict(sorted(check_figures(figures).items())), "measured_on": measured_on, "command": command}


def _write_atomic(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    return tmp


def write_section(results_dir: Path, name: str, md: str | None, figures: dict, measured_on: str, command: str) -> Path:
    """Write results/<name>.md (unless md is None) and results/<name>.json. Both are checked and written to
    temporary files first and then renamed, so a bad figure leaves the stored pair as it was."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    obj = results_json(figures, measured_on, command)
    staged = [
        (_write_atomic(results_dir / f"{name}.json", json.dumps(obj, indent=2) + "\n"), results_dir / f"{name}.json")
    ]
    if md is not None:
        staged.append((_write_atomic(results_dir / f"{name}.md", md), results_dir / f"{name}.md"))
    for tmp, final in staged:
        os.replace(tmp, final)
    return results_dir / f"{name}.json"


# ---------------------------------------------------------------------------------------------
# reading figures back from the markdown


def measured_on_from_md(md: str) -> str:
    """'<date>, <machine>' from the header the runner writes: `_Measured <date> on: <machine>; section took …_`."""
    m = re.search(r"^_Measured (\S+) on: (.*?)(?:; section took [^_]*)?\._\s*$", md, re.M)
    if not m:
        raise ValueError("no '_Measured <date> on: ...' line in the section's markdown")
    return f"{m.group(1)}, {m.group(2)}"


def header_figures(md: str) -> dict:
    m = re.search(r"^_Measured .*; section took (\d+) s", md, re.M)
    return {"section_s": int(m.group(1))} if m else {}


def num(cell: str) -> int | float | None:
    """The number a cell or phrase starts with: '0.4800 ± 0.0087' -> 0.48, '12,101' -> 12101, '**17.8×**' -> 17.8,
    '1.4e-07' -> 1.4e-07; None for '—', '–', '' and text."""
    s = cell.strip().strip("*` ")
    m = _NUM.match(s)
    if not m:
        return None
    t = m.group(0).replace(",", "")
    return float(t) if any(c in t for c in ".eE") else int(t)


def nums(text: str) -> list[int | float]:
    """Every number in a phrase, in order ('0.6357 ± 0.0184' -> [0.6357, 0.0184])."""
    return [num(t) for t in _NUM.findall(text)]


def slug(text: str) -> str:
    """A key segment: lowercase, runs of other characters -> '_' ('SASRec-BCE (ours)' -> 'sasrec_bce_ours')."""
    return re.sub(r"[^a-z0-9@.+]+", "_", text.lower()).strip("_")


def md_tables(md: str) -> list[dict]:
    """Every pipe table: {"heading": nearest heading above, "before": the paragraph just above, "rows": [{header:
    cell}]} in document order."""
    out, heading, para, lines = [], "", "", md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[i + 1].strip()):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                rows.append(dict(zip(header, cells)))
                i += 1
            out.append({"heading": heading, "before": para, "rows": rows})
            continue
        if line and not line.startswith("|"):
            para = line
        i += 1
    return out


def put(out: dict, key: str, value) -> None:
    """out[key] = value when value is a number (a '—' cell is simply not a figure)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        out[key] = value


def aliases(out: dict, names: dict[str, str]) -> dict:
    """Adds figures under the names an issue's quality checks read (new name: stored name), where measured."""
    for new, old in names.items():
        if old in out:
            out[new] = out[old]
    return out
