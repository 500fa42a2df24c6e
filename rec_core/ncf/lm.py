"""The language model that reads item metadata, and the cache of its states.

Two modes, one interface (`MetadataEncoder(items) -> token states, mask, pooled`):
- cache:   the frozen LM runs once over every item text; its states are kept on disk and in memory.
- dynamic: the LM runs inside the forward pass on the batch's unique items, frozen or LoRA-tuned (peft).
With a frozen LM the two give the same forward (up to the cache dtype); dynamic costs an LM pass per step.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from torch import nn

from rec_core.ncf.config import LMConfig
from rec_core.offline_models import SMOLLM2_GGUF, resolve_model

log = logging.getLogger(__name__)
TINY = "tiny-from-config"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _tiny_lm(texts: list[str], seed: int):
    """A 1-layer random BERT and a word-level tokenizer fitted on `texts`: hub-free, deterministic."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    norm, pre = normalizers.Lowercase(), pre_tokenizers.Whitespace()
    words = sorted({w for t in texts for w, _ in pre.pre_tokenize_str(norm.normalize_str(t))})
    vocab = {w: i for i, w in enumerate(specials + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = norm, pre
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertModel(cfg, add_pooling_layer=False)
    return model, tokenizer


def load_lm(cfg: LMConfig, texts: list[str] | None = None, seed: int = 0):
    """(base model without LM head, tokenizer), in eval mode and frozen. Offline aliases are resolved."""
    from transformers import AutoModel, AutoTokenizer

    if cfg.name == TINY:
        if not texts:
            raise ValueError(f"lm.name={TINY!r} builds its vocabulary from the item texts: pass them")
        model, tok = _tiny_lm(texts, seed)
    else:
        path = resolve_model(cfg.name)
        gguf = cfg.gguf_file or (SMOLLM2_GGUF if cfg.name == "smollm2" else None)
        kw = {"gguf_file": gguf} if gguf else {}
        try:
            tok = AutoTokenizer.from_pretrained(path, **kw)
            model = AutoModel.from_pretrained(path, **kw)
        except OSError as e:
            raise FileNotFoundError(f"cannot load language model {cfg.name!r} (resolved to {path!r}): {e}") from None
    if tok.pad_token is None:  # GPT-2 / Llama tokenizers have no pad token; padding is masked anyway
        tok.pad_token = tok.eos_token or tok.unk_token
    tok.padding_side = "right"
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, tok


def load_tokenizer(cfg: LMConfig, texts: list[str] | None = None, seed: int = 0):
    """The tokenizer alone (to show which metadata tokens the attention weights point at)."""
    from transformers import AutoTokenizer

    if cfg.name == TINY:
        return _tiny_lm(texts or [""], seed)[1]
    gguf = cfg.gguf_file or (SMOLLM2_GGUF if cfg.name == "smollm2" else None)
    tok = AutoTokenizer.from_pretrained(resolve_model(cfg.name), **({"gguf_file": gguf} if gguf else {}))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    tok.padding_side = "right"
    return tok


def tokenize(tokenizer, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    enc = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
    mask = enc["attention_mask"].bool()
    # An empty text must still leave one visible token, or attention over it is undefined.
    mask[:, 0] = True
    return enc["input_ids"], mask


def pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "cls":
        return states[:, 0]
    if how == "last":
        last = mask.long().sum(1).clamp(min=1) - 1
        return states[torch.arange(states.shape[0], device=states.device), last]
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp(min=1.0)


def lm_states(model, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = model(input_ids=input_ids, attention_mask=mask.long())
    return out.last_hidden_state.float()


@torch.no_grad()
def encode_all(model, input_ids, mask, batch_size: int, progress: bool = True) -> torch.Tensor:
    """Token states of every row, in batches (the frozen-LM pass that cache mode stores)."""
    from tqdm.auto import tqdm

    dev = next(model.parameters()).device
    chunks = []
    starts = range(0, input_ids.shape[0], batch_size)
    # disable=None: no bar when stderr is not a terminal (a log), where tqdm's redraws pile up on one line
    for s in tqdm(starts, desc="LM states", disable=True if not progress or len(starts) < 4 else None):
        chunks.append(lm_states(model, input_ids[s : s + batch_size].to(dev), mask[s : s + batch_size].to(dev)).cpu())
    return torch.cat(chunks)


def cache_key(cfg: LMConfig, texts: list[str], seed: int) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            [cfg.name, cfg.gguf_file, cfg.max_length, cfg.pooling, cfg.cache_dtype, seed if cfg.name == TINY else 0]
        ).encode()
    )
    for t in texts:
        h.update(t.encode("utf-8", "replace") + b"\0")
    return h.hexdigest()[:20]


def build_or_load_cache(
    cfg: LMConfig, texts: list[str], cache_dir: Path | None, need_tokens: bool, seed: int = 0
) -> dict:
    """{'states' (N,L,d) or None, 'mask' (N,L), 'pooled' (N,d)} from disk when present, else computed and saved.
    The file name hashes the LM, its settings and every text, so a changed text never reuses a stale cache."""
    path = Path(cache_dir) / f"lm_{cache_key(cfg, texts, seed)}.pt" if cache_dir else None
    if path is not None and path.exists():
        try:
            cache = torch.load(path, map_location="cpu", weights_only=True)
            if cache.get("states") is not None or not need_tokens:
                # one file serves both: a token-state cache also answers a pooled-only request
                return cache if need_tokens else {**cache, "states": None}
        except Exception as e:  # a torn write from a killed run: recompute rather than crash
            log.warning("LM cache %s unreadable (%s); recomputing", path, e)
    model, tok = load_lm(cfg, texts, seed)
    ids, mask = tokenize(tok, texts, cfg.max_length)
    used = int(mask.sum(1).max())  # max_length is a cap: drop columns no item reaches
    ids, mask = ids[:, :used], mask[:, :used]
    states = encode_all(model, ids, mask, cfg.encode_batch_size)
    dt = _DTYPES[cfg.cache_dtype]
    cache = {
        "states": states.to(dt) if need_tokens else None,
        "mask": mask,
        "pooled": pool(states, mask, cfg.pooling).to(dt),
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(cache, tmp)
        tmp.replace(path)
    return cache


def _apply_lora(model, cfg: LMConfig):
    from peft import LoraConfig, get_peft_model

    lcfg = LoraConfig(
        r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=cfg.lora_targets
    )
    try:
        return get_peft_model(model, lcfg)
    except ValueError as e:
        raise ValueError(f"LoRA cannot find target modules in {cfg.name!r}: set lm.lora_targets ({e})") from None


class MetadataEncoder(nn.Module):
    """items (B,) -> (token states (B,L,d) | None, mask (B,L) bool, pooled (B,d)), in cache or dynamic mode."""

    def __init__(self, cfg: LMConfig, texts: list[str], need_tokens: bool, cache: dict | None = None, seed: int = 0):
        super().__init__()
        self.mode, self.pooling, self.need_tokens = cfg.mode, cfg.pooling, need_tokens
        self.tuned = cfg.lora_rank > 0
        if cfg.mode == "cache":
            cache = cache if cache is not None else build_or_load_cache(cfg, texts, None, need_tokens, seed)
            if need_tokens and cache.get("states") is None:
                raise ValueError("this cache holds pooled states only; the cross-attention model needs token states")
            # Non-persistent: checkpoints stay small; the cache is rebuilt (or re-read) from the texts.
            self.register_buffer("states", cache["states"] if need_tokens else None, persistent=False)
            self.register_buffer("mask", cache["mask"], persistent=False)
            self.register_buffer("pooled", cache["pooled"], persistent=False)
            self.lm = None
            self.dim = cache["pooled"].shape[-1]
        else:
            model, tok = load_lm(cfg, texts, seed)
            ids, mask = tokenize(tok, texts, cfg.max_length)
            self.register_buffer("input_ids", ids, persistent=False)
            self.register_buffer("mask", mask, persistent=False)
            self.lm = _apply_lora(model, cfg) if self.tuned else model
            self.dim = model.config.hidden_size
            self.tokenizer = tok

    def train(self, mode: bool = True):
        super().train(mode)
        if self.lm is not None and not self.tuned:
            self.lm.eval()  # a frozen LM keeps dropout off, so cache and dynamic forwards agree
        return self

    def forward(self, items: torch.Tensor):
        if self.mode == "cache":
            mask = self.mask[items]
            states = None
            if self.need_tokens:
                used = int(mask.sum(1).max())
                mask, states = mask[:, :used], self.states[items, :used].float()
            return states, mask, self.pooled[items].float()
        uniq, inv = torch.unique(items, return_inverse=True)
        mask_u = self.mask[uniq]
        used = int(mask_u.sum(1).max())  # right padding: later columns are padding for every row
        mask_u = mask_u[:, :used]
        with torch.set_grad_enabled(self.tuned and torch.is_grad_enabled()):
            states_u = lm_states(self.lm, self.input_ids[uniq][:, :used], mask_u)
        states, mask = states_u[inv], mask_u[inv]
        return states, mask, pool(states, mask, self.pooling)
