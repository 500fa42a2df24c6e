"""Trained models out of the project, each in its ecosystem's format (`genrec export RUN_DIR --out DIR`).

- TIGER (a T5 over semantic-ID tokens): Hugging Face `save_pretrained` (config.json, model.safetensors,
  generation_config.json) + `genrec.json` (kind, vocabulary layout, history length) + `sid_table.json` (every item's
  id, semantic ID and token sequence, in item-index order). `load_tiger(dir)` rebuilds the trie-constrained
  decoder from those files alone; a plain `T5ForConditionalGeneration.from_pretrained(dir)` reads the model.
- Playlist (text -> list): the same HF T5 dir + `text_encoder.safetensors` (the text embedding that feeds the T5's
  encoder), the tokenizer, `codes.parquet` and `titles.parquet`; `load_playlist(dir)` gives the list generator.
- SASRec, NCF (GMF / MLP / NeuMF): `model.safetensors` + `config.json` (kind, sizes, model config);
  `load_sasrec(dir)` / `load_ncf(dir)`.
- LoRA adapters (the sentiment fine-tune): peft `save_pretrained` (adapter_config.json, adapter_model.safetensors)
  beside the classifier head (`head.safetensors`) and the tokenizer.

Plain PyTorch / Hugging Face only: nothing here imports Ray, and nothing here loads a pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FORMAT_VERSION = 1
GENREC_FILE = "genrec.json"  # our metadata beside an HF model (whose own config.json is the T5 config)
SID_TABLE = "sid_table.json"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_tensors(state_dict: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """safetensors refuses tensors that share memory (tied weights): every tensor is written as its own copy."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().clone().contiguous() for k, v in state_dict.items()}, str(path), metadata)


def load_tensors(path: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path), device=device)


def _write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")


def save_state_tree(tree, directory: Path, name: str) -> None:
    """A nested state (an optimizer's state_dict, loop counters) without pickle: its tensors go to
    `<name>.safetensors`, everything else to `<name>.json` with each tensor replaced by a reference to it. Dicts with
    non-string keys (an optimizer's per-parameter state is keyed by int) and tuples survive the round trip."""
    tensors: dict[str, torch.Tensor] = {}

    def enc(x, path: str):
        if isinstance(x, torch.Tensor):
            tensors[path] = x
            return {"__tensor__": path}
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x):
                return {"__dict__": {k: enc(v, f"{path}.{k}") for k, v in x.items()}}
            return {"__items__": [[k, enc(v, f"{path}.{k}")] for k, v in x.items()]}
        if isinstance(x, (list, tuple)):
            return {
                ("__tuple__" if isinstance(x, tuple) else "__list__"): [enc(v, f"{path}.{i}") for i, v in enumerate(x)]
            }
        if isinstance(x, (np.integer, np.floating)):
            return x.item()
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"cannot store a {type(x).__name__} at {path or 'the root'} without pickle")

    doc = enc(tree, "s")
    directory = Path(directory)
    save_tensors(tensors, directory / f"{name}.safetensors")
    _write_json(directory / f"{name}.json", {"format": FORMAT_VERSION, "tree": doc})


def load_state_tree(directory: Path, name: str, device: str = "cpu"):
    """Inverse of `save_state_tree`."""
    directory = Path(directory)
    tensors = load_tensors(directory / f"{name}.safetensors", device)
    doc = json.loads((directory / f"{name}.json").read_text())["tree"]

    def dec(x):
        if not isinstance(x, dict):
            return x
        if "__tensor__" in x:
            return tensors[x["__tensor__"]]
        if "__dict__" in x:
            return {k: dec(v) for k, v in x["__dict__"].items()}
        if "__items__" in x:
            return {k: dec(v) for k, v in x["__items__"]}
        if "__tuple__" in x:
            return tuple(dec(v) for v in x["__tuple__"])
        return [dec(v) for v in x["__list__"]]

    return dec(doc)


# ---------------------------------------------------------------------------------------------
# TIGER


def export_tiger(meta: dict, state_dict: dict, item_tokens: np.ndarray, out: Path) -> Path:
    """A saved TIGER bundle (rec_core.generative.bundle) -> an HF T5 dir + semantic-ID table."""
    from rec_core.generative.model import TigerModelConfig, build_tiger
    from rec_core.semantic_ids.codes import SIDVocab

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vocab = SIDVocab.from_dict(meta["vocab"])
    model = build_tiger(TigerModelConfig.model_validate(meta["model"]), vocab)
    model.load_state_dict(state_dict)
    model.save_pretrained(out)  # safetensors
    item_tokens = np.asarray(item_tokens, dtype=np.int64)
    item_ids = meta.get("item_ids") or list(range(len(item_tokens)))
    _write_json(
        out / GENREC_FILE,
        {
            "format": FORMAT_VERSION,
            "kind": "tiger",
            "vocab": vocab.to_dict(),
            "max_history": meta["max_history"],
            "dataset": meta.get("dataset"),
            "seed": meta.get("seed"),
            "tiger_model": meta["model"],
        },
    )
    table = {
        "item_ids": [int(i) for i in item_ids],
        # token ids the decoder emits for each item (row i = item index i), and the codes they encode
        "item_tokens": item_tokens.tolist(),
        "sids": [list(vocab.decode_sid(row)) for row in item_tokens.tolist()],
    }
    _write_json(out / SID_TABLE, table)
    return out


@dataclass
class TigerExport:
    """An exported TIGER: the HF model, its vocabulary and item table, and the trie-constrained ranker."""

    model: object  # transformers.T5ForConditionalGeneration
    vocab: object  # SIDVocab
    item_ids: list[int]
    item_tokens: np.ndarray
    max_history: int
    ranker: object  # rec_core.generative.ranker.GenerativeRanker

    def recommend(self, users: Sequence, histories: Sequence[Sequence[int]], k: int = 10) -> list[list[int]]:
        """Top-k item INDICES per user (history: item indices, oldest first); `item_ids[i]` is the item's id."""
        return [list(r)[:k] for r in self.ranker.recommend(list(users), [list(h) for h in histories], k)]

    def recommend_ids(self, users: Sequence, history_ids: Sequence[Sequence[int]], k: int = 10) -> list[list[int]]:
        """Same with item ids in and out."""
        index = {iid: i for i, iid in enumerate(self.item_ids)}
        hist = [[index[int(i)] for i in h] for h in history_ids]
        return [[self.item_ids[i] for i in row] for row in self.recommend(users, hist, k)]


def load_tiger(path: Path, num_beams: int = 20, device: str = "cpu") -> TigerExport:
    """Read an exported TIGER dir (HF model + genrec.json + sid_table.json) in any process: no run dir needed."""
    from transformers import T5ForConditionalGeneration

    from rec_core.generative.ranker import GenerativeRanker
    from rec_core.semantic_ids.codes import SIDVocab

    d = Path(path)
    meta = json.loads((d / GENREC_FILE).read_text())
    if meta.get("kind") != "tiger":
        raise ValueError(f"{d} holds a {meta.get('kind')!r} export, not tiger")
    table = json.loads((d / SID_TABLE).read_text())
    vocab = SIDVocab.from_dict(meta["vocab"])
    model = T5ForConditionalGeneration.from_pretrained(d).to(device).eval()
    tokens = np.asarray(table["item_tokens"], dtype=np.int64)
    ranker = GenerativeRanker(model, vocab, tokens, num_beams=num_beams, max_history=meta["max_history"], device=device)
    return TigerExport(model, vocab, [int(i) for i in table["item_ids"]], tokens, int(meta["max_history"]), ranker)


# ---------------------------------------------------------------------------------------------
# Playlist (text -> list of items): a T5 over semantic-ID tokens fed by a text embedding outside it


def export_playlist(model_dir: Path, out: Path) -> Path:
    """A playlist model (rec_core.playlist.generator export) -> the HF T5 (save_pretrained) + its text encoder
    (`text_encoder.safetensors`: word-piece table and projection), the tokenizer, and the item codes and titles."""
    import shutil

    from rec_core.playlist.generator import (
        CANDIDATES_FILE,
        CODES_FILE,
        META_FILE,
        TITLES_FILE,
        Playlister,
        find_export,
        load_tokenizer,
    )

    src = find_export(model_dir)
    meta = json.loads((src / META_FILE).read_text())
    pl = Playlister.load(src)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pl.model.t5.save_pretrained(out)
    text = {k: v for k, v in pl.model.state_dict().items() if not k.startswith("t5.")}
    save_tensors(text, out / "text_encoder.safetensors", {"format": "pt", "kind": "playlist/text_encoder"})
    load_tokenizer(meta["tokenizer"]).save_pretrained(out / "tokenizer")
    for name in (CODES_FILE, "sid_meta.json", TITLES_FILE, CANDIDATES_FILE):
        if (src / name).exists():
            shutil.copy2(src / name, out / name)
    _write_json(out / GENREC_FILE, {"format": FORMAT_VERSION, "kind": "playlist", **meta, "tokenizer": "tokenizer"})
    return out


def load_playlist(path: Path, device: str = "cpu"):
    """An exported playlist model -> `rec_core.playlist.generator.Playlister` (`.generate(["rainy sunday"])`)."""
    import pandas as pd
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from rec_core.playlist.generator import (
        CODES_FILE,
        TITLES_FILE,
        Playlister,
        _item_tokens,
        fusion_settings,
        load_candidate_retriever,
    )
    from rec_core.playlist.model import ModelConfig, PlaylistT5
    from rec_core.semantic_ids.codes import load_codes

    d = Path(path)
    meta = json.loads((d / GENREC_FILE).read_text())
    mcfg = ModelConfig.model_validate(meta["model"])
    text = load_tensors(d / "text_encoder.safetensors")
    shape = meta.get("text_embed_shape")
    fake = torch.zeros(shape) if shape and mcfg.text_embed_init == "minilm" else None
    model = PlaylistT5(mcfg, meta["text_vocab_size"], meta["sid_vocab_size"], pretrained_text_embed=fake)
    model.t5 = T5ForConditionalGeneration.from_pretrained(d)
    missing, unexpected = model.load_state_dict(text, strict=False)
    if unexpected or any(not k.startswith("t5.") for k in missing):
        raise ValueError(f"{d}: text encoder weights do not match the config ({missing=}, {unexpected=})")
    titles_df = pd.read_parquet(d / TITLES_FILE)
    titles = {int(i): str(t) for i, t in zip(titles_df["item_id"], titles_df["title"])}
    return Playlister(
        model.to(device).eval(),
        AutoTokenizer.from_pretrained(d / "tokenizer"),
        _item_tokens(load_codes(d / CODES_FILE)),
        titles,
        mcfg.max_text_tokens,
        int(meta.get("default_length", 10)),
        load_candidate_retriever(d, mcfg.candidates),
        **fusion_settings(meta),
    )


# ---------------------------------------------------------------------------------------------
# SASRec and NCF: safetensors + config.json


def export_sasrec(meta: dict, state_dict: dict, out: Path) -> Path:
    from rec_core.baselines.sasrec import SASRec, SASRecConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = SASRec(int(meta["num_items"]), SASRecConfig.model_validate(meta["model"]))
    model.load_state_dict(state_dict)  # checks the state matches the config before anything is written
    save_tensors(model.state_dict(), out / WEIGHTS, {"format": "pt", "kind": "sasrec"})
    _write_json(
        out / CONFIG,
        {
            "format": FORMAT_VERSION,
            "kind": "sasrec",
            "num_items": int(meta["num_items"]),
            "model": meta["model"],
            "max_history": meta.get("max_history"),
            "dataset": meta.get("dataset"),
            "item_ids": meta.get("item_ids"),
        },
    )
    return out


def _read_config(d: Path, kind: str) -> dict:
    """An export's config.json, or a ValueError when the directory holds another kind of export."""
    cfg = json.loads((d / CONFIG).read_text())
    if cfg.get("kind") != kind:
        raise ValueError(f"{d} holds a {cfg.get('kind')!r} export, not {kind}")
    return cfg


def load_sasrec(path: Path, device: str = "cpu"):
    """-> SASRec (eval mode); `model.score(histories)` gives (B, n_items) scores over item indices."""
    from rec_core.baselines.sasrec import SASRec, SASRecConfig

    d = Path(path)
    cfg = _read_config(d, "sasrec")
    model = SASRec(int(cfg["num_items"]), SASRecConfig.model_validate(cfg["model"]))
    model.load_state_dict(load_tensors(d / WEIGHTS))
    return model.to(device).eval()


NCF_KINDS = ("gmf", "mlp", "neumf")


def export_ncf(kind: str, ncf_cfg: dict, state_dict: dict, out: Path, extra: dict | None = None) -> Path:
    """A plain-ID NCF (gmf, mlp, neumf). Sizes come from the weights themselves."""
    from rec_core.ncf.config import NCFModelConfig
    from rec_core.ncf.models import NCF

    if kind not in NCF_KINDS:
        raise ValueError(f"NCF export covers {', '.join(NCF_KINDS)}; {kind!r} has an LM item tower")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    num_users = int(state_dict["user_emb.weight"].shape[0])
    num_items = int(state_dict["item_tower.emb.weight"].shape[0])
    model = NCF(num_users, num_items, NCFModelConfig.model_validate(ncf_cfg), kind=kind)
    model.load_state_dict(state_dict)
    save_tensors(model.state_dict(), out / WEIGHTS, {"format": "pt", "kind": f"ncf/{kind}"})
    _write_json(
        out / CONFIG,
        {
            "format": FORMAT_VERSION,
            "kind": "ncf",
            "ncf_kind": kind,
            "num_users": num_users,
            "num_items": num_items,
            "model": ncf_cfg,
            **(extra or {}),
        },
    )
    return out


def load_ncf(path: Path, device: str = "cpu"):
    """-> NCF (eval mode); `model(users, items)[0]` are the logits, `score_candidates(users, cands)` too."""
    from rec_core.ncf.config import NCFModelConfig
    from rec_core.ncf.models import NCF

    d = Path(path)
    cfg = _read_config(d, "ncf")
    model = NCF(cfg["num_users"], cfg["num_items"], NCFModelConfig.model_validate(cfg["model"]), kind=cfg["ncf_kind"])
    model.load_state_dict(load_tensors(d / WEIGHTS))
    return model.to(device).eval()


def load_sentiment_lora(path: Path, device: str = "cpu"):
    """An exported LoRA sentiment classifier -> (SentimentClassifier, tokenizer): the base encoder (the configured
    `encoder`, from its own files) with the peft adapter loaded over it, and the head."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from rec_core.rag.sentiment import HEAD_FILE, SentimentClassifier, SentimentModelConfig, _build_encoder

    d = Path(path)
    cfg = SentimentModelConfig(**json.loads((d / "sentiment_config.json").read_text()))
    tok = AutoTokenizer.from_pretrained(d / "tokenizer")
    base = _build_encoder(cfg.model_copy(update={"lora_rank": 0}), tok)
    encoder = PeftModel.from_pretrained(base, d)
    model = SentimentClassifier(encoder, encoder.config.hidden_size, cfg.dropout)
    model.head.load_state_dict(load_tensors(d / HEAD_FILE))
    return model.to(device).eval(), tok


def load_export(path: Path, **kw):
    """Any export dir -> its model object (TigerExport, SASRec, NCF), by the kind its metadata names."""
    d = Path(path)
    if (d / GENREC_FILE).exists():
        kind = json.loads((d / GENREC_FILE).read_text()).get("kind")
        return load_playlist(d, **kw) if kind == "playlist" else load_tiger(d, **kw)
    kind = json.loads((d / CONFIG).read_text()).get("kind")
    loaders = {"sasrec": load_sasrec, "ncf": load_ncf}
    if kind not in loaders:
        raise ValueError(f"{d}: unknown export kind {kind!r}")
    return loaders[kind](d, **kw)
