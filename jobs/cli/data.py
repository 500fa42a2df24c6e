"""`genrec data …`: list, pull and inspect datasets. Mounted by the main CLI as the `data` sub-command.

Errors (unknown dataset, missing mirror file, bad checksum, malformed source) print one line on stderr and
exit with code 2: a user needs the message, not a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from rec_core.data import DataError, list_datasets, pull, stats
from rec_core.data.store import load_dataset
from rec_core.paths import default_data_dir, default_mirror

data_app = typer.Typer(help="List, pull (download or copy from a mirror) and inspect datasets.", no_args_is_help=True)

DataDirOpt = typer.Option(
    None, "--data-dir", help="Where normalised Parquet lives (default: $GENREC_DATA_DIR or ~/.cache/genrec/data)."
)
MirrorOpt = typer.Option(None, "--from", help="Local mirror folder to copy from instead of downloading.")


def _data_dir(opt: Optional[Path]) -> Path:
    return opt if opt is not None else default_data_dir()  # default_data_dir honours $GENREC_DATA_DIR


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code=2)


@data_app.command("list")
def list_cmd(
    data_dir: Optional[Path] = DataDirOpt,
    mirror: Optional[Path] = MirrorOpt,
    as_json: bool = typer.Option(False, "--json"),
):
    """Show every registered dataset: pulled here?, in the mirror?, download-only?, licence."""
    rows = list_datasets(_data_dir(data_dir), mirror if mirror is not None else default_mirror())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'name':<22} {'present':<8} {'mirror':<7} {'download-only':<14} licence")
    for r in rows:
        yn = lambda b: "yes" if b else "-"  # noqa: E731
        typer.echo(
            f"{r['name']:<22} {yn(r['present']):<8} {yn(r['in_mirror']):<7} {yn(r['download_only']):<14} "
            f"{r['licence'][:70]}"
        )


@data_app.command("pull")
def pull_cmd(
    name: str,
    mirror: Optional[Path] = MirrorOpt,
    data_dir: Optional[Path] = DataDirOpt,
    force: bool = typer.Option(False, "--force", help="Re-fetch and re-parse even when already present."),
):
    """Fetch NAME (from --from DIR, else its official URL), verify sha256, write Parquet."""
    try:
        out = pull(name, _data_dir(data_dir), mirror, force=force)
        counts = stats(name, _data_dir(data_dir))
    except (DataError, OSError) as e:  # OSError: unwritable data dir, full disk
        _fail(e)
    typer.echo(f"{name}: {json.dumps(counts)} -> {out}")


@data_app.command("stats")
def stats_cmd(
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Print the counts as one JSON object."),
    data_dir: Optional[Path] = DataDirOpt,
    mirror: Optional[Path] = MirrorOpt,
):
    """Counts of NAME (pulled from the mirror first when absent)."""
    try:
        ddir = _data_dir(data_dir)
        counts = stats(name, ddir, mirror if mirror is not None else default_mirror())
    except (DataError, OSError) as e:  # OSError: unwritable data dir, full disk
        _fail(e)
    if as_json:
        typer.echo(json.dumps(counts))
        return
    ds = load_dataset(name, ddir)
    for k, v in counts.items():
        typer.echo(f"{k:<14} {v:,}")
    typer.echo(f"{'catalog items':<14} {len(ds.items):,}")
    typer.echo(f"licence        {ds.meta.get('licence', '')}")
    for k, v in ds.meta.get("notes", {}).items():
        typer.echo(f"note: {k}: {v}")


if __name__ == "__main__":
    data_app()
