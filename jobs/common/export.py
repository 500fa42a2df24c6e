"""`genrec export RUN_DIR --out DIR`: find the trained model in a run dir and write it in its ecosystem's format.

What each run dir holds (written by its job) and what comes out (format code: `rec_core.export`):

- tiger: model/ (state.pt, meta.json, item_tokens.npy) -> HF T5 (save_pretrained, safetensors), genrec.json,
  sid_table.json
- playlist: model/ (model.pt, model_meta.json, codes, titles) -> HF T5 + text_encoder.safetensors, tokenizer/,
  codes and titles
- sasrec: model/ (state.pt, meta.json) -> model.safetensors + config.json
- ncf: config.json + the newest checkpoint in train/<model>/ -> model.safetensors + config.json (gmf, mlp, neumf)
- rag_sentiment with LoRA: model/adapter/ + model/head.safetensors -> the peft adapter (adapter_config.json,
  adapter_model.safetensors), head.safetensors, sentiment_config.json, tokenizer/; an ensemble run adds each
  other member the same way under members/<k>/

Every read is `weights_only=True` or safetensors. Reads files only: no Ray.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path


class ExportError(ValueError):
    """A run dir that holds nothing we can export; the message says what was expected."""


@dataclass
class Exported:
    kind: str
    out: Path
    files: list[str]


def _job_of(run_dir: Path) -> str | None:
    cfg = run_dir / "config.json"
    if cfg.exists():
        return json.loads(cfg.read_text()).get("job")
    return None


def export_run(run_dir: Path, out: Path) -> Exported:
    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise ExportError(f"no run dir at {run_dir}")
    if out.resolve() == run_dir.resolve() or run_dir.resolve() in out.resolve().parents:
        raise ExportError(f"--out {out} is inside the run dir {run_dir}: choose a folder outside it")
    job = _job_of(run_dir)
    if (run_dir / "model" / "meta.json").exists() or (run_dir / "meta.json").exists():
        kind = _export_bundle(run_dir, out)
    elif (run_dir / "model" / "model_meta.json").exists() or (run_dir / "model_meta.json").exists():
        from rec_core.export import export_playlist

        export_playlist(run_dir, out)
        kind = "playlist"
    elif job == "ncf":
        kind = _export_ncf(run_dir, out)
    elif job == "rag_sentiment" or (run_dir / "model" / "sentiment_config.json").exists():
        kind = _export_sentiment(run_dir, out)
    else:
        raise ExportError(
            f"{run_dir} holds no model that export knows (a tiger, playlist, sasrec, ncf or rag_sentiment run dir"
            + (f"; this is a {job!r} run" if job else "")
            + ")"
        )
    return Exported(kind, out, sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()))


def _export_bundle(run_dir: Path, out: Path) -> str:
    from rec_core import export
    from rec_core.generative.bundle import load_bundle

    kind, meta, state, item_tokens = load_bundle(run_dir)
    if kind == "tiger":
        export.export_tiger(meta, state, item_tokens, out)
    elif kind == "sasrec":
        export.export_sasrec(meta, state, out)
    else:
        raise ExportError(f"saved model kind {kind!r} has no export (tiger, sasrec)")
    return kind


def newest_checkpoint(train_dir: Path) -> Path:
    """The newest Ray Train checkpoint with a model under train_dir (Ray names them by time: the last in order)."""
    cands = sorted(p.parent for p in Path(train_dir).glob("checkpoint_*/model.pt"))
    if not cands:
        raise ExportError(f"no checkpoint with a model.pt under {train_dir}")
    return cands[-1]


def _export_ncf(run_dir: Path, out: Path) -> str:
    from jobs.common.train import load_model_state
    from rec_core import export

    cfg = json.loads((run_dir / "config.json").read_text())
    kind = cfg["model"]
    if kind not in export.NCF_KINDS:
        raise ExportError(
            f"ncf export covers the plain-ID models ({', '.join(export.NCF_KINDS)}); this run trained {kind!r}, "
            "whose item tower runs a language model"
        )
    ckpt = newest_checkpoint(run_dir / "train" / kind)
    export.export_ncf(
        kind,
        cfg["ncf"],
        load_model_state(ckpt),
        out,
        extra={"dataset": cfg.get("dataset"), "checkpoint": str(ckpt.relative_to(run_dir))},
    )
    return f"ncf/{kind}"


def _export_sentiment(run_dir: Path, out: Path) -> str:
    from rec_core.rag.sentiment import ensemble_members

    members = ensemble_members(run_dir / "model")
    kind = _export_one_sentiment(run_dir / "model", out, run_dir)
    for d in members:  # an ensemble: each member's adapter beside the first's, in the same layout
        _export_one_sentiment(d, out / d.relative_to(run_dir / "model"), run_dir)
    return kind if not members else f"{kind} ensemble of {len(members) + 1}"


def _export_one_sentiment(model_dir: Path, out: Path, run_dir: Path) -> str:
    from rec_core.rag.sentiment import ADAPTER_DIR, HEAD_FILE, load_tokenizer
    from rec_core.rag.sentiment import SentimentModelConfig as Cfg

    meta = json.loads((model_dir / "sentiment_config.json").read_text())
    meta.pop("members", None)
    if not meta.get("trained_lora_rank"):
        raise ExportError(f"{run_dir} fine-tuned the whole encoder (no LoRA adapter to export)")
    if not (model_dir / ADAPTER_DIR).is_dir():
        raise ExportError(f"{model_dir / ADAPTER_DIR} is missing: this run predates adapter saving; train it again")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model_dir / ADAPTER_DIR, out, dirs_exist_ok=True)  # adapter_config.json, adapter_model.safetensors
    shutil.copy2(model_dir / HEAD_FILE, out / HEAD_FILE)
    rank = meta.pop("trained_lora_rank")
    cfg = Cfg(**{**meta, "lora_rank": rank})
    (out / "sentiment_config.json").write_text(json.dumps(cfg.model_dump(), indent=2) + "\n")
    load_tokenizer(cfg).save_pretrained(out / "tokenizer")
    return "lora"
