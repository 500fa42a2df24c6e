"""LC-Rec's non-ranking evaluations: item2index exact match, item search precision, preference keyword F1,
item-enrich BLEU / ROUGE-L, and I2I from token rows.

(Seqrec Recall/NDCG go through the shared harness, rec_core.evaluation, with `decode.LCRecRanker`.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import GenerationConfig

from rec_core.lcrec.decode import beam_search_sids, blank_generation_config
from rec_core.lcrec.padding import left_pad
from rec_core.lcrec.prompts import (
    ItemText,
    enrich_prompt,
    item2index_prompt,
    preference_target,
    prompt_ids,
    render,
    search_prompt,
)
from rec_core.semantic_ids.trie import SIDTrie, TrieLogitsProcessor


def item2index_accuracy(
    model,
    tokenizer,
    trie: SIDTrie,
    items: ItemText,
    item_idx: Sequence[int],
    num_beams: int = 5,
    batch_size: int = 32,
    device="cpu",
) -> dict[str, float]:
    """Title -> constrained top-1 ID; exact match with the item's ID. Chance is 1 / number of items."""
    proc = TrieLogitsProcessor(trie)
    hits = 0
    for s in range(0, len(item_idx), batch_size):
        batch = list(item_idx[s : s + batch_size])
        out = beam_search_sids(
            model, tokenizer, [item2index_prompt(i, items) for i in batch], trie, num_beams, proc, device=device
        )
        hits += sum(1 for i, lst in zip(batch, out) if lst and lst[0] == i)
    n = max(len(item_idx), 1)
    return {"accuracy": hits / n, "items": len(item_idx), "chance": 1.0 / len(trie)}


def search_precision(
    model,
    tokenizer,
    trie: SIDTrie,
    items: ItemText,
    item_idx: Sequence[int],
    k: int = 10,
    batch_size: int = 16,
    device="cpu",
) -> dict[str, float]:
    """Item search: an item's keywords -> constrained top-k IDs. precision@k is the share of the k returned items that
    carry every query keyword (a missing beam counts as a miss); chance is the share of the catalogue that does, what
    k items drawn at random would score. Exact match would be unfair here: many items share one keyword set."""
    kw = [set(k_) for k_ in items.keywords or []]
    queries = [i for i in item_idx if kw and kw[i]]
    proc = TrieLogitsProcessor(trie)
    precision, chance = [], []
    for s in range(0, len(queries), batch_size):
        batch = queries[s : s + batch_size]
        out = beam_search_sids(model, tokenizer, [search_prompt(i, items) for i in batch], trie, k, proc, device=device)
        for i, found in zip(batch, out):
            precision.append(sum(kw[i] <= kw[j] for j in found[:k]) / k)
            chance.append(sum(kw[i] <= other for other in kw) / len(kw))
    return {
        "precision": float(np.mean(precision)) if precision else float("nan"),
        "chance": float(np.mean(chance)) if chance else float("nan"),
        "queries": len(queries),
    }


def keyword_f1(predicted: str, target: str) -> float:
    """F1 between two comma-separated keyword lists, case-insensitive; 0 when either is empty."""
    p = {w.strip().lower() for w in predicted.split(",") if w.strip()}
    t = {w.strip().lower() for w in target.split(",") if w.strip()}
    both = len(p & t)
    return 2 * both / (len(p) + len(t)) if both else 0.0


def preference_scores(
    model,
    tokenizer,
    items: ItemText,
    histories: Sequence[Sequence[int]],
    allowed: set[int] | None = None,
    max_new_tokens: int = 16,
    device="cpu",
) -> dict[str, float]:
    """The preference task: a history as semantic IDs -> its three most frequent keywords (the training target),
    scored by keyword F1. The baseline always answers the three keywords most frequent over these histories."""
    pairs = [(h, preference_target(h, items, allowed)) for h in histories]
    pairs = [(h, t) for h, t in pairs if t]
    if not pairs:
        return {"f1": float("nan"), "f1_baseline": float("nan"), "users": 0}
    prompts = [render("preference", 0, history=", ".join(items.sids[i] for i in h)) for h, _ in pairs]
    answers = generate_texts(model, tokenizer, prompts, max_new_tokens, device=device)
    counts: dict[str, int] = {}
    for _, t in pairs:
        for w in t.split(", "):
            counts[w] = counts.get(w, 0) + 1
    constant = ", ".join(sorted(counts, key=lambda w: -counts[w])[:3])
    return {
        "f1": float(np.mean([keyword_f1(a, t) for a, (_, t) in zip(answers, pairs)])),
        "f1_baseline": float(np.mean([keyword_f1(constant, t) for _, t in pairs])),
        "users": len(pairs),
    }


@torch.no_grad()
def generate_texts(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 32, batch_size: int = 16, device="cpu"
):
    """Greedy continuations (explicit config: nothing from the model's generation_config), decoded to text."""
    cfg = GenerationConfig(
        do_sample=False,
        num_beams=1,
        temperature=None,
        top_k=None,
        top_p=None,
        max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    was_training = model.training
    model.eval()
    texts = []
    try:
        for s in range(0, len(prompts), batch_size):
            rows = [prompt_ids(tokenizer, p) for p in prompts[s : s + batch_size]]
            ids, mask = left_pad(rows, tokenizer.pad_token_id)
            with blank_generation_config(model):
                out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=cfg)
            texts += tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
    finally:
        model.train(was_training)
    return [t.strip() for t in texts]


def text_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU (sacrebleu, 0-100) and mean ROUGE-L F1 (rouge-score, stemmed, 0-1)."""
    import sacrebleu
    from rouge_score import rouge_scorer

    bleu = sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rl = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references)]
    return {"bleu": float(bleu), "rouge_l": float(np.mean(rl)) if rl else float("nan")}


def enrich_scores(model, tokenizer, items: ItemText, item_idx: Sequence[int], max_new_tokens=32, device="cpu"):
    """Generate the held-out field for `item_idx` (template 0) and score against the references. -> (scores,
    [(prompt, reference, hypothesis)] samples)."""
    idx = [i for i in item_idx if items.enrich and items.enrich[i]]
    prompts = [enrich_prompt(i, items) for i in idx]
    refs = [items.enrich[i] for i in idx]
    hyps = generate_texts(model, tokenizer, prompts, max_new_tokens, device=device)
    return {**text_scores(hyps, refs), "items": len(idx)}, list(zip(prompts, refs, hyps))


# ---------------------------------------------------------------------------------------------
# I2I


def co_interaction_neighbours(train_seqs, n_items: int, top: int = 10) -> list[np.ndarray]:
    """Per item: the `top` items most often in the same users' training sequences (ties by index)."""
    from scipy.sparse import csr_matrix

    rows, cols = [], []
    for u, s in enumerate(train_seqs):
        for i in set(s):
            rows.append(u)
            cols.append(i)
    m = csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(train_seqs), n_items))
    co = (m.T @ m).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    out = []
    for i in range(n_items):
        row = co.getrow(i)
        order = np.lexsort((row.indices, -row.data))[:top]
        out.append(row.indices[order])
    return out


def i2i_recall(vectors: np.ndarray, truth: list[np.ndarray], items: Sequence[int], k: int = 10) -> float:
    """Mean over `items` of |cosine top-k neighbours (self excluded) ∩ truth| / min(k, |truth|)."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    scores = []
    for i in items:
        if len(truth[i]) == 0:
            continue
        sim = v @ v[i]
        sim[i] = -np.inf
        top = np.argpartition(-sim, k)[:k]
        scores.append(len(set(top.tolist()) & set(truth[i].tolist())) / min(k, len(truth[i])))
    return float(np.mean(scores)) if scores else float("nan")


def sid_item_vectors(embeddings: torch.Tensor | np.ndarray, item_token_ids: np.ndarray) -> np.ndarray:
    """Item vector = mean of its SID tokens' (learned) embedding rows."""
    e = np.asarray(embeddings, dtype=np.float32)
    return e[np.asarray(item_token_ids)].mean(1)


def text_item_vectors(embeddings, tokenizer, titles: Sequence[str]) -> np.ndarray:
    """Baseline: mean of the input-embedding rows of the item's title tokens (what the model reads for it)."""
    e = np.asarray(embeddings, dtype=np.float32)
    out = np.zeros((len(titles), e.shape[1]), np.float32)
    for i, t in enumerate(titles):
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        if ids:
            out[i] = e[ids].mean(0)
    return out
