"""What the sequential-recommendation workflows share (tiger, sasrec, evaluate, and their benchmarks): the
dataset and its leave-one-out split, the item codes TIGER decodes, MostPopular on the same users, and the
metrics table every report prints.

Sequential protocol (TIGER / LC-Rec): per user, sorted by time; last item = test, second last = validation,
the rest = training; history truncated to `max_history`; full ranking over all items (rec_core.evaluation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jobs.common.job import RunContext, UserFacingError
from rec_core.config import StrictModel
from rec_core.semantic_ids.codes import CodesError, SemanticCodes, load_codes, released_codes

# Item columns whose text is embedded for k-means codes (absent ones are skipped).
TEXT_FIELDS = ["title", "brand", "categories", "genres", "description", "overview"]


class SyntheticConfig(StrictModel):
    """The learnable chain dataset smoke runs use (`dataset=synthetic`)."""

    num_users: int = 300
    num_items: int = 60
    seq_len: int = 8
    noise: float = 0.05


def load_sequential(
    dataset: str, ctx: RunContext, max_history: int = 20, synthetic: SyntheticConfig | None = None, seed: int = 0
):
    """-> (split, item_features | None). Item features exist only for the synthetic dataset."""
    if dataset == "synthetic":
        from rec_core.generative.synthetic import chain_dataset

        s = synthetic or SyntheticConfig()
        return chain_dataset(s.num_users, s.num_items, s.seq_len, s.noise, max_history, seed)
    from rec_core.data import load_dataset
    from rec_core.data.errors import DataError
    from rec_core.data.splits import sequential_split

    try:
        ds = load_dataset(dataset, data_dir=ctx.data_dir, mirror=ctx.mirror)
    except (DataError, KeyError) as e:
        raise UserFacingError(f"dataset {dataset!r}: {e}") from None
    return sequential_split(ds.interactions, max_history=max_history), None


# ---------------------------------------------------------------------------------------------
# Item codes for a generative model


def dataset_released_codes(dataset: str, ctx: RunContext) -> SemanticCodes:
    """The dataset's released SIDs (LC-Rec Instruments, MiniOneRec Industrial), with TIGER's collision level
    appended only when some items share an ID."""
    from rec_core.data import released_sids

    df = released_sids(dataset, data_dir=ctx.data_dir, mirror=ctx.mirror)
    codes, shared = released_codes(df["item_id"].to_numpy(), np.stack(df["sid"].map(np.asarray).to_list()))
    if shared:
        print(
            f"{dataset}: {shared} items share a released semantic ID with another item; appended TIGER's "
            f"collision level ({codes.levels} levels)"
        )
    return codes


def kmeans_codes(
    dataset: str,
    item_ids: np.ndarray,
    ctx: RunContext,
    out_dir: Path,
    levels: int = 3,
    codebook_size: int = 256,
    seed: int = 0,
    embed=None,
) -> SemanticCodes:
    """Item text -> sentence embeddings (the shared Ray Data stage, data_pipelines.embed) -> residual k-means +
    collision level, cached as a codes table in `out_dir`. A quick stand-in for a `semantic_ids` run; an item
    without any text still gets a code (its id is embedded)."""
    if (Path(out_dir) / "codes.parquet").exists():
        return load_codes(out_dir)
    from data_pipelines.embed import EmbedConfig, embed_items, embedding_matrix
    from rec_core.data import load_dataset
    from rec_core.semantic_ids.rqkmeans import residual_kmeans_codes

    items = load_dataset(dataset, data_dir=ctx.data_dir, mirror=ctx.mirror).items
    items = items.set_index("item_id").reindex(np.asarray(item_ids)).reset_index()
    fields = [f for f in TEXT_FIELDS if f in items.columns]
    empty = items[fields].isna().all(axis=1) if fields else np.ones(len(items), bool)
    if "title" not in items.columns:
        items["title"] = None
    items.loc[empty, "title"] = "item " + items.loc[empty, "item_id"].astype(str)
    # Items without text carry "item <id>" in `title`, so title is always among the embedded fields.
    text_fields = fields if "title" in fields else ["title", *fields]
    cfg = (embed or EmbedConfig()).model_copy(update={"text_fields": text_fields})
    emb = embed_items(items, cfg, out_dir=Path(out_dir) / "embeddings")
    x = embedding_matrix(emb)
    codes = residual_kmeans_codes(emb["item_id"].to_numpy(), x, levels, codebook_size, seed=seed)
    codes.save(out_dir)
    (Path(out_dir) / "SOURCE.txt").write_text(
        f"{cfg.encoder} embeddings of {fields}; {int(np.sum(empty))} items without text used their id\n"
    )
    return codes


def resolve_item_codes(cfg, ctx: RunContext, split, features) -> SemanticCodes:
    """The codes a generative model (TIGER, LC-Rec) decodes: a given codes table (`cfg.codes`), else the synthetic
    data's k-means codes, the dataset's released SIDs (`cfg.codes_source="released"`) or k-means codes of the item
    text made here (`cfg.kmeans_levels` × `cfg.kmeans_codebook`, embedded by `cfg.embed`). `cfg` is the job's
    config; a CodesError becomes a UserFacingError naming what is wrong."""
    from rec_core.semantic_ids.rqkmeans import residual_kmeans_codes

    try:
        if cfg.codes is not None:
            return load_codes(cfg.codes)
        if cfg.dataset == "synthetic":
            return residual_kmeans_codes(split.item_ids, features, levels=2, codebook_size=8, seed=cfg.seed)
        if cfg.codes_source == "released":
            return dataset_released_codes(cfg.dataset, ctx)
        return kmeans_codes(
            cfg.dataset,
            split.item_ids,
            ctx,
            ctx.out_dir / "codes",
            cfg.kmeans_levels,
            cfg.kmeans_codebook,
            seed=cfg.seed,
            embed=cfg.embed,
        )
    except CodesError as e:
        raise UserFacingError(str(e)) from None


def codes_job_resources(cfg) -> dict:
    """Peak request of a job that may first embed item text for its k-means codes (Ray Data actors), then train."""
    from jobs.common.runtime import peak_request

    makes_codes = cfg.codes is None and cfg.codes_source == "kmeans" and cfg.dataset != "synthetic"
    return peak_request(cfg.embed.resources(), cfg.train.resources()) if makes_codes else cfg.train.resources()


def aligned_codes(codes: SemanticCodes, item_ids: np.ndarray, dataset: str) -> np.ndarray:
    """Codes in the model's item index order, or a clear error naming what is missing."""
    try:
        return codes.aligned(item_ids)
    except CodesError as e:
        raise UserFacingError(f"codes do not cover dataset {dataset!r}: {e}") from None


# ---------------------------------------------------------------------------------------------
# Baseline and report


def most_popular_metrics(split, ev) -> dict[str, dict]:
    """MostPopular on the same users as the model. `ev`: any config with `exclude_history` (the masking policy is
    the same for every model) and `test_users` or `max_users` (the same fixed random subset)."""
    from rec_core.baselines import MostPopular
    from rec_core.evaluation import ScoreRanker, evaluate_splits

    pop = MostPopular(len(split.item_ids)).fit(split.train)
    return evaluate_splits(
        ScoreRanker(pop.scores),
        split.valid,
        split.test,
        exclude_history=ev.exclude_history,
        max_users=getattr(ev, "test_users", None) or getattr(ev, "max_users", None),
        seed=0,
    )


def metrics_table(rows: dict[str, dict]) -> str:
    """{model: {split: metrics}} -> a Markdown table of Recall/NDCG@5/10."""
    lines = ["| model | split | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 |", "|---|---|---:|---:|---:|---:|"]
    for name, by_split in rows.items():
        for split, m in by_split.items():
            lines.append(
                f"| {name} | {split} | {m['recall@5']:.4f} | {m['ndcg@5']:.4f} | {m['recall@10']:.4f} "
                f"| {m['ndcg@10']:.4f} |"
            )
    return "\n".join(lines)
