"""LLM backends for the answer: a local transformers model (offline default: SmolLM2-135M-Instruct GGUF)
or any OpenAI-compatible chat-completions endpoint (base URL from config, key from an environment variable)."""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import Field

from rec_core.config import StrictModel
from rec_core.rag.prompt import render_plain


class LLMError(RuntimeError):
    """The LLM could not produce an answer (unreachable endpoint, bad reply, model load failure)."""


class LLMConfig(StrictModel):
    backend: Literal["transformers", "openai"] = "transformers"
    model: str = Field(
        "smollm2", description="transformers: offline alias/HF id/path; openai: the model name sent to the endpoint"
    )
    gguf_file: str | None = Field(None, description="GGUF file inside `model` (default for smollm2: its Q4_1 file)")
    tiny_from_config: bool = Field(
        False, description="random tiny Llama built from config (tests only; gibberish answers)"
    )
    base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1"
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="environment variable holding the key (never put keys in configs)"
    )
    max_new_tokens: int = Field(160, ge=1, le=2048)
    temperature: float = Field(0.0, ge=0, le=2)
    repetition_penalty: float = Field(
        1.3, ge=1.0, description="transformers: >1 discourages repeating tokens (1 = off)"
    )
    no_repeat_ngram_size: int = Field(
        4, ge=0, description="transformers: no n-gram of this size twice in the answer (0 = off)"
    )
    frequency_penalty: float = Field(0.5, ge=-2, le=2, description="openai: the endpoint's frequency penalty")
    timeout_s: float = Field(60.0, gt=0)


def generation_controls(cfg: LLMConfig) -> dict:
    """Repetition control for `generate`: small models loop ("X (2007); X (2007); …") without it."""
    out: dict = {}
    if cfg.repetition_penalty > 1.0:
        out["repetition_penalty"] = cfg.repetition_penalty
    if cfg.no_repeat_ngram_size > 0:
        out["no_repeat_ngram_size"] = cfg.no_repeat_ngram_size
    return out


class LLMBackend(Protocol):
    name: str

    def complete(self, messages: list[dict]) -> str: ...


class TransformersLLM:
    def __init__(self, cfg: LLMConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from rec_core.offline_models import SMOLLM2_GGUF, resolve_model

        self.cfg = cfg
        self._lock = threading.Lock()  # one generate at a time: the web server may call from several threads
        t0 = time.perf_counter()
        if cfg.tiny_from_config:
            from transformers import LlamaConfig, LlamaForCausalLM

            self.tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
            torch.manual_seed(0)
            self.model = LlamaForCausalLM(
                LlamaConfig(
                    vocab_size=self.tokenizer.vocab_size,
                    hidden_size=32,
                    intermediate_size=64,
                    num_hidden_layers=2,
                    num_attention_heads=2,
                    num_key_value_heads=2,
                    max_position_embeddings=2048,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=self.tokenizer.sep_token_id,
                )
            )
            self.name = "tiny random Llama (from config)"
        else:
            path = resolve_model(cfg.model)
            gguf = cfg.gguf_file or (SMOLLM2_GGUF if cfg.model == "smollm2" else None)
            kw = {"gguf_file": gguf} if gguf else {}
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(path, **kw)
                self.model = AutoModelForCausalLM.from_pretrained(path, **kw)
            except Exception as e:  # noqa: BLE001 - any load failure is reported with the path
                raise LLMError(
                    f"could not load LLM {cfg.model!r} from {path}{' / ' + gguf if gguf else ''}: {e}"
                ) from e
            self.name = f"{cfg.model}" + (f" ({gguf})" if gguf else "")
        self.model.eval()
        self.load_s = time.perf_counter() - t0

    def _prompt_ids(self, messages: list[dict]):
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            return ids["input_ids"], ids["attention_mask"]
        enc = tok(render_plain(messages), return_tensors="pt", add_special_tokens=False)
        return enc["input_ids"], enc["attention_mask"]

    def complete(self, messages: list[dict]) -> str:
        import torch

        input_ids, mask = self._prompt_ids(messages)
        gen_kw = dict(
            max_new_tokens=self.cfg.max_new_tokens,
            do_sample=self.cfg.temperature > 0,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            **generation_controls(self.cfg),
        )
        if self.cfg.temperature > 0:
            gen_kw["temperature"] = self.cfg.temperature
        with self._lock, torch.no_grad():
            out = self.model.generate(input_ids=input_ids, attention_mask=mask, **gen_kw)
        return self.tokenizer.decode(out[0, input_ids.shape[1] :], skip_special_tokens=True).strip()


class OpenAICompatibleLLM:
    """POST {base_url}/chat/completions with `Authorization: Bearer $<api_key_env>`."""

    def __init__(self, cfg: LLMConfig, transport=None):
        import httpx

        self.cfg = cfg
        key = os.environ.get(cfg.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(
            base_url=cfg.base_url.rstrip("/"), headers=headers, timeout=cfg.timeout_s, transport=transport
        )
        self.name = f"{cfg.model} @ {cfg.base_url}"

    def complete(self, messages: list[dict]) -> str:
        import httpx

        body = {
            "model": self.cfg.model,
            "messages": messages,
            "max_tokens": self.cfg.max_new_tokens,
            "temperature": self.cfg.temperature,
            "frequency_penalty": self.cfg.frequency_penalty,
        }
        try:
            r = self.client.post("/chat/completions", json=body)
        except httpx.HTTPError as e:
            raise LLMError(f"LLM endpoint {self.cfg.base_url} unreachable: {type(e).__name__}: {e}") from e
        if r.status_code == 401:
            raise LLMError(f"LLM endpoint {self.cfg.base_url} refused the key (401); set ${self.cfg.api_key_env}")
        if r.status_code >= 400:
            raise LLMError(f"LLM endpoint {self.cfg.base_url} answered HTTP {r.status_code}: {r.text[:200]}")
        try:
            content = r.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise LLMError(f"LLM endpoint {self.cfg.base_url} sent an unexpected reply: {r.text[:200]}") from e
        if not isinstance(content, str):
            raise LLMError(f"LLM endpoint {self.cfg.base_url} sent non-text content")
        return content.strip()

    def close(self) -> None:
        self.client.close()


def make_llm(cfg: LLMConfig) -> LLMBackend:
    return OpenAICompatibleLLM(cfg) if cfg.backend == "openai" else TransformersLLM(cfg)


# ---- checking the answer ---------------------------------------------------------------------------
_TITLE_LIKE = re.compile(
    r"\*\*([^*\n]{2,80})\*\*"  # **Title**
    r"|[\"“]([^\"”\n]{2,80})[\"”]"  # "Title"
    r"|((?:[A-Z0-9][\w'’&.-]*)(?:[ :,-]+(?:[A-Z0-9][\w'’&.-]*|of|the|and|a|an|in|on|to|for|with)){0,8})"
    r"\s*\((?:19|20)\d\d\)"  # Title (2007)
)


@dataclass
class CheckedAnswer:
    text: str | None  # None when nothing is left
    dropped: list[str] = field(default_factory=list)  # "reason: line"


def check_llm_answer(
    text: str, matcher, prefs, recommendations: list[dict], fallback: bool = False, lookup=None
) -> CheckedAnswer:
    """Keep the LLM's lines that repeat nothing and name only the recommended movies (or the liked ones).

    A line is dropped when it repeats an earlier line, names a catalogue movie that is not among the
    recommendations (`matcher`: the catalogue's TitleMatcher), names a movie the constraints forbid
    (`prefs.violation`; `lookup`: item id -> catalogue row, for the genres), or writes a title-like name
    ("Name (2007)", **Name**, "Name") that is no catalogue movie.
    Lines with links are dropped, and when no kept line names a recommended movie the whole answer is dropped
    (it is not grounded in them). In the fallback (no recommendations: the LLM answers alone) only repeats,
    links and forbidden movies are dropped.
    """
    from rec_core.rag.titles import normalise_title

    allowed = {int(r["item_id"]) for r in recommendations} | {int(m["item_id"]) for m in prefs.liked}
    allowed_norm = {normalise_title(r["title"]) for r in recommendations} | {
        normalise_title(m["title"]) for m in prefs.liked
    }
    kept, dropped, seen = [], [], set()
    for raw in re.split(r"\n+|(?<=[.!?])\s+(?=[A-Z0-9*\"“-])", text or ""):
        line = raw.strip()
        if not line:
            continue
        key = re.sub(r"[^a-z0-9]+", " ", line.lower()).strip()
        if key in seen:
            dropped.append(f"repeated: {line}")
            continue
        seen.add(key)
        reason = None
        names = matcher.extract(line)
        named = {m.item_id for m in names}
        for m in names:
            movie = (lookup(m.item_id) if lookup else None) or {"item_id": m.item_id, "title": m.title}
            v = prefs.violation(movie)
            if m.item_id not in allowed and v is not None:
                reason = f"names {m.title} ({v})"
                break
            if not fallback and m.item_id not in allowed:
                reason = f"names {m.title}, not among the recommendations"
                break
        if reason is None and not fallback:
            for g in _TITLE_LIKE.finditer(line):
                name = next(x for x in g.groups() if x)
                n = normalise_title(name)
                if n and n not in allowed_norm and not any(n in a or a in n for a in allowed_norm):
                    hit = matcher.extract(name)
                    if not hit or not ({h.item_id for h in hit} <= (allowed | named)):
                        reason = f"names {name!r}, not a recommended catalogue movie"
                        break
        if reason is None and re.search(r"https?://|www\.", line):
            reason = "links outside the catalogue"
        if reason:
            dropped.append(f"{reason}: {line}")
        else:
            kept.append((line, bool(named & allowed) or any(a in normalise_title(line) for a in allowed_norm)))
    if not fallback and kept and not any(grounded for _, grounded in kept):
        # an answer that names none of the recommended movies is not grounded in them
        dropped += [f"names none of the recommendations: {line}" for line, _ in kept]
        kept = []
    return CheckedAnswer("\n".join(line for line, _ in kept) if kept else None, dropped)
