"""`genrec playlist`: type a title or a mood, get a numbered list of movies.

    genrec playlist "rainy sunday comedy"                 # one list, then exit
    genrec playlist --length 5 --mode sample --temperature 0.8 "heist"
    genrec playlist --json "time travel"                  # JSON for scripts
    genrec playlist --keyword-fusion 0 "heist"            # the T5 alone, without the keyword prior
    genrec playlist                                       # REPL on a terminal; one list per stdin line otherwise
    genrec playlist --checkpoint runs/playlist-.../       # a run dir or its model/ folder

The lead mounts it with `app.command("playlist")(playlist)`; `python -m jobs.cli.playlist` runs it alone.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

PROMPT = "playlist> "


class Mode(str, Enum):
    beam = "beam"
    sample = "sample"


def newest_run(root: Path = Path("runs")) -> Path | None:
    """The newest runs/playlist-*/model with a trained model, or None."""
    cands = sorted(
        (p for p in root.glob("playlist-*/model") if (p / "model_meta.json").exists()), key=lambda p: p.stat().st_mtime
    )
    return cands[-1] if cands else None


def format_list(res, mode: str) -> str:
    head = f'Playlist for "{res.text}" ({mode}, {len(res.items)} items, {res.seconds:.2f} s):'
    return "\n".join([head] + [f"{k:>2}. {t}" for k, t in enumerate(res.titles, 1)])


def as_json(res, mode: str) -> str:
    return json.dumps(
        {
            "text": res.text,
            "mode": mode,
            "seconds": round(res.seconds, 4),
            "invalid_ids": res.invalid,
            "items": [{"rank": k, "item_id": i, "title": t} for k, (i, t) in enumerate(zip(res.items, res.titles), 1)],
        }
    )


def playlist(
    text: Optional[str] = typer.Argument(None, help="title or mood; omit for a REPL (or one list per stdin line)"),
    length: int = typer.Option(10, "--length", "-n", min=1, max=100, help="items in the list"),
    mode: Mode = typer.Option(Mode.beam, "--mode", "-m", help="beam: the most likely list; sample: varied lists"),
    temperature: float = typer.Option(
        1.0, "--temperature", "-t", min=0.01, help="sampling temperature (higher = more diverse)"
    ),
    num_beams: int = typer.Option(10, "--num-beams", "-b", min=1, help="beam width"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed for sampling (repeatable lists)"),
    keyword_fusion: Optional[float] = typer.Option(
        None,
        "--keyword-fusion",
        "-k",
        min=0.0,
        help="weight of the keyword prior in decoding (items the training lists under the text's words hold); "
        "default: the weight the job chose on its valid texts; 0 = the T5 alone",
    ),
    json_out: bool = typer.Option(False, "--json", help="one JSON object per list"),
    checkpoint: Optional[Path] = typer.Option(
        None,
        "--checkpoint",
        "-c",
        help="run dir of `genrec run playlist` or its model/ dir (default: newest runs/playlist-*)",
    ),
) -> None:
    """Generate an ordered movie list from a title or mood with a trained playlist model."""
    from rec_core.playlist.generator import Playlister

    path = checkpoint or newest_run()
    if path is None:
        typer.echo(
            "error: no trained playlist model: run `genrec run playlist --preset cpu` or pass --checkpoint DIR",
            err=True,
        )
        raise typer.Exit(2)
    try:
        pl = Playlister.load(path)
    except (FileNotFoundError, ValueError, KeyError) as e:
        typer.echo(f"error: cannot load playlist model from {path}: {e}", err=True)
        raise typer.Exit(2) from None
    if keyword_fusion and pl.retriever is None:
        typer.echo(f"error: --keyword-fusion needs the training lists, and {path} has no candidates.parquet", err=True)
        raise typer.Exit(2)
    if length > len(pl.vocab.item_ids):
        typer.echo(f"error: --length {length} exceeds the {len(pl.vocab.item_ids)} items the model knows", err=True)
        raise typer.Exit(2)

    def answer(line: str) -> None:
        res = pl.generate(
            [line],
            length=length,
            mode=mode.value,
            num_beams=num_beams,
            temperature=temperature,
            seed=seed,
            keyword_fusion=keyword_fusion,
        )[0]
        typer.echo(as_json(res, mode.value) if json_out else format_list(res, mode.value))

    if text is not None:
        if not text.strip():
            typer.echo("error: empty text", err=True)
            raise typer.Exit(2)
        answer(text.strip())
        return
    interactive = sys.stdin.isatty()
    if interactive and not json_out:
        typer.echo("Type a title or mood (empty line or Ctrl-D to quit).")
    while True:
        if interactive:
            sys.stdout.write(PROMPT)
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            if interactive:
                break
            continue
        if line in ("quit", "exit", ":q"):
            break
        answer(line)
        sys.stdout.flush()


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(playlist)

if __name__ == "__main__":
    app()
