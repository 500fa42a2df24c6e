"""Item encoders: text (sentence-transformers, any HF encoder with mean pooling) and VLM (image + text).

Each encoder is a plain object with `encode(texts, images=None) -> float32 [n, dim]` and a `uses_images`
flag, so the Ray Data actors in `data_pipelines.embed` can hold any of them. No Ray here. `SentenceEncoder`
wraps the sentence-transformers one as the query-time callable (RAG queries, the playlist's retrieval baseline).

The VLM encoder follows LC-Rec-style multimodal item tokenisation: the image and the item text go through
the model together and the item vector is the mean of the last hidden states over all (image + text)
tokens. Items without a usable image are encoded from their text alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rec_core.offline_models import resolve_model

EncoderKind = Literal["sentence_transformers", "hf_mean", "vlm"]


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _l2(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _mean_pool(hidden, mask):
    """Mean of token states where mask == 1 (padding side does not matter)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class SentenceTransformerEncoder:
    uses_images = False

    def __init__(self, name: str, device: str, batch_size: int, normalize: bool, max_length: int | None = None):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(resolve_model(name), device=device)
        if max_length:
            self.model.max_seq_length = max_length
        self.batch_size, self.normalize = batch_size, normalize
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: Sequence[str], images=None) -> np.ndarray:
        out = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


class SentenceEncoder:
    """Query-time encoder: texts -> float32 [n, d], the same sentence-transformers class the Ray Data
    embedding actors hold (catalogue vectors and query vectors come from one encode path).

    A plain callable, for the RAG query path and the playlist's MiniLM retrieval baseline. `normalize`
    L2-normalises the output (MiniLM's own pipeline already ends in a Normalize module)."""

    def __init__(
        self,
        name: str = "minilm",
        device: str = "cpu",
        batch_size: int = 64,
        max_length: int = 256,
        normalize: bool = True,
    ):
        self.name = name
        self._enc = SentenceTransformerEncoder(
            name, device=device, batch_size=batch_size, normalize=normalize, max_length=max_length
        )
        self.dim = self._enc.dim

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._enc.encode(list(texts))


class HFMeanPoolEncoder:
    """Any `AutoModel` encoder; the item vector is the attention-masked mean of the last hidden state."""

    uses_images = False

    def __init__(
        self,
        name: str,
        device: str,
        batch_size: int,
        normalize: bool,
        max_length: int = 128,
        load_in_4bit: bool = False,
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model(name)
        self.tok = AutoTokenizer.from_pretrained(path)
        kwargs = _quant_kwargs(load_in_4bit, device)
        self.model = AutoModel.from_pretrained(path, **kwargs).eval()
        if not kwargs:
            self.model.to(device)
        self.device, self.batch_size, self.normalize, self.max_length = device, batch_size, normalize, max_length
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def encode(self, texts: Sequence[str], images=None) -> np.ndarray:
        torch = self._torch
        texts = list(texts)
        # Longest first, as sentence-transformers does: batches of similar length waste little on padding.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tok(
                    [texts[j] for j in order[i : i + self.batch_size]],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state
                out.append(_mean_pool(hidden, enc["attention_mask"]).float().cpu().numpy())
        emb = np.empty((len(texts), self.dim), np.float32)
        if out:
            emb[order] = np.concatenate(out)
        return (_l2(emb) if self.normalize else emb).astype(np.float32)


def _quant_kwargs(load_in_4bit: bool, device: str) -> dict:
    """bitsandbytes 4-bit (NF4, bf16 compute) loading; placement is then done by accelerate."""
    if not load_in_4bit:
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    return {"quantization_config": q, "device_map": {"": device if device != "cuda" else 0}}


class VLMEncoder:
    """Qwen2-VL / LLaVA (any `AutoModelForImageTextToText` + `AutoProcessor`) as an item encoder."""

    uses_images = True

    def __init__(
        self,
        name: str,
        device: str,
        batch_size: int,
        normalize: bool,
        max_length: int = 256,
        load_in_4bit: bool = False,
    ):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = resolve_model(name)
        self.proc = AutoProcessor.from_pretrained(path)
        kwargs = _quant_kwargs(load_in_4bit, device)
        if device.startswith("cuda") and not load_in_4bit:
            kwargs["dtype"] = torch.bfloat16
        self.model = AutoModelForImageTextToText.from_pretrained(path, **kwargs).eval()
        if not load_in_4bit:
            self.model.to(device)
        tok = getattr(self.proc, "tokenizer", self.proc)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        self.device, self.batch_size, self.normalize, self.max_length = device, batch_size, normalize, max_length
        cfg = self.model.config
        text_cfg = getattr(cfg, "text_config", cfg)
        self.dim = int(text_cfg.hidden_size)
        self._torch = torch

    def _prompt(self, text: str, with_image: bool) -> str:
        content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": text}]
        if getattr(self.proc, "chat_template", None):
            return self.proc.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=False)
        image_token = getattr(self.proc, "image_token", "<image>")
        return f"{image_token}\n{text}" if with_image else text

    def _forward(self, texts: list[str], images: list | None) -> np.ndarray:
        prompts = [self._prompt(t, images is not None) for t in texts]
        kwargs = dict(text=prompts, padding=True, return_tensors="pt")
        if images is not None:
            kwargs["images"] = images
        else:
            kwargs.update(truncation=True, max_length=self.max_length)
        enc = self.proc(**kwargs).to(self.device)
        out = self.model(**enc, output_hidden_states=True)
        return _mean_pool(out.hidden_states[-1], enc["attention_mask"]).float().cpu().numpy()

    def encode(self, texts: Sequence[str], images: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        """images[i] is an HxWx3 uint8 array or None (then item i is encoded from its text alone)."""
        from PIL import Image

        texts = list(texts)
        images = list(images) if images is not None else [None] * len(texts)
        emb = np.zeros((len(texts), self.dim), np.float32)
        with_img = [i for i, im in enumerate(images) if im is not None]
        text_only = [i for i, im in enumerate(images) if im is None]
        with self._torch.inference_mode():
            for idx, use_img in ((with_img, True), (text_only, False)):
                for s in range(0, len(idx), self.batch_size):
                    chunk = idx[s : s + self.batch_size]
                    imgs = [Image.fromarray(np.asarray(images[i], dtype=np.uint8)) for i in chunk] if use_img else None
                    emb[chunk] = self._forward([texts[i] for i in chunk], imgs)
        return _l2(emb) if self.normalize else emb


def build_encoder(
    kind: EncoderKind,
    name: str,
    *,
    device: str = "auto",
    batch_size: int = 64,
    normalize: bool = True,
    max_length: int = 128,
    load_in_4bit: bool = False,
):
    device = pick_device(device)
    if kind == "sentence_transformers":
        if load_in_4bit:
            raise ValueError("load_in_4bit is supported for kind=hf_mean and kind=vlm, not sentence_transformers")
        return SentenceTransformerEncoder(name, device, batch_size, normalize, max_length)
    if kind == "hf_mean":
        return HFMeanPoolEncoder(name, device, batch_size, normalize, max_length, load_in_4bit)
    if kind == "vlm":
        return VLMEncoder(name, device, batch_size, normalize, max_length, load_in_4bit)
    raise ValueError(f"unknown encoder kind {kind!r}: expected sentence_transformers, hf_mean or vlm")
