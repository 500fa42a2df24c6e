"""A trained playlist model on disk, and text -> list of items with it.

Export layout (written by the `playlist` job under `<run>/model/`, read by `genrec playlist --checkpoint`):
    model.pt           state_dict of PlaylistT5
    model_meta.json    {"model": ModelConfig, "text_vocab_size", "sid_vocab_size", "tokenizer": dir or alias,
                        "max_items", "default_length"}
    codes.parquet      item_id, sid (the semantic IDs the decoder emits)
    titles.parquet     item_id, title
    candidates.parquet text, items: the training lists keyword popularity counts
                       (rec_core.playlist.baselines.WordPopularity): the retrieved candidates of a model with
                       `candidates` > 0, and the prior of keyword fusion (rec_core.playlist.fusion)
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
CANDIDATES_FILE = "candidates.parquet"


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    from rec_core.offline_models import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(name))


def export_model(
    out_dir: Path,
    state_dict: dict,
    meta: dict,
    codes: SemanticCodes,
    titles: pd.DataFrame,
    candidate_lists: pd.DataFrame | None = None,
) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, out_dir / MODEL_FILE)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2))
    codes.save(out_dir)  # CODES_FILE + sid_meta.json
    titles[["item_id", "title"]].to_parquet(out_dir / TITLES_FILE, index=False)
    if candidate_lists is not None:
        candidate_lists[["text", "items"]].to_parquet(out_dir / CANDIDATES_FILE, index=False)
    return out_dir


def load_candidate_retriever(d: Path, candidates: int):
    """The keyword-popularity retriever over the training lists the model was trained with; None when the export has
    none (made before it was written), which is an error only for a model that reads candidates."""
    from rec_core.playlist.baselines import WordPopularity

    path = Path(d) / CANDIDATES_FILE
    if not path.exists():
        if candidates:
            raise FileNotFoundError(
                f"{path}: the model reads {candidates} retrieved candidates but its lists are missing"
            )
        return None
    lists = pd.read_parquet(path)
    return WordPopularity(lists["text"].tolist(), [list(x) for x in lists["items"]])


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


def fusion_settings(meta: dict) -> dict:
    """The keyword-fusion weight an export was evaluated with (none in exports made before fusion existed)."""
    return {"keyword_fusion": float(meta.get("keyword_fusion", 0.0))}


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
        retriever=None,
        keyword_fusion: float = 0.0,
    ):
        self.model = model.eval()
        self.vocab = vocab
        self.titles = titles
        self.collator = PairCollator(tokenizer, vocab, max_text_tokens, candidates=model.candidates)
        self.default_length = default_length
        if model.candidates and retriever is None:
            raise ValueError(f"the model reads {model.candidates} retrieved candidates: pass their retriever")
        self.retriever = retriever
        self.keyword_fusion = keyword_fusion

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
            load_candidate_retriever(d, mcfg.candidates),
            **fusion_settings(meta),
        )

    def generate(
        self,
        texts: list[str],
        length: int | None = None,
        mode: str = "beam",
        num_beams: int = 10,
        temperature: float = 1.0,
        seed: int | None = None,
        keyword_fusion: float | None = None,
    ) -> list[PlaylistResult]:
        """`keyword_fusion`: the weight of the keyword prior in decoding (rec_core.playlist.fusion); None = the
        export's default, 0 = the T5 alone."""
        length = length or self.default_length
        constraint = build_constraint(self.vocab, length)
        weight = self.keyword_fusion if keyword_fusion is None else keyword_fusion
        processors = None
        if weight:
            from rec_core.playlist.fusion import KeywordPriorFusion, bonus_table

            if self.retriever is None:
                raise ValueError("keyword fusion needs the training lists (candidates.parquet) in the export")
            tables = [bonus_table(self.retriever.shares(t), self.vocab.tokens_of_item, weight) for t in texts]
            processors = [KeywordPriorFusion(tables, self.vocab.levels, 1, num_beams if mode == "beam" else 1)]
        dev = next(self.model.parameters()).device
        t0 = time.perf_counter()
        cands = self.retriever.lists(texts, self.model.candidates) if self.retriever is not None else None
        enc = {k: v.to(dev) for k, v in self.collator.encode_inputs(texts, cands).items()}
        out = self.model.generate_lists(
            enc["input_ids"],
            enc["attention_mask"],
            constraint,
            mode=mode,
            num_beams=num_beams,
            temperature=temperature,
            seed=seed,
            cand_ids=enc.get("cand_ids"),
            logits_processor=processors,
        )
        per_list = (time.perf_counter() - t0) / max(len(texts), 1)
        results = []
        for text, seq in zip(texts, out.tolist()):
            items, bad = self.vocab.decode_list(seq[1:])
            results.append(PlaylistResult(text, items, [self.titles.get(i, f"item {i}") for i in items], bad, per_list))
        return results
