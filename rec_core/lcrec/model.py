"""The LC-Rec model: a causal LM (HF id, local path, the offline `smollm2` GGUF, or a tiny from-config Llama for
tests and smoke runs) + the SID tokens + LoRA (peft) or a full fine-tune.

LoRA: r, alpha, dropout and target modules from config (LC-Rec's: q/k/v/o/gate/up/down); the new token rows train
through peft's `trainable_token_indices`, the original rows and all base weights stay frozen. `save_lcrec` writes
the adapter (LoRA weights + the new rows) with peft's `save_pretrained`, plus the tokenizer and the SID layout;
`load_lcrec` rebuilds the base, adds the tokens and loads the adapter with `PeftModel.from_pretrained`.
Full fine-tune: every weight trains except the original embedding rows (gradient hooks); the whole model is saved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from rec_core.config import StrictModel
from rec_core.lcrec.tokens import SIDTokens, add_sid_tokens, freeze_original_rows, trainable_token_indices

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
META_FILE = "lcrec_meta.json"


class TinyLlamaConfig(StrictModel):
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    tie_word_embeddings: bool = True
    vocab_size: int | None = Field(
        None,
        ge=8,
        description="fill the word-level vocabulary up to this size (e.g. SmolLM2's 49152), so that a from-config "
        "model's embedding and output head cost what the real model's do (speed and memory benchmarks)",
    )


class LCRecModelConfig(StrictModel):
    base: str = Field(
        "smollm2",
        description="HF id or local path of a causal LM; 'smollm2' = the offline SmolLM2-135M-Instruct GGUF; "
        "'tiny' = a random Llama from config with a word-level tokenizer built from the run's prompts (tests/smoke)",
    )
    gguf_file: str | None = Field(None, description="GGUF file inside `base` (default for smollm2: its Q4_1 file)")
    tiny: TinyLlamaConfig = Field(default_factory=TinyLlamaConfig)
    finetune: Literal["lora", "full"] = "lora"
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: list[str] = Field(default_factory=lambda: list(LORA_TARGETS))
    load_in_4bit: bool = Field(False, description="QLoRA: bitsandbytes 4-bit base (CUDA only)")
    gradient_checkpointing: bool = False
    max_len: int = Field(256, ge=16, description="tokens per training example (prompt cut from the left)")


# ---------------------------------------------------------------------------------------------
# tokenizer for the tiny model


def tiny_tokenizer(texts: Iterable[str], vocab_size: int | None = None):
    """A word-level tokenizer over the words of `texts` (+ <unk>, <pad>, <s>, </s>): fast and deterministic, for
    from-config models that have no pretrained tokenizer. `vocab_size`: filled up with unused words to this size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Whitespace()
    words = sorted({w for t in texts for w, _ in pre.pre_tokenize_str(t)})
    specials = ["<unk>", "<pad>", "<s>", "</s>"]
    vocab = {w: i for i, w in enumerate(specials + [w for w in words if w not in specials])}
    for i in range(len(vocab), vocab_size or 0):
        vocab[f"<unused_{i}>"] = i
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )


def tokenizer_from_json(text: str):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(text),
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )


# ---------------------------------------------------------------------------------------------
# base model


def load_base(
    cfg: LCRecModelConfig,
    tokenizer=None,
    dtype: torch.dtype | None = None,
    seed: int = 0,
    vocab_size: int | None = None,
):
    """-> (model, tokenizer) without the SID tokens. `tokenizer` is required for base='tiny', whose random weights
    are a function of (config, seed, vocab_size): `vocab_size` = the tokenizer's size before the SID tokens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.base == "tiny":
        from transformers import LlamaConfig, LlamaForCausalLM

        if tokenizer is None:
            raise ValueError("base='tiny' needs its tokenizer (tiny_tokenizer over the run's texts)")
        t = cfg.tiny
        torch.manual_seed(seed)
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=vocab_size or len(tokenizer),
                hidden_size=t.hidden_size,
                intermediate_size=t.intermediate_size,
                num_hidden_layers=t.num_hidden_layers,
                num_attention_heads=t.num_attention_heads,
                num_key_value_heads=t.num_key_value_heads,
                max_position_embeddings=max(cfg.max_len * 2, 512),
                tie_word_embeddings=t.tie_word_embeddings,
                pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        )
        return model, tokenizer
    from rec_core.offline_models import SMOLLM2_GGUF, resolve_model

    path = resolve_model(cfg.base)
    gguf = cfg.gguf_file or (SMOLLM2_GGUF if cfg.base == "smollm2" else None)
    kw: dict = {"gguf_file": gguf} if gguf else {}
    if cfg.load_in_4bit:
        if not torch.cuda.is_available():
            raise RuntimeError(
                "model.load_in_4bit (QLoRA) needs CUDA: this process sees no GPU (set train.use_gpu=true on a GPU "
                "cluster, or load_in_4bit=false)"
            )
        from transformers import BitsAndBytesConfig

        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
        kw["device_map"] = {"": torch.cuda.current_device()}
    if dtype is not None:
        kw["dtype"] = dtype
    tok = tokenizer or AutoTokenizer.from_pretrained(path, **({"gguf_file": gguf} if gguf else {}))
    model = AutoModelForCausalLM.from_pretrained(path, **kw)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok


def build_lcrec(cfg: LCRecModelConfig, codebook_sizes, tokenizer=None, dtype: torch.dtype | None = None, seed: int = 0):
    """-> (model ready to train, tokenizer, SIDTokens). LoRA: a PeftModel whose only trainable weights are the
    LoRA matrices and the new token rows. Full: the plain model, original embedding rows held by hooks."""
    model, tok = load_base(cfg, tokenizer, dtype, seed)
    sid = add_sid_tokens(model, tok, codebook_sizes)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if cfg.finetune == "full":
        freeze_original_rows(model, sid.num_original)
        return model, tok, sid
    from peft import LoraConfig, get_peft_model

    if cfg.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    lcfg = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_targets),
        trainable_token_indices=trainable_token_indices(model, sid),
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(seed)
    model = get_peft_model(model, lcfg)
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    return model, tok, sid


def trainable_parameters(model) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def optimizer_groups(model, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on embedding / head matrices (under a full fine-tune their frozen original
    rows get zero gradient, and decoupled decay would still shrink them)."""
    decay, no_decay = [], []
    for n, p in trainable_parameters(model):
        (no_decay if ("embed" in n or "lm_head" in n or "token_adapter" in n or p.ndim < 2) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# ---------------------------------------------------------------------------------------------
# save / load


def save_lcrec(model, tokenizer, sid: SIDTokens, out_dir: Path, meta: dict | None = None) -> Path:
    """Adapter + new token rows (peft `save_pretrained`; the full model under a full fine-tune), the tokenizer
    (with the SID tokens) and the SID layout."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir / "adapter")
    tokenizer.save_pretrained(out_dir / "tokenizer")
    (out_dir / META_FILE).write_text(json.dumps({"sid_tokens": sid.to_dict(), **(meta or {})}, indent=1))
    return out_dir


def load_lcrec(cfg: LCRecModelConfig, run_dir: Path, dtype: torch.dtype | None = None, adapter: Path | None = None):
    """-> (model in eval mode, tokenizer, SIDTokens, meta) from `save_lcrec`'s directory. `adapter`: another
    adapter directory to load instead of the saved one (e.g. a merged adapter)."""
    from transformers import AutoTokenizer

    run_dir = Path(run_dir)
    meta = json.loads((run_dir / META_FILE).read_text())
    sid = SIDTokens.from_dict(meta["sid_tokens"])
    tok = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
    adapter = Path(adapter) if adapter is not None else run_dir / "adapter"
    if cfg.finetune == "full":
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(adapter, **({"dtype": dtype} if dtype else {}))
        return model.eval(), tok, sid, meta
    from peft import PeftModel

    base_tok = tok if cfg.base == "tiny" else None
    model, _ = load_base(cfg, base_tok, dtype, seed=int(meta.get("seed", 0)), vocab_size=sid.num_original)
    # The base must have the SID rows before the adapter's new rows can be put into them.
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    model = PeftModel.from_pretrained(model, adapter)
    return model.eval(), tok, sid, meta
