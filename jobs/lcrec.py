"""LC-Rec (Zheng et al. 2024): a decoder LLM with one new token per semantic-ID code, LoRA-tuned (peft) on
multi-task prompts with Ray Train (DDP, or DeepSpeed ZeRO-2/3 with CPU offload), evaluated in the shared harness.

    genrec run lcrec --preset cpu --set dataset=ml-100k [--set codes=runs/semantic_ids-.../codes.parquet]

Config -> split + codes (a given table, the dataset's released SIDs, or k-means codes of the item text) -> prompts
(rec_core.lcrec.prompts, versioned) -> Ray Train fit -> adapter + new token rows saved -> evaluation: seqrec
Recall/NDCG@5/10 with trie-constrained beams on the same fixed test users as TIGER / SASRec / MostPopular,
item2index exact match, item-enrich BLEU / ROUGE-L against the untuned base, I2I from the learned token rows
against the input text embeddings -> report.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from data_pipelines.embed import EmbedConfig
from jobs.common.config import DatasetName, JobConfig, TrainConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from jobs.common.sequential import (
    SyntheticConfig,
    aligned_codes,
    codes_job_resources,
    load_sequential,
    metrics_table,
    most_popular_metrics,
    resolve_item_codes,
)
from rec_core.config import StrictModel
from rec_core.lcrec.model import LCRecModelConfig
from rec_core.lcrec.prompts import PROMPT_VERSION, ItemText, TaskRatios

# Item columns used as the item-enrich reference, first present wins (lists are joined with ", ").
ENRICH_FIELDS = ["genres", "tags", "categories", "description", "overview"]
# List columns whose values are the item's keywords for the search and preference tasks, first present wins.
KEYWORD_FIELDS = ["genres", "tags", "categories"]


class EvalConfig(StrictModel):
    beams: int = Field(20, ge=1, description="beam width for seqrec (>= the largest K)")
    batch_size: int = Field(16, ge=1, description="prompts per generate() call")
    test_users: int | None = Field(
        None, ge=1, description="evaluate on a fixed random subset of users (seed 0: the same users as TIGER/SASRec)"
    )
    valid: bool = Field(False, description="also evaluate the validation split")
    exclude_history: bool = Field(False, description="mask history items (applied identically to every model)")
    item2index_items: int = Field(300, ge=0, description="items scored for item2index exact match")
    search_items: int = Field(100, ge=0, description="items whose keywords are searched (when the search task trains)")
    preference_users: int = Field(
        100, ge=0, description="users whose preference keywords are generated (when the preference task trains)"
    )
    enrich_items: int = Field(100, ge=0, description="items held out of item-enrich training and scored")
    enrich_max_new_tokens: int = Field(24, ge=1)
    i2i_items: int = Field(1000, ge=0, description="items scored for I2I")
    i2i_k: int = Field(10, ge=1)
    valid_loss_users: int = Field(
        200, ge=1, description="validation users whose seqrec loss is reported each epoch (picks the best checkpoint)"
    )


class Config(JobConfig):
    dataset: DatasetName = "ml-100k"
    codes: Path | None = Field(None, description="codes.parquet from `genrec run semantic_ids`; None: codes_source")
    codes_source: Literal["kmeans", "released"] = "kmeans"
    kmeans_levels: int = Field(3, ge=1)
    kmeans_codebook: int = Field(64, ge=2)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    max_history: int = Field(20, ge=1)
    fusion_titles: int = Field(10, ge=1, description="history titles in a fusion prompt (the latest)")
    tasks: TaskRatios = Field(default_factory=TaskRatios)
    max_examples: int | None = Field(None, ge=1, description="cap on training examples (a random sample)")
    warmup_steps: int = Field(20, ge=0)
    group_by_length: bool = Field(
        True, description="batch examples of similar length (less padding); False: plain shuffled batches"
    )
    max_batch_tokens: int | None = Field(
        None,
        ge=1,
        description="with group_by_length: a batch of short examples grows past train.batch_size while examples x "
        "its longest stays within this many tokens",
    )
    model: LCRecModelConfig = Field(default_factory=LCRecModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=1, batch_size=8, lr=5e-4))
    eval: EvalConfig = Field(default_factory=EvalConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    merge_with: list[Path] = Field(
        default_factory=list,
        description="adapter directories (<run>/model/adapter of runs on the same base, codes and LoRA shape) to "
        "average with this run's adapter; the merged adapter is saved to model_merged/ and its seqrec is evaluated "
        "on the same users",
    )
    merge_weights: list[float] | None = Field(None, description="one weight per adapter, this run's first")


# ---------------------------------------------------------------------------------------------
# item text


def item_text(cfg: Config, ctx: RunContext, item_ids: np.ndarray, sids: list[str], features) -> ItemText:
    """Titles and the enrich reference per item index. Synthetic items are named `item <id>`, and their enrich
    reference is their segment of the hidden cycle (learnable from the codes, which encode the position)."""
    if cfg.dataset == "synthetic":
        angle = np.arctan2(features[:, 1], features[:, 0])
        seg = ((angle + np.pi) / (2 * np.pi) * 6).astype(int) % 6
        words = ["north", "east", "south", "west", "up", "down"]
        return ItemText(
            sids,
            [f"item {i}" for i in item_ids],
            "segment",
            [f"segment {words[s]}" for s in seg],
            keywords=[[words[s]] for s in seg],
        )
    from rec_core.data import load_dataset

    items = load_dataset(cfg.dataset, data_dir=ctx.data_dir, mirror=ctx.mirror).items
    items = items.set_index("item_id").reindex(np.asarray(item_ids))
    if "title" not in items.columns or items["title"].isna().all():
        return ItemText(sids)  # ID-only data (LC-Rec's Instruments): seqrec only
    titles = [t if isinstance(t, str) and t else f"item {i}" for i, t in zip(item_ids, items["title"])]
    keywords = None
    for f in KEYWORD_FIELDS:
        if f in items.columns and any(isinstance(v, (list, tuple, np.ndarray)) and len(v) for v in items[f]):
            keywords = [[str(x) for x in v] if isinstance(v, (list, tuple, np.ndarray)) else [] for v in items[f]]
            break
    for f in ENRICH_FIELDS:
        if f in items.columns:
            vals = [_text(v) for v in items[f]]
            if sum(1 for v in vals if v) >= 10:
                return ItemText(sids, titles, f, vals, keywords)
    return ItemText(sids, titles, keywords=keywords)


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (list, tuple, np.ndarray)):
        return ", ".join(str(x) for x in v) or None
    return str(v) or None


# ---------------------------------------------------------------------------------------------
# Ray Train worker loop


def _tokenizer(c: dict):
    from rec_core.lcrec.model import tokenizer_from_json

    return tokenizer_from_json(c["tiny_tokenizer"]) if c.get("tiny_tokenizer") else None


def train_loop(c: dict) -> None:
    from jobs.common.train import WorkerSession, train_config_from_loop
    from rec_core.generative.train import fast_forward
    from rec_core.lcrec.model import build_lcrec, optimizer_groups
    from rec_core.lcrec.train import (
        Collate,
        CollateGrouped,
        EncodedExamples,
        GroupedBatches,
        lcrec_loss,
        warmup_cosine,
    )

    train_cfg = train_config_from_loop(c)
    mcfg = LCRecModelConfig.model_validate(c["model"])
    torch.manual_seed(c["seed"])
    model, tok, sid = build_lcrec(mcfg, c["codebook_sizes"], _tokenizer(c), seed=c["seed"])
    if sid.to_dict() != c["sid_tokens"]:
        raise RuntimeError("the worker's SID token ids differ from the driver's (a different tokenizer?)")
    sess = WorkerSession(
        train_cfg,
        model,
        lambda params: torch.optim.AdamW(optimizer_groups(model, train_cfg.weight_decay), lr=train_cfg.lr),
    )
    ds = EncodedExamples(*c["examples"])
    valid = EncodedExamples(*c["valid_examples"])
    collate = Collate(tok.pad_token_id)
    if c["batches"] is not None:  # length-grouped on the driver
        loader = torch.utils.data.DataLoader(
            GroupedBatches(ds, c["batches"]), batch_size=1, shuffle=True, collate_fn=CollateGrouped(tok.pad_token_id)
        )
    else:
        loader = torch.utils.data.DataLoader(ds, batch_size=train_cfg.batch_size, shuffle=True, collate_fn=collate)
    loader = sess.prepare_loader(loader)
    sched = warmup_cosine(sess.optimizer, c["warmup_steps"], train_cfg.epochs * len(loader))
    extra = dict(sess.extra_state or {})
    fast_forward(sched, extra.get("steps", 0))
    steps = extra.get("steps", 0)
    for epoch in range(sess.start_epoch, train_cfg.epochs):
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):
            loader.sampler.set_epoch(epoch)
        sess.train_mode(True)
        t0, total, n, tokens = time.perf_counter(), 0.0, 0, 0
        for batch in loader:
            batch = {k: v.to(sess.device) for k, v in batch.items()}
            with sess.autocast():
                loss = lcrec_loss(sess.model, batch)
            sess.step(loss)
            sched.step()
            total, n, tokens = total + float(loss.detach()), n + 1, tokens + int(batch["attention_mask"].sum())
        secs = time.perf_counter() - t0
        steps += n
        metrics = {"loss": total / max(n, 1), "epoch_s": secs, "tokens_per_s": tokens / max(secs, 1e-9), "steps": n}
        metrics["valid/loss"] = _valid_loss(sess, valid, collate, train_cfg.batch_size)
        # This worker's peak resident memory (Linux reports KiB): what a ZeRO stage saves on CPU runs.
        metrics["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        if sess.is_main and torch.cuda.is_available() and sess.device.type == "cuda":
            metrics["peak_gpu_mem_gb"] = torch.cuda.max_memory_allocated(sess.device) / 2**30
        if sess.report(metrics, epoch, extra_state={"steps": steps}):
            break


@torch.no_grad()
def _valid_loss(sess, valid, collate, batch_size: int) -> float:
    """Mean target-token loss on the validation seqrec examples (every rank computes it on all of them: it is
    small, and the ranks must agree on the checkpoint score)."""
    from rec_core.lcrec.train import lcrec_loss

    sess.train_mode(False)
    total, n = 0.0, 0
    for s in range(0, len(valid), batch_size):
        batch = collate([valid[i] for i in range(s, min(s + batch_size, len(valid)))])
        batch = {k: v.to(sess.device) for k, v in batch.items()}
        with sess.autocast():
            loss = lcrec_loss(sess.model, batch)
        rows = batch["input_ids"].shape[0]
        total, n = total + float(loss) * rows, n + rows
    sess.train_mode(True)
    return total / max(n, 1)


# ---------------------------------------------------------------------------------------------
# driver


def _driver_tokenizer(cfg: Config, texts: list[str]):
    """The base's tokenizer (a word-level one over the run's texts for base='tiny')."""
    from rec_core.lcrec.model import tiny_tokenizer

    if cfg.model.base == "tiny":
        return tiny_tokenizer(texts, cfg.model.tiny.vocab_size)
    from transformers import AutoTokenizer

    from rec_core.offline_models import SMOLLM2_GGUF, resolve_model

    path = resolve_model(cfg.model.base)
    gguf = cfg.model.gguf_file or (SMOLLM2_GGUF if cfg.model.base == "smollm2" else None)
    try:
        tok = AutoTokenizer.from_pretrained(path, **({"gguf_file": gguf} if gguf else {}))
    except Exception as e:  # noqa: BLE001 - any loader failure is a config problem for the user
        raise UserFacingError(f"cannot load the tokenizer of model.base={cfg.model.base!r}: {e}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _recall_ci(ranks: np.ndarray, k: int = 10) -> tuple[float, float]:
    """95% normal-approximation interval of Recall@k (a hit rate over users)."""
    ranks = np.asarray(ranks)
    hits = ((ranks >= 0) & (ranks < k)).astype(float)  # -1: the target is not in the list
    p, n = float(hits.mean()) if len(hits) else 0.0, max(len(hits), 1)
    half = 1.96 * np.sqrt(p * (1 - p) / n)
    return max(p - half, 0.0), min(p + half, 1.0)


def run(cfg: Config, ctx: RunContext) -> JobResult:
    from jobs.common.train import fit_torch, load_model_state
    from rec_core.evaluation import evaluate_ranker
    from rec_core.lcrec.decode import LCRecRanker
    from rec_core.lcrec.evaluate import (
        co_interaction_neighbours,
        enrich_scores,
        i2i_recall,
        item2index_accuracy,
        preference_scores,
        search_precision,
        sid_item_vectors,
        text_item_vectors,
    )
    from rec_core.lcrec.model import build_lcrec, load_base, save_lcrec
    from rec_core.lcrec.prompts import encode_example, seqrec_prompt, training_examples
    from rec_core.lcrec.tokens import SIDTokens, add_sid_tokens, embedding_rows, sid_text, sid_token_strings
    from rec_core.lcrec.train import EncodedExamples

    if cfg.model.load_in_4bit and not cfg.train.use_gpu:
        raise UserFacingError("model.load_in_4bit (QLoRA) needs CUDA: set train.use_gpu=true on a GPU cluster")
    split, features = load_sequential(cfg.dataset, ctx, cfg.max_history, cfg.synthetic, cfg.seed)
    codes = resolve_item_codes(cfg, ctx, split, features)
    item_codes = aligned_codes(codes, split.item_ids, cfg.dataset)
    items = item_text(cfg, ctx, split.item_ids, [sid_text(r) for r in item_codes], features)
    n_items = len(split.item_ids)
    rng = np.random.default_rng(cfg.seed)
    with_enrich = [i for i in range(n_items) if items.enrich and items.enrich[i]]
    held_out = sorted(rng.choice(with_enrich, size=min(cfg.eval.enrich_items, len(with_enrich) // 2), replace=False))
    trainable_enrich = sorted(set(with_enrich) - set(held_out))
    examples = training_examples(
        split.train,
        items,
        cfg.tasks,
        cfg.max_history,
        cfg.fusion_titles,
        enrich_items=trainable_enrich,
        seed=cfg.seed,
    )
    if cfg.max_examples and len(examples) > cfg.max_examples:
        examples = [examples[i] for i in sorted(rng.choice(len(examples), cfg.max_examples, replace=False))]
    if not examples:
        raise UserFacingError("no training examples: every task ratio is 0 or the dataset is empty")
    texts = [p + "\n" + t for _, p, t in examples] + (items.titles or []) + [e for e in items.enrich or [] if e]
    tok = _driver_tokenizer(cfg, texts)
    tiny_json = tok.backend_tokenizer.to_str() if cfg.model.base == "tiny" else None
    n_before = len(tok)
    tok.add_tokens([s for lv in sid_token_strings(codes.codebook_sizes) for s in lv])
    pairs = [encode_example(tok, p, t, cfg.model.max_len) for _, p, t in examples]
    enc = EncodedExamples.from_pairs(pairs)
    vsub = split.valid.sample(n=min(cfg.eval.valid_loss_users, len(split.valid)), random_state=cfg.seed)
    valid_enc = EncodedExamples.from_pairs(
        [
            encode_example(tok, seqrec_prompt(h, items, cfg.max_history), items.sids[t], cfg.model.max_len)
            for h, t in zip(vsub["history"], vsub["target"])
        ]
    )
    batches, padding = None, float("nan")
    if cfg.group_by_length:  # formed once here: the workers train on these, the report gives their padding
        from rec_core.lcrec.train import length_grouped_batches, padded_share

        batches = length_grouped_batches(enc.lengths(), cfg.train.batch_size, cfg.seed, max_tokens=cfg.max_batch_tokens)
        padding = padded_share(enc.lengths(), batches)
    task_counts = {t: sum(1 for k, _, _ in examples if k == t) for t in sorted({k for k, _, _ in examples})}

    # The SID layout the workers must reproduce (same base tokenizer, same add order).
    sid_layout = SIDTokens(
        tuple(int(c) for c in codes.codebook_sizes),
        tuple(tuple(tok.convert_tokens_to_ids(lv)) for lv in sid_token_strings(codes.codebook_sizes)),
        n_before,
    )
    loop_cfg = {
        "seed": cfg.seed,
        "model": cfg.model.model_dump(),
        "codebook_sizes": list(codes.codebook_sizes),
        "sid_tokens": sid_layout.to_dict(),
        "tiny_tokenizer": tiny_json,
        "examples": enc.state(),
        "valid_examples": valid_enc.state(),
        "warmup_steps": cfg.warmup_steps,
        "batches": batches,
    }
    result = fit_torch(
        train_loop,
        loop_cfg,
        cfg.train,
        run_dir=ctx.out_dir / "train",
        name="lcrec",
        score_metric="valid/loss",
        score_mode="min",
        callbacks=ctx.callbacks,
    )
    fit_s = result.fit_s

    base_tok = tokenizer_from_json_or(tiny_json) if tiny_json else _driver_tokenizer(cfg, texts)
    load_cfg = cfg.model.model_copy(update={"load_in_4bit": False, "gradient_checkpointing": False})
    model, tok, sid = build_lcrec(load_cfg, codes.codebook_sizes, base_tok, seed=cfg.seed)
    model.load_state_dict(load_model_state(result.model_checkpoint()))
    model.eval()
    save_lcrec(
        model,
        tok,
        sid,
        ctx.out_dir / "model",
        {
            "seed": cfg.seed,
            "dataset": cfg.dataset,
            "prompt_version": PROMPT_VERSION,
            "item_ids": split.item_ids.tolist(),
            "item_codes": item_codes.tolist(),
        },
    )
    device = "cuda" if cfg.train.use_gpu and torch.cuda.is_available() else "cpu"
    model.to(device)
    item_tokens = sid.item_token_ids(item_codes)

    # seqrec: the shared harness, the same fixed users (seed 0) as TIGER / SASRec / MostPopular
    ranker = LCRecRanker(model, tok, item_tokens, items, cfg.eval.beams, cfg.max_history, device)
    kw = dict(
        batch_size=cfg.eval.batch_size,
        exclude_history=cfg.eval.exclude_history,
        max_users=cfg.eval.test_users,
        seed=0,
        progress=True,
    )
    test = evaluate_ranker(ranker, split.test, **kw)
    rows = {"test": test.metrics}
    if cfg.eval.valid:
        rows = {"valid": evaluate_ranker(ranker, split.valid, **kw).metrics, **rows}
    pop = most_popular_metrics(split, cfg.eval)
    lo, hi = _recall_ci(test.ranks, 10)
    merged = {}
    if cfg.merge_with:
        from rec_core.lcrec.merge import merge_adapters
        from rec_core.lcrec.model import load_lcrec

        merged_dir = merge_adapters(
            [ctx.out_dir / "model" / "adapter", *cfg.merge_with], cfg.merge_weights, ctx.out_dir / "model_merged"
        )
        mm, _, _, _ = load_lcrec(load_cfg, ctx.out_dir / "model", adapter=merged_dir)
        mr = LCRecRanker(mm.to(device), tok, item_tokens, items, cfg.eval.beams, cfg.max_history, device)
        merged = {"test": evaluate_ranker(mr, split.test, **kw).metrics, "invalid_ids": mr.stats.invalid}
        del mm

    metrics: dict = {
        **rows,
        "most_popular": pop,
        "recall@10": test.metrics["recall@10"],
        "ndcg@10": test.metrics["ndcg@10"],
        "recall@10_ci_low": lo,
        "recall@10_ci_high": hi,
        "random_recall@10": min(10 / n_items, 1.0),
        "invalid_ids": ranker.stats.invalid,
        "beams": ranker.stats.sequences / max(ranker.stats.users, 1),
        "eval_users": test.users,
        "eval_users_per_s": test.users_per_s,
    }
    if merged:
        metrics["merged"] = merged
    report_extra = []

    # item2index exact match
    if items.titles is not None and cfg.eval.item2index_items:
        pick = rng.choice(n_items, size=min(cfg.eval.item2index_items, n_items), replace=False)
        acc = item2index_accuracy(model, tok, ranker.trie, items, pick.tolist(), device=device)
        metrics["item2index_acc"], metrics["item2index_chance"] = acc["accuracy"], acc["chance"]

    seqs = list(split.train.values()) if isinstance(split.train, dict) else list(split.train)

    # item search: keywords -> items carrying them (precision@10 against the share of the catalogue that does)
    if items.keywords is not None and cfg.tasks.search > 0 and cfg.eval.search_items:
        pick = rng.choice(n_items, size=min(cfg.eval.search_items, n_items), replace=False)
        found = search_precision(model, tok, ranker.trie, items, pick.tolist(), k=10, device=device)
        metrics["search_precision@10"], metrics["search_chance"] = found["precision"], found["chance"]

    # preference: history -> its three most frequent keywords, keyword F1 against always answering the commonest
    if items.keywords is not None and cfg.tasks.preference > 0 and cfg.eval.preference_users:
        picked = rng.choice(len(seqs), size=min(cfg.eval.preference_users, len(seqs)), replace=False)
        pref = preference_scores(
            model,
            tok,
            items,
            [list(seqs[u])[-cfg.max_history :] for u in picked],
            set(range(n_items)) - set(held_out),
            device=device,
        )
        metrics["preference_f1"], metrics["preference_f1_baseline"] = pref["f1"], pref["f1_baseline"]

    # item-enrich: tuned vs the untuned base on the same prompts (held-out items)
    samples = []
    if held_out:
        tuned, samples = enrich_scores(model, tok, items, held_out, cfg.eval.enrich_max_new_tokens, device)
        base_model, _ = load_base(load_cfg, tokenizer_from_json_or(tiny_json), seed=cfg.seed)
        add_sid_tokens(base_model, tok, codes.codebook_sizes)
        base_model.to(device).eval()
        base, _ = enrich_scores(base_model, tok, items, held_out, cfg.eval.enrich_max_new_tokens, device)
        del base_model
        metrics.update(
            bleu=tuned["bleu"], rouge_l=tuned["rouge_l"], bleu_base=base["bleu"], rouge_l_base=base["rouge_l"]
        )
        metrics["enrich_items"] = tuned["items"]

    # I2I: mean of each item's learned SID rows vs the input text embeddings of its title
    if cfg.eval.i2i_items:
        truth = co_interaction_neighbours(seqs, n_items, top=cfg.eval.i2i_k)
        cand = [i for i in range(n_items) if len(truth[i])]
        pick = rng.choice(cand, size=min(cfg.eval.i2i_items, len(cand)), replace=False).tolist() if cand else []
        emb = embedding_rows(model).numpy()
        metrics[f"i2i_recall@{cfg.eval.i2i_k}"] = i2i_recall(
            sid_item_vectors(emb, item_tokens), truth, pick, cfg.eval.i2i_k
        )
        metrics[f"i2i_random_recall@{cfg.eval.i2i_k}"] = i2i_recall(
            np.random.default_rng(cfg.seed).normal(size=(n_items, 16)), truth, pick, cfg.eval.i2i_k
        )
        if items.titles is not None and cfg.dataset != "synthetic":
            metrics[f"i2i_text_recall@{cfg.eval.i2i_k}"] = i2i_recall(
                text_item_vectors(emb[: sid.num_original], tok, items.titles), truth, pick, cfg.eval.i2i_k
            )
        metrics["i2i_items"] = len(pick)

    hist = result.history
    engine = f"DeepSpeed ZeRO-{cfg.train.zero_stage}" + (" + CPU offload" if cfg.train.offload_optimizer else "")
    engine = engine if cfg.train.deepspeed else "DDP"
    tps = [h["tokens_per_s"] for h in hist if "tokens_per_s" in h]
    metrics.update(
        epochs_trained=len(hist),
        fit_s=fit_s,
        train_examples=len(examples),
        train_tokens=enc.tokens(),
        train_tokens_per_s=float(np.mean(tps)) if tps else float("nan"),
        train_padding_share=padding,
        peak_rss_gb=max((h.get("peak_rss_gb", float("nan")) for h in hist), default=float("nan")),
        loss_first=hist[0]["loss"] if hist else float("nan"),
        loss_last=hist[-1]["loss"] if hist else float("nan"),
        eval_on_gpu=int(device == "cuda"),
    )
    users = (
        "all" if cfg.eval.test_users is None else f"a fixed random {cfg.eval.test_users} (seed 0, same for every row)"
    )
    k = cfg.eval.i2i_k
    report_extra += [
        f"item2index exact match: {metrics.get('item2index_acc', float('nan')):.4f} "
        f"(chance {metrics.get('item2index_chance', float('nan')):.4f}).",
        f"item search precision@10: {metrics.get('search_precision@10', float('nan')):.4f} "
        f"(chance {metrics.get('search_chance', float('nan')):.4f}); preference keyword F1: "
        f"{metrics.get('preference_f1', float('nan')):.4f} (always the commonest three: "
        f"{metrics.get('preference_f1_baseline', float('nan')):.4f}).",
        f"item-enrich ({items.enrich_field or 'no text field'}, {len(held_out)} held-out items): BLEU "
        f"{metrics.get('bleu', float('nan')):.2f} vs untuned base {metrics.get('bleu_base', float('nan')):.2f}; "
        f"ROUGE-L {metrics.get('rouge_l', float('nan')):.4f} vs {metrics.get('rouge_l_base', float('nan')):.4f}.",
        f"I2I Recall@{k} against co-interaction neighbours ({metrics.get('i2i_items', 0)} items): learned SID rows "
        f"{metrics.get(f'i2i_recall@{k}', float('nan')):.4f}, title text embeddings "
        f"{metrics.get(f'i2i_text_recall@{k}', float('nan')):.4f}, random vectors "
        f"{metrics.get(f'i2i_random_recall@{k}', float('nan')):.4f}.",
    ]
    report = "\n".join(
        [
            f"LC-Rec on `{cfg.dataset}` (prompts {PROMPT_VERSION}): {n_items} items, {len(split.test)} users; "
            f"semantic IDs {codes.levels} levels, codebooks {list(codes.codebook_sizes)} -> "
            f"{len(sid.new_ids)} new tokens; base `{cfg.model.base}`, {cfg.model.finetune}"
            + (f" (LoRA r={cfg.model.lora_r}, alpha={cfg.model.lora_alpha})" if cfg.model.finetune == "lora" else "")
            + ".",
            f"Training: {len(examples)} examples {task_counts}, {enc.tokens()} tokens; {len(hist)} epochs in "
            f"{fit_s:.0f} s on {cfg.train.num_workers} worker(s) ({engine}, {cfg.train.precision}); loss "
            f"{metrics['loss_first']:.3f} -> {metrics['loss_last']:.3f}; {metrics['train_tokens_per_s']:.0f} tokens/s "
            f"(padding {padding:.1%} of batch tokens).",
            f"Seqrec: trie-constrained beam search, {cfg.eval.beams} beams, do_sample=False and the model's "
            f"generation_config ignored; full ranking over {n_items} items; users: {users}; invalid IDs returned: "
            f"{ranker.stats.invalid}. Recall@10 95% CI [{lo:.4f}, {hi:.4f}]; random Recall@10 "
            f"{metrics['random_recall@10']:.4f}.",
            "",
            metrics_table(
                {
                    "LC-Rec": rows,
                    **(
                        {f"LC-Rec merged ({len(cfg.merge_with) + 1} adapters)": {"test": merged["test"]}}
                        if merged
                        else {}
                    ),
                    "MostPopular": pop,
                }
            ),
            "",
            *report_extra,
            "",
            "Enrich samples (reference -> generated): " + "; ".join(f"{r!r} -> {h!r}" for _, r, h in samples[:3]),
            "",
            "Per-epoch (train loss, valid seqrec loss): "
            + "; ".join(
                f"{i}: {h.get('loss', float('nan')):.3f}, {h.get('valid/loss', float('nan')):.3f}"
                for i, h in enumerate(hist)
            ),
        ]
    )
    return JobResult(
        metrics=metrics,
        report=report,
        artifacts=["model/adapter/adapter_model.safetensors", "model/lcrec_meta.json"],
    )


def tokenizer_from_json_or(text: str | None):
    from rec_core.lcrec.model import tokenizer_from_json

    return tokenizer_from_json(text) if text else None


JOB = Job(
    name="lcrec",
    config=Config,
    run=run,
    resources=codes_job_resources,
    uses={"codes": "semantic_ids/codes.parquet"},
    summary="LC-Rec: LoRA-tuned LLM with semantic-ID tokens, multi-task prompts, constrained beams, Recall/NDCG@K",
    headline=("recall@10", "most_popular/test/recall@10"),
)

if __name__ == "__main__":
    JOB.main()
