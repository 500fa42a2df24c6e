"""Sentiment of a review sentence: a MiniLM encoder + a classification head, fine-tuned (fully or with LoRA).

Also the baseline it is compared with: logistic regression on frozen, mean-pooled encoder embeddings.
`SentimentScorer` is what the query path calls: texts -> P(positive).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from rec_core.config import StrictModel
from rec_core.offline_models import resolve_model


class SentimentModelConfig(StrictModel):
    encoder: str = Field("minilm", description="offline alias, HF id or path of a BERT-like encoder")
    tiny_from_config: bool = Field(False, description="random tiny encoder built from config (tests only)")
    lora_rank: int = Field(0, ge=0, description="0 = full fine-tune; >0 = LoRA on query/value with this rank")
    lora_alpha: int = Field(16, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    max_length: int = Field(64, ge=8, le=512)


class SentimentScorer(Protocol):
    def __call__(self, texts: list[str]) -> np.ndarray: ...


def load_tokenizer(cfg: SentimentModelConfig):
    from transformers import AutoTokenizer

    # the tiny model borrows MiniLM's tokenizer (a local file), so it needs nothing from a hub
    return AutoTokenizer.from_pretrained(resolve_model("minilm" if cfg.tiny_from_config else cfg.encoder))


def _build_encoder(cfg: SentimentModelConfig, tokenizer):
    from transformers import AutoModel, BertConfig, BertModel

    if cfg.tiny_from_config:
        torch.manual_seed(0)
        return BertModel(
            BertConfig(
                vocab_size=tokenizer.vocab_size,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                max_position_embeddings=128,
            ),
            add_pooling_layer=False,
        )
    return AutoModel.from_pretrained(resolve_model(cfg.encoder), add_pooling_layer=False)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-6)


class SentimentClassifier(nn.Module):
    """encoder -> mean pooling (as sentence-transformers does for MiniLM) -> dropout -> linear(2)."""

    def __init__(self, encoder: nn.Module, hidden: int, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 2)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return self.head(self.dropout(mean_pool(out.last_hidden_state, attention_mask)))


def build_sentiment_model(cfg: SentimentModelConfig, tokenizer=None) -> SentimentClassifier:
    tokenizer = tokenizer or load_tokenizer(cfg)
    encoder = _build_encoder(cfg, tokenizer)
    if cfg.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        encoder = get_peft_model(
            encoder,
            LoraConfig(
                r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.dropout, target_modules=["query", "value"]
            ),
        )
    return SentimentClassifier(encoder, encoder.config.hidden_size, cfg.dropout)


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def merged_state_dict(model: SentimentClassifier) -> dict:
    """A plain state dict (LoRA merged into the weights) that `load_sentiment_model` reads without peft."""
    enc = model.encoder
    if hasattr(enc, "merge_and_unload"):
        import copy

        enc = copy.deepcopy(enc).merge_and_unload()
    sd = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
    sd.update({f"head.{k}": v for k, v in model.head.state_dict().items()})
    return sd


ADAPTER_DIR, HEAD_FILE, MEMBERS_DIR = "adapter", "head.safetensors", "members"


def save_sentiment_model(
    model: SentimentClassifier | list[SentimentClassifier], cfg: SentimentModelConfig, out_dir: Path
) -> Path:
    """model.pt (LoRA merged, read by `load_sentiment_model`) and, for a LoRA run, the adapter itself as peft writes it
    (`adapter/`) plus the classifier head (`head.safetensors`), for `genrec export`. A list is an ensemble: its first
    model is saved here, the others under members/<k>/, named in sentiment_config.json (`FineTunedSentiment`
    averages them)."""
    models = model if isinstance(model, list) else [model]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(merged_state_dict(models[0]), out_dir / "model.pt")
    if cfg.lora_rank > 0 and hasattr(models[0].encoder, "peft_config"):
        from safetensors.torch import save_file

        models[0].encoder.save_pretrained(out_dir / ADAPTER_DIR)  # adapter_config.json + adapter_model.safetensors
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in models[0].head.state_dict().items()}, out_dir / HEAD_FILE
        )
    members = [f"{MEMBERS_DIR}/{k}" for k in range(1, len(models))]
    for rel, m in zip(members, models[1:]):
        save_sentiment_model(m, cfg, out_dir / rel)
    (out_dir / "sentiment_config.json").write_text(
        json.dumps(
            {
                **cfg.model_dump(),
                "lora_rank": 0,
                "trained_lora_rank": cfg.lora_rank,
                **({"members": members} if members else {}),
            }
        )
    )
    return out_dir


def ensemble_members(model_dir: Path) -> list[Path]:
    """The other members of an ensemble saved by `save_sentiment_model` (empty for a single model)."""
    meta = json.loads((Path(model_dir) / "sentiment_config.json").read_text())
    return [Path(model_dir) / rel for rel in meta.get("members", [])]


def load_sentiment_model(model_dir: Path) -> tuple[SentimentClassifier, object, SentimentModelConfig]:
    model_dir = Path(model_dir)
    meta_path = model_dir / "sentiment_config.json"
    if not meta_path.exists():
        raise FileNotFoundError(
            f"no sentiment model in {model_dir} (sentiment_config.json missing; run `genrec run rag_sentiment`)"
        )
    meta = json.loads(meta_path.read_text())
    meta.pop("trained_lora_rank", None)
    meta.pop("members", None)
    cfg = SentimentModelConfig(**meta)
    tok = load_tokenizer(cfg)
    model = build_sentiment_model(cfg, tok)
    model.load_state_dict(torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True))
    model.eval()
    return model, tok, cfg


def tokenize(tokenizer, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


@torch.no_grad()
def predict_proba(
    model: SentimentClassifier,
    tokenizer,
    texts: list[str],
    max_length: int = 64,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """P(positive) for each text."""
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        batch = {k: v.to(device) for k, v in tokenize(tokenizer, texts[i : i + batch_size], max_length).items()}
        out.append(torch.softmax(model(**batch).float(), -1)[:, 1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


class FineTunedSentiment:
    """SentimentScorer backed by a `rag_sentiment` model directory (an ensemble's members averaged)."""

    def __init__(self, model_dir: Path):
        self.models = [load_sentiment_model(d) for d in [Path(model_dir), *ensemble_members(model_dir)]]
        cfg = self.models[0][2]
        size = f", mean of {len(self.models)}" if len(self.models) > 1 else ""
        self.name = f"fine-tuned {cfg.encoder}{size} ({model_dir})"

    def __call__(self, texts: list[str]) -> np.ndarray:
        return np.mean([predict_proba(m, tok, list(texts), cfg.max_length) for m, tok, cfg in self.models], axis=0)


class FrozenLogRegSentiment:
    """SentimentScorer: logistic regression on frozen sentence embeddings (the baseline, also a cheap default)."""

    def __init__(self, encode, coef: np.ndarray, intercept: float, name: str = "logreg on frozen MiniLM"):
        self.encode, self.coef, self.intercept, self.name = encode, np.asarray(coef, np.float32), float(intercept), name

    def __call__(self, texts: list[str]) -> np.ndarray:
        z = self.encode(list(texts)) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def save(self, path: Path) -> None:
        np.savez(path, coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: Path, encode) -> FrozenLogRegSentiment:
        d = np.load(path)
        return cls(encode, d["coef"], float(d["intercept"]))


def fit_logreg(train_x: np.ndarray, train_y: np.ndarray, c: float = 1.0, seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit(train_x, train_y)
    return clf


def classification_metrics(y_true: np.ndarray, p_pos: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = (np.asarray(p_pos) >= 0.5).astype(int)
    return {"accuracy": float(accuracy_score(y_true, pred)), "f1": float(f1_score(y_true, pred, zero_division=0))}


def split_sentences(
    df: pd.DataFrame, valid_frac: float = 0.1, test_frac: float = 0.2, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """Stratified by source and label, so each split keeps the IMDb / Amazon / Yelp mix."""
    rng = np.random.default_rng(seed)
    parts = {"train": [], "valid": [], "test": []}
    for _, g in df.groupby(["source", "label"], sort=True):
        idx = rng.permutation(len(g))
        n_test, n_valid = int(round(len(g) * test_frac)), int(round(len(g) * valid_frac))
        parts["test"].append(g.iloc[idx[:n_test]])
        parts["valid"].append(g.iloc[idx[n_test : n_test + n_valid]])
        parts["train"].append(g.iloc[idx[n_test + n_valid :]])
    return {k: pd.concat(v).sample(frac=1.0, random_state=seed).reset_index(drop=True) for k, v in parts.items()}
