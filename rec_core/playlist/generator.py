"""A trained playlist model on disk, and text -> list of items with it.

Export layout (written by the `playlist` job under `<run>/model/`, read by `genrec playlist --checkpoint`):
    model.pt           state_dict of PlaylistT5
    model_meta.json    {"model": ModelConfig, "text_vocab_size", "sid_vocab_size", "tokenizer": dir or alias,
                        "max_items", "default_length"}
    codes.parquet      item_id, sid (the semantic IDs the decoder emits)
    titles.parquet     item_id, title
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from rec_core.playlist.model import ModelConfig, PairCollator, PlaylistT5, build_constraint
from rec_core.semantic_ids.codes import ItemTokens, SemanticCodes, load_codes

MODEL_FILE, META_FILE, CODES_FILE, TITLES_FILE = "model.pt", "model_meta.json", "codes.parquet", "titles.parquet"


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    from rec_core.offline_models import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(name))


def export_model(out_dir: Path, state_dict: dict, meta: dict, codes: SemanticCodes, titles: pd.DataFrame) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, out_dir / MODEL_FILE)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2))
    codes.save(out_dir)  # CODES_FILE + sid_meta.json
    titles[["item_id", "title"]].to_parquet(out_dir / TITLES_FILE, index=False)
    return out_dir


def _item_tokens(codes: SemanticCodes) -> ItemTokens:
    """The decoder's vocabulary: as wide as the codes it was trained on (each level's largest code + 1)."""
    return ItemTokens.compact(codes.item_ids, codes.sids)


def find_export(path: Path) -> Path:
    """Accept the export dir itself or a run dir holding `model/`."""
    path = Path(path)
    for cand in (path, path / "model"):
        if (cand / META_FILE).exists():
            return cand
    raise FileNotFoundError(f"no trained playlist model in {path} (expected {META_FILE} there or in {path / 'model'})")


@dataclass
class PlaylistResult:
    text: str
    items: list[int]
    titles: list[str]
    invalid: int
    seconds: float


class Playlister:
    def __init__(
        self,
        model: PlaylistT5,
        tokenizer,
        vocab: ItemTokens,
        titles: dict[int, str],
        max_text_tokens: int,
        default_length: int,
    ):
        self.model = model.eval()
        self.vocab = vocab
        self.titles = titles
        self.collator = PairCollator(tokenizer, vocab, max_text_tokens)
        self.default_length = default_length

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> "Playlister":
        d = find_export(path)
        meta = json.loads((d / META_FILE).read_text())
        mcfg = ModelConfig.model_validate(meta["model"])
        # The pretrained word-piece table is inside the state_dict: build with a random one of the same shape.
        shape = meta.get("text_embed_shape")
        fake = torch.zeros(shape) if shape and mcfg.text_embed_init == "minilm" else None
        model = PlaylistT5(mcfg, meta["text_vocab_size"], meta["sid_vocab_size"], pretrained_text_embed=fake)
        model.load_state_dict(torch.load(d / MODEL_FILE, map_location=device, weights_only=True))
        titles_df = pd.read_parquet(d / TITLES_FILE)
        titles = {int(i): str(t) for i, t in zip(titles_df["item_id"], titles_df["title"])}
        return cls(
            model.to(device),
            load_tokenizer(meta["tokenizer"]),
            _item_tokens(load_codes(d / CODES_FILE)),
            titles,
            mcfg.max_text_tokens,
            int(meta.get("default_length", 10)),
        )

    def generate(
        self,
        texts: list[str],
        length: int | None = None,
        mode: str = "beam",
        num_beams: int = 10,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> list[PlaylistResult]:
        length = length or self.default_length
        constraint = build_constraint(self.vocab, length)
        ids, mask = self.collator.encode_texts(texts)
        dev = next(self.model.parameters()).device
        t0 = time.perf_counter()
        out = self.model.generate_lists(
            ids.to(dev), mask.to(dev), constraint, mode=mode, num_beams=num_beams, temperature=temperature, seed=seed
        )
        per_list = (time.perf_counter() - t0) / max(len(texts), 1)
        results = []
        for text, seq in zip(texts, out.tolist()):
            items, bad = self.vocab.decode_list(seq[1:])
            results.append(PlaylistResult(text, items, [self.titles.get(i, f"item {i}") for i in items], bad, per_list))
        return results
