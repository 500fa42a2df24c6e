"""Score movie overviews on 0-10 scales with a causal LM.

Two methods:
* `token_prob` (default, for small models): the expected score under the model's next-token
  distribution over the allowed answers "0".."10". Multi-token answers are handled exactly with a
  prefix trie: with digit-split tokenizers "10" = "1" then "0", so P("10") = P("1") P("0"|"1") and
  P("1") = P("1") (1 - P("0"|"1")). `mass` (the probability the model put on any allowed answer) is
  kept: a low mass means the model was not really answering with a number.
* `json`: greedy generation of `{"plot_novelty": n, "emotion_complexity": n}`, validated against a
  schema, retried once with a stricter prompt; every failure keeps its `raw_response`.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCORE_NAMES = ("plot_novelty", "emotion_complexity")
QUESTIONS = {
    "plot_novelty": "How original and novel is this plot compared with typical movies? "
    "Answer with one integer from 0 (very formulaic) to 10 (highly original).",
    "emotion_complexity": "How emotionally complex is this story (mixed, layered, ambiguous feelings)? "
    "Answer with one integer from 0 (simple) to 10 (very complex).",
}
SYSTEM = "You are a film critic. You answer with a single integer."
# Pre-filled start of the assistant turn: small chat models otherwise open with "Sure," / "The plot ..."
# and put little probability on a digit; after "Score: " the next token is almost always the number.
ANSWER_PREFIX = "Score (0-10): "
ANSWERS = [str(i) for i in range(11)]


def build_prompt(
    tokenizer, overview: str, question: str, max_overview_chars: int = 800, answer_prefix: str = ""
) -> str:
    text = (overview or "").strip()[:max_overview_chars]
    user = f"Movie plot: {text}\n\n{question}"
    if getattr(tokenizer, "chat_template", None):
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + answer_prefix
    return f"{SYSTEM}\n{user}\n{answer_prefix or 'Answer: '}"


# ---------------------------------------------------------------------------------------------
# token-probability expected value


@dataclass
class AnswerTrie:
    """Token sequences of the allowed answers and the proper prefixes that need one more step."""

    answers: list[str]
    sequences: list[tuple[int, ...]]
    prefixes: list[tuple[int, ...]] = field(default_factory=list)  # proper, non-empty prefixes

    @classmethod
    def build(cls, tokenizer, answers: list[str] = ANSWERS) -> "AnswerTrie":
        seqs = [tuple(tokenizer.encode(a, add_special_tokens=False)) for a in answers]
        if any(len(s) == 0 for s in seqs) or len(set(seqs)) != len(seqs):
            raise ValueError(f"tokenizer cannot encode the answers {answers} distinctly: {seqs}")
        prefixes = sorted({s[:i] for s in seqs for i in range(1, len(s))})
        return cls(list(answers), seqs, prefixes)

    def children(self, prefix: tuple[int, ...]) -> set[int]:
        n = len(prefix)
        return {s[n] for s in self.sequences if len(s) > n and s[:n] == prefix}

    def answer_probs(self, step_probs: dict[tuple[int, ...], np.ndarray]) -> np.ndarray:
        """step_probs[prefix] = next-token probabilities (B, V) after prompt+prefix.
        Returns (B, n_answers) unnormalised answer probabilities."""
        b = next(iter(step_probs.values())).shape[0]
        out = np.ones((b, len(self.sequences)), dtype=np.float64)
        for j, seq in enumerate(self.sequences):
            for i, tok in enumerate(seq):
                out[:, j] *= step_probs[seq[:i]][:, tok]
            kids = self.children(seq)
            if kids:  # this answer is a prefix of a longer one: it must *stop* here
                stop = 1.0 - step_probs[seq][:, sorted(kids)].sum(axis=1)
                out[:, j] *= np.clip(stop, 0.0, 1.0)
        return out


@torch.no_grad()
def expected_scores(model, tokenizer, prompts: list[str], trie: AnswerTrie, batch_size: int = 8, values=None):
    """(expected score, answer mass, answer distribution (n, n_answers)) per prompt. Uses the KV cache
    of the prompt for the prefix steps."""
    values = np.asarray(values if values is not None else [float(a) for a in trie.answers], dtype=np.float64)
    ev = np.full(len(prompts), np.nan)
    mass = np.zeros(len(prompts))
    dist = np.zeros((len(prompts), len(trie.answers)))
    device = next(model.parameters()).device
    order = np.argsort([len(p) for p in prompts])  # similar lengths together: less padding
    for start in range(0, len(prompts), batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=bool(trie.prefixes))
        step = {(): torch.softmax(out.logits[:, -1, :].float(), -1).cpu().numpy()}
        for prefix in trie.prefixes:
            cache = copy.deepcopy(out.past_key_values)
            m, p = mask, pos[:, -1:]
            for tok in prefix:
                p = p + 1
                m = torch.cat([m, torch.ones_like(m[:, :1])], dim=1)
                tok_ids = torch.full((len(idx), 1), tok, dtype=ids.dtype, device=device)
                o = model(input_ids=tok_ids, attention_mask=m, position_ids=p, past_key_values=cache, use_cache=True)
                cache = o.past_key_values
            step[prefix] = torch.softmax(o.logits[:, -1, :].float(), -1).cpu().numpy()
        probs = trie.answer_probs(step)
        tot = probs.sum(axis=1)
        mass[idx] = tot
        dist[idx] = probs
        with np.errstate(invalid="ignore", divide="ignore"):
            ev[idx] = np.where(tot > 0, (probs * values[None, :]).sum(axis=1) / tot, np.nan)
    return ev, mass, dist


def top_answers(dist_row: np.ndarray, answers: list[str], k: int = 3) -> str:
    """'7: 0.41, 8: 0.22, 6: 0.12' — the model's raw answer distribution, shown in reports."""
    order = np.argsort(-dist_row)[:k]
    return ", ".join(f"{answers[i]}: {dist_row[i]:.2f}" for i in order)


def score_overviews_token_prob(
    model, tokenizer, overviews: list[str], batch_size: int = 8, min_mass: float = 0.0
) -> list[dict]:
    """One dict per overview: the two scores (NaN when the answer mass < min_mass), their masses and
    `failure` (None or a reason)."""
    trie = AnswerTrie.build(tokenizer)
    results = [{} for _ in overviews]
    for name in SCORE_NAMES:
        prompts = [build_prompt(tokenizer, o, QUESTIONS[name], answer_prefix=ANSWER_PREFIX) for o in overviews]
        ev, mass, dist = expected_scores(model, tokenizer, prompts, trie, batch_size=batch_size)
        for r, e, m, d in zip(results, ev, mass, dist):
            r[f"{name}_top"] = top_answers(d, trie.answers)
            ok = m >= min_mass and np.isfinite(e)
            r[name] = float(e) if ok else float("nan")
            r[f"{name}_mass"] = float(m)
            if not ok:
                r["failure"] = f"{name}: answer mass {m:.3g} < {min_mass}"
    for r in results:
        r.setdefault("failure", None)
        r["raw_response"] = None
    return results


# ---------------------------------------------------------------------------------------------
# generation + JSON schema


class PlotScoreReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    plot_novelty: int = Field(ge=0, le=10)
    emotion_complexity: int = Field(ge=0, le=10)


JSON_INSTRUCTION = (
    'Rate this movie plot. Reply with JSON only, exactly: {"plot_novelty": <0-10>, "emotion_complexity": <0-10>}'
)
JSON_RETRY_INSTRUCTION = (
    "Your previous reply was not valid. Reply with ONLY this JSON object and integers 0-10, nothing else: "
    '{"plot_novelty": 5, "emotion_complexity": 5}'
)
_JSON_OBJ = re.compile(r"\{[^{}]*\}", re.S)


class ReplyParseError(ValueError):
    pass


def parse_score_reply(text: str) -> PlotScoreReply:
    """The first JSON object in `text` that validates against the schema."""
    errors = []
    for m in _JSON_OBJ.finditer(text or ""):
        try:
            return PlotScoreReply.model_validate(json.loads(m.group(0)))
        except (json.JSONDecodeError, ValidationError) as e:
            errors.append(str(e).splitlines()[0])
    raise ReplyParseError("no JSON object matching the schema" + (f" ({errors[0]})" if errors else ""))


@torch.no_grad()
def _generate(model, tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    device = next(model.parameters()).device
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    out = model.generate(
        **enc,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def score_overviews_json(model, tokenizer, overviews: list[str], max_new_tokens: int = 32, generate=None) -> list[dict]:
    """Generate, validate, retry the failures once with a stricter prompt; keep raw replies of failures.
    `generate(prompts) -> replies` can be injected (tests feed malformed replies through it)."""
    gen = generate or (lambda ps: _generate(model, tokenizer, ps, max_new_tokens))
    first = gen([build_prompt(tokenizer, o, JSON_INSTRUCTION) for o in overviews])
    results: list[dict] = [{} for _ in overviews]
    retry_idx = []
    for i, reply in enumerate(first):
        try:
            results[i] = _ok(parse_score_reply(reply), attempts=1)
        except ReplyParseError:
            retry_idx.append(i)
    if retry_idx:
        second = gen([build_prompt(tokenizer, overviews[i], JSON_RETRY_INSTRUCTION) for i in retry_idx])
        for i, reply in zip(retry_idx, second):
            try:
                results[i] = _ok(parse_score_reply(reply), attempts=2)
            except ReplyParseError as e:
                results[i] = {
                    **{n: float("nan") for n in SCORE_NAMES},
                    "attempts": 2,
                    "failure": str(e),
                    "raw_response": json.dumps([first[i], reply]),
                }
    return results


def _ok(reply: PlotScoreReply, attempts: int) -> dict:
    return {
        "plot_novelty": float(reply.plot_novelty),
        "emotion_complexity": float(reply.emotion_complexity),
        "attempts": attempts,
        "failure": None,
        "raw_response": None,
    }
