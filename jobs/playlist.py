"""Job `playlist`: text (a title or mood) -> an ordered list of movies, generated as semantic IDs by a T5.

build corpus (rec_core.playlist.corpus: MovieLens tag lists + liked-rating sessions, whole texts held out)
-> item embeddings (MiniLM over title + genres, through the shared Ray Data stage data_pipelines.embed; its
   Parquet parts are cached under the data dir) -> semantic IDs (residual k-means, or a given codes table)
-> train PlaylistT5 with Ray Train (jobs.common.train: DDP or DeepSpeed, checkpoints, resume)
-> evaluate on held-out texts beside popularity and MiniLM retrieval -> export model/ for `genrec playlist`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from data_pipelines.embed import EmbedConfig
from jobs.common.config import DatasetName, JobConfig, TrainConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from jobs.common.runtime import peak_request
from rec_core.config import StrictModel
from rec_core.playlist.corpus import CorpusConfig
from rec_core.playlist.model import ModelConfig
from rec_core.semantic_ids.codes import ItemTokens, SemanticCodes


class SidConfig(StrictModel):
    codes_path: Path | None = Field(None, description="codes.parquet from the semantic_ids job (default: build here)")
    levels: int = Field(3, ge=1, description="k-means levels before the collision level")
    codebook_size: int = Field(32, ge=2)


class EvalConfig(StrictModel):
    length: int = Field(10, ge=1, description="items per generated list")
    num_beams: int = Field(10, ge=1)
    temperature: float = Field(1.0, gt=0, description="for the sampled lists")
    batch_texts: int = Field(16, ge=1, description="texts per generate() call")
    valid_texts: int = Field(48, ge=1, description="distinct valid texts decoded (greedy) each epoch")
    max_test_texts: int | None = Field(None, ge=1, description="evaluate only this many distinct test texts")
    latency_lists: int = Field(8, ge=1, description="single-text generations timed for latency")
    fusion_weights: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 10.0, 20.0, 40.0, 80.0],
        description="keyword-fusion weights tried on the valid texts (beam decoding); the best becomes the exported "
        "model's default (rec_core.playlist.fusion; 0 = the T5 alone)",
    )
    ks: list[int] = Field(default_factory=lambda: [5, 10])


class RecipeConfig(StrictModel):
    shuffle_targets: bool = Field(
        True,
        description="train on each list in a fresh random order every epoch "
        "(relevance is membership, not the order of tagging/rating)",
    )
    genre_pairs: bool = Field(
        True,
        description="add (genre-set text -> its most popular training-list movies) "
        "pairs; never for a held-out text (rec_core.playlist.training.genre_pairs)",
    )


class PlaylistEmbedConfig(EmbedConfig):
    """The shared embedding stage, set up as the playlist always encoded its catalogue: the job's item text
    (`text`: title + genres), MiniLM's own 256-token window and no second normalisation (MiniLM's pipeline
    ends in a Normalize module; the retrieval baseline normalises anyway). Defaults here, not in a preset:
    a preset's partial `embed:` replaces the field's default as a whole."""

    text_fields: list[str] = Field(
        default_factory=lambda: ["text"],
        description="item columns joined into the "
        "text; `text` is rec_core.playlist.baselines.item_text (title + genres)",
    )
    max_length: int = Field(256, ge=8, description="token limit per item (and per query of the retrieval baseline)")
    normalize: bool = Field(False, description="L2-normalise on top of the encoder's own output")
    # One part = one encode call over the whole catalogue (ml-latest-small has 9,742 movies), as the in-process
    # encode was: sentence-transformers sorts a call's texts by length into padded batches, so splitting the
    # catalogue over several calls moves vectors (cpu preset, 1,024-item parts: 374 of 5,984 by up to 1.4e-7;
    # no code moved there, but a k-means boundary may). One part: bit-identical to the old vectors.
    part_rows: int = Field(10_000, ge=1, description="items per Parquet part: the unit of resume")


class Config(JobConfig):
    dataset: DatasetName = "ml-latest-small"
    corpus: CorpusConfig = CorpusConfig()
    sids: SidConfig = SidConfig()
    embed: PlaylistEmbedConfig = Field(
        default_factory=PlaylistEmbedConfig,
        description="item embeddings: the shared "
        "Ray Data stage (data_pipelines.embed); its encoder also encodes the "
        "retrieval baseline's queries",
    )
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig(epochs=20, batch_size=64, lr=2e-3)
    eval: EvalConfig = EvalConfig()
    recipe: RecipeConfig = RecipeConfig()
    tokenizer: str = Field("minilm", description="WordPiece tokenizer of the encoder (alias, HF id or path)")


# --------------------------------------------------------------------------- data: corpus, embeddings, codes
@dataclass
class Prepared:
    corpus_stats: dict
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    items: pd.DataFrame  # catalogue: item_id, title, genres, text
    item_emb: np.ndarray
    vocab: ItemTokens
    codes: SemanticCodes


def prepare(cfg: Config, data_dir: Path, mirror: Path | None, out_dir: Path) -> Prepared:
    from data_pipelines.embed import embed_items, embedding_matrix
    from rec_core.playlist.baselines import item_text
    from rec_core.playlist.corpus import build_corpus
    from rec_core.playlist.movielens import load_movielens
    from rec_core.semantic_ids.codes import load_codes
    from rec_core.semantic_ids.rqkmeans import residual_kmeans_codes

    interactions, items, tags = load_movielens(data_dir, mirror)
    corpus = build_corpus(interactions, items, tags, cfg.corpus, seed=cfg.seed)
    if corpus.pairs.empty:
        raise ValueError("the playlist corpus is empty: loosen corpus.min_items / max_users")
    corpus.pairs.to_parquet(Path(out_dir) / "corpus.parquet", index=False)
    catalogue_ids = sorted({i for lst in corpus.pairs["items"] for i in lst})
    cat = items[items["item_id"].isin(catalogue_ids)].sort_values("item_id").reset_index(drop=True)
    cat["text"] = [item_text(r) for r in cat.to_dict("records")]
    # Under the data dir, keyed by a fingerprint of encoder settings + texts: a re-run reuses the parts.
    emb = embedding_matrix(embed_items(cat, cfg.embed, out_dir=Path(data_dir) / "cache" / "playlist-embeddings"))
    if cfg.sids.codes_path:
        codes = load_codes(cfg.sids.codes_path)
        missing = set(catalogue_ids) - set(codes.item_ids.tolist())
        if missing:
            raise ValueError(
                f"{cfg.sids.codes_path}: {len(missing)} corpus items have no semantic ID (e.g. {sorted(missing)[:5]})"
            )
        codes = codes.subset(catalogue_ids)
    else:
        # niter 25: the semantic_ids job's residual k-means default
        codes = residual_kmeans_codes(
            cat["item_id"].to_numpy(), emb, cfg.sids.levels, cfg.sids.codebook_size, seed=cfg.seed, niter=25
        )
    codes.save(Path(out_dir) / "codes")
    return Prepared(
        corpus.stats(),
        corpus.split("train"),
        corpus.split("valid"),
        corpus.split("test"),
        cat,
        emb,
        ItemTokens.compact(codes.item_ids, codes.sids),
        codes,
    )


def training_pairs(cfg: Config, prep: Prepared) -> list[tuple]:
    """The corpus' training pairs, plus genre pairs when the recipe asks (never with a held-out text); each with
    its text's retrieved candidates when the model reads them (`with_candidates`)."""
    from rec_core.playlist.corpus import genre_list
    from rec_core.playlist.training import genre_pairs

    pairs = [(t, list(map(int, i))) for t, i in zip(prep.train["text"], prep.train["items"])]
    if cfg.recipe.genre_pairs and "genres" in prep.items:
        genres = {int(i): genre_list(g) for i, g in zip(prep.items["item_id"], prep.items["genres"])}
        held_out = set(prep.valid["text"]) | set(prep.test["text"])
        pairs += genre_pairs(pairs, genres, held_out, cfg.corpus.max_items, cfg.corpus.min_items)
    # A training text's own lists are left out of its candidates: a held-out text never finds its lists there.
    return with_candidates(cfg, prep, pairs, leave_own_text_out=True)


def with_candidates(cfg: Config, prep: Prepared, pairs: list[tuple], leave_own_text_out: bool) -> list[tuple]:
    """(text, items) -> (text, items, candidates) when `model.candidates` > 0: keyword popularity over the
    training lists, the retriever the exported model carries (rec_core.playlist.generator.CANDIDATES_FILE)."""
    from rec_core.playlist.baselines import WordPopularity

    k = cfg.model.candidates
    if not k:
        return pairs
    wp = WordPopularity(prep.train["text"], prep.train["items"])
    texts = sorted({t for t, *_ in pairs})
    cands = dict(zip(texts, wp.lists(texts, k, leave_own_text_out=leave_own_text_out)))
    return [(t, items, cands[t]) for t, items, *_ in pairs]


def valid_subset(valid: pd.DataFrame, n_texts: int, seed: int) -> list[tuple[str, list[int]]]:
    texts = sorted(valid["text"].unique())
    rng = np.random.default_rng(seed)
    keep = set(rng.choice(texts, size=min(n_texts, len(texts)), replace=False)) if texts else set()
    return [(t, list(map(int, i))) for t, i in zip(valid["text"], valid["items"]) if t in keep]


# ----------------------------------------------------------------------------------------- worker side
def train_loop(loop_cfg: dict) -> None:
    import torch

    from jobs.common.train import WorkerSession, train_config_from_loop
    from rec_core.playlist.generator import load_tokenizer
    from rec_core.playlist.model import PairCollator, build_model
    from rec_core.playlist.training import ShuffledTargets, valid_metrics
    from rec_core.semantic_ids.codes import ItemTokens

    tcfg = train_config_from_loop(loop_cfg)
    mcfg = ModelConfig.model_validate(loop_cfg["model"])
    torch.manual_seed(loop_cfg["seed"])
    vocab = ItemTokens.compact(loop_cfg["codes_items"], loop_cfg["codes_sids"])
    tok = load_tokenizer(loop_cfg["tokenizer"])
    model = build_model(mcfg, tok, vocab)
    sess = WorkerSession(tcfg, model, lambda p: torch.optim.AdamW(p, lr=tcfg.lr, weight_decay=tcfg.weight_decay))
    collate = PairCollator(tok, vocab, mcfg.max_text_tokens, candidates=mcfg.candidates)
    train_rows = [(t, list(i), *rest) for t, i, *rest in loop_cfg["train_pairs"]]
    # The rank and the start epoch enter the seed so workers differ and a resumed run does not replay epoch 0's orders.
    train_collate = (
        ShuffledTargets(collate, seed=loop_cfg["seed"] + 1000 * sess.rank + sess.start_epoch)
        if loop_cfg["shuffle_targets"]
        else collate
    )
    loader = sess.prepare_loader(
        torch.utils.data.DataLoader(train_rows, batch_size=tcfg.batch_size, shuffle=True, collate_fn=train_collate)
    )
    if sess.start_epoch >= tcfg.epochs and sess.history:
        # Resumed a finished run (e.g. to re-evaluate): hand the restored model back as this run's checkpoint.
        last = {k: v for k, v in sess.history.pop().items() if k != "epoch"}
        sess.report(last, tcfg.epochs - 1, force_checkpoint=True)
        return
    for epoch in range(sess.start_epoch, tcfg.epochs):
        if hasattr(loader, "sampler") and hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        sess.train_mode(True)
        total, n = 0.0, 0
        for batch in loader:
            with sess.autocast():
                loss = sess.model(batch["input_ids"], batch["attention_mask"], batch["labels"], batch.get("cand_ids"))
            sess.step(loss)
            total, n = total + float(loss.detach()), n + 1
        sess.train_mode(False)
        metrics = {"loss": total / max(n, 1)}
        metrics.update(valid_metrics(sess.module, collate, vocab, loop_cfg["valid_pairs"], loop_cfg["length"]))
        if sess.report(metrics, epoch):  # train.time_limit_s ran out
            break


# ----------------------------------------------------------------------------------------- evaluation + export
@dataclass
class EvalResult:
    metrics: dict
    report: str


def evaluate_and_export(
    cfg: Config,
    prep: Prepared,
    state: dict,
    out_dir: Path,
    history: list[dict],
    train_s: float,
    genre_pairs_used: int = 0,
) -> EvalResult:
    from rec_core.encoders import SentenceEncoder
    from rec_core.playlist.baselines import TextRetrieval, WordPopularity, popularity_list
    from rec_core.playlist.generator import META_FILE, Playlister, export_model, load_tokenizer
    from rec_core.playlist.metrics import metrics_by_source
    from rec_core.playlist.model import build_model

    out_dir = Path(out_dir)
    tok = load_tokenizer(cfg.tokenizer)
    model = build_model(cfg.model, tok, prep.vocab)
    model.load_state_dict(state)
    meta = {
        "model": cfg.model.model_dump(),
        "text_vocab_size": len(tok),
        "sid_vocab_size": prep.vocab.size,
        "tokenizer": cfg.tokenizer,
        "max_items": cfg.corpus.max_items,
        "default_length": cfg.eval.length,
        "text_embed_shape": list(model.text_embed.weight.shape),
    }
    export_dir = export_model(
        out_dir / "model",
        model.state_dict(),
        meta,
        prep.codes,
        prep.items,
        candidate_lists=prep.train,  # keyword popularity: the candidates and the fusion prior
    )
    pl = Playlister.load(export_dir)
    fusion_valid = choose_keyword_fusion(cfg, pl, prep.valid)
    pl.keyword_fusion = meta["keyword_fusion"] = max(fusion_valid, key=lambda w: (fusion_valid[w], -w))
    (export_dir / META_FILE).write_text(json.dumps(meta, indent=2))  # `genrec playlist` decodes with it
    test = prep.test
    texts = sorted(test["text"].unique())
    if cfg.eval.max_test_texts:
        texts = texts[: cfg.eval.max_test_texts]
        test = test[test["text"].isin(set(texts))].reset_index(drop=True)
    ks, L = tuple(cfg.eval.ks), cfg.eval.length

    rows: dict[str, dict] = {}
    lat: dict[str, float] = {}
    preds_beam, bad_beam, lat["t5_beam_batched_s"] = generate_all(cfg, pl, texts, "beam", 0.0)
    rows[f"T5 beam ({cfg.eval.num_beams})"] = metrics_by_source(preds_beam, test, ks)
    preds_fused, bad_fused, lat["t5_fusion_batched_s"] = generate_all(cfg, pl, texts, "beam", pl.keyword_fusion)
    rows[f"T5 beam + keyword fusion (weight {pl.keyword_fusion:g})"] = metrics_by_source(preds_fused, test, ks)
    preds_sample, bad_sample, lat["t5_sample_batched_s"] = generate_all(cfg, pl, texts, "sample", 0.0)
    rows[f"T5 sample (T={cfg.eval.temperature:g})"] = metrics_by_source(preds_sample, test, ks)
    # Queries go through the encoder class the embedding actors hold, with the catalogue's settings.
    encode = SentenceEncoder(
        cfg.embed.encoder,
        device="cpu",
        batch_size=cfg.embed.batch_size,
        max_length=cfg.embed.max_length,
        normalize=cfg.embed.normalize,
    )
    retr = TextRetrieval(encode, prep.items["item_id"].tolist(), prep.item_emb)
    t0 = time.perf_counter()
    retr_lists = dict(zip(texts, retr.lists(texts, L)))
    lat["retrieval_batched_s"] = (time.perf_counter() - t0) / max(len(texts), 1)
    rows["MiniLM retrieval"] = metrics_by_source(retr_lists, test, ks)
    pop = popularity_list(prep.train["items"], L)
    rows["Popularity"] = metrics_by_source({t: pop for t in texts}, test, ks)
    wp = WordPopularity(prep.train["text"], prep.train["items"])
    rows["Keyword popularity"] = metrics_by_source(dict(zip(texts, wp.lists(texts, L))), test, ks)
    # What one CLI user waits for: one text per generate() call (beam with the exported fusion weight).
    for name, mode, fusion in (("beam", "beam", 0.0), ("fusion", "beam", pl.keyword_fusion), ("sample", "sample", 0.0)):
        times = [
            pl.generate(
                [t],
                length=L,
                mode=mode,
                num_beams=cfg.eval.num_beams,
                temperature=cfg.eval.temperature,
                seed=0,
                keyword_fusion=fusion,
            )[0].seconds
            for t in texts[: cfg.eval.latency_lists]
        ]
        lat[f"t5_{name}_single_s"] = float(np.median(times))
    # Validity of every generated list (the constraint's promise), counted rather than assumed.
    all_lists = list(preds_beam.values()) + list(preds_fused.values()) + list(preds_sample.values())
    catalogue = set(prep.vocab.item_ids)
    validity = {
        "invalid_sid_chunks": bad_beam + bad_fused + bad_sample,
        "lists_with_repeats": sum(len(set(x)) != len(x) for x in all_lists),
        "lists_wrong_length": sum(len(x) != L for x in all_lists),
        "items_outside_catalogue": sum(i not in catalogue for x in all_lists for i in x),
    }
    key = {  # first match wins: the fusion row before the plain beam row it starts like
        "T5 beam + keyword fusion": "t5_fusion",
        "T5 beam": "t5_beam",
        "T5 sample": "t5_sample",
        "MiniLM retrieval": "retrieval",
        "Popularity": "popularity",
        "Keyword popularity": "keyword_popularity",
    }
    metrics: dict = {
        "test": {},
        "latency": lat,
        "validity": validity,
        "corpus": prep.corpus_stats,
        "train": {
            "seconds": train_s,
            "genre_pairs": genre_pairs_used,
            "final_loss": history[-1]["loss"] if history else float("nan"),
            "first_loss": history[0]["loss"] if history else float("nan"),
        },
        "catalogue_items": len(catalogue),
        "test_texts": len(texts),
        "test_pairs": len(test),
        "keyword_fusion": {"weight": pl.keyword_fusion, **{f"valid_ndcg@10/{w:g}": v for w, v in fusion_valid.items()}},
        # last epoch's greedy decode of the valid texts (the Tune metric)
        "valid": {k.split("/", 1)[1]: v for k, v in (history[-1] if history else {}).items() if k.startswith("valid/")},
    }
    for name, by_src in rows.items():
        short = next(v for k, v in key.items() if name.startswith(k))
        for src, m in by_src.items():
            for mk, mv in m.items():
                metrics["test"][f"{short}/{src}/{mk}" if src != "all" else f"{short}/{mk}"] = mv
    examples = {t: preds_beam[t] for t in texts[:3]}
    report = render_report(
        cfg, prep, rows, lat, validity, history, train_s, examples, pl, len(texts), len(test), genre_pairs_used
    )
    report += "\n\n" + render_fusion(fusion_valid, pl.keyword_fusion, prep.valid)
    (out_dir / "examples.json").write_text(
        json.dumps({t: [pl.titles[i] for i in v] for t, v in examples.items()}, indent=1)
    )
    return EvalResult(metrics, report)


def generate_all(cfg: Config, pl, texts: list[str], mode: str, fusion: float) -> tuple[dict, int, float]:
    """Lists for all texts in batches of eval.batch_texts -> (text -> items, invalid chunks, seconds per text)."""
    from tqdm.auto import tqdm

    preds, invalid, t0 = {}, 0, time.perf_counter()
    desc = f"playlist eval ({mode}{f', fusion {fusion:g}' if fusion else ''})"
    for s in tqdm(range(0, len(texts), cfg.eval.batch_texts), desc=desc, unit="batch", disable=None):
        for r in pl.generate(
            texts[s : s + cfg.eval.batch_texts],
            length=cfg.eval.length,
            mode=mode,
            num_beams=cfg.eval.num_beams,
            temperature=cfg.eval.temperature,
            seed=cfg.seed + s,
            keyword_fusion=fusion,
        ):
            preds[r.text] = r.items
            invalid += r.invalid
    return preds, invalid, (time.perf_counter() - t0) / max(len(texts), 1)


def choose_keyword_fusion(cfg: Config, pl, valid: pd.DataFrame) -> dict[float, float]:
    """Beam NDCG@10 on every valid text for each eval.fusion_weights entry (the test texts are never looked at)."""
    from rec_core.playlist.metrics import metrics_by_source

    texts = sorted(valid["text"].unique())
    if not texts or pl.retriever is None:
        return {0.0: float("nan")}
    return {
        float(w): metrics_by_source(generate_all(cfg, pl, texts, "beam", w)[0], valid, (10,))["all"]["ndcg@10"]
        for w in cfg.eval.fusion_weights
    }


# ----------------------------------------------------------------------------------------- report
def render_fusion(fusion_valid: dict[float, float], chosen: float, valid: pd.DataFrame) -> str:
    lines = [
        "## Keyword fusion (rec_core/playlist/fusion.py)",
        "",
        f"Beam NDCG@10 on the {valid['text'].nunique()} valid texts ({len(valid)} pairs) for each weight; the best "
        f"({chosen:g}) is the exported model's default and the test row 'T5 beam + keyword fusion'.",
        "",
        "| weight | valid NDCG@10 |",
        "|---:|---:|",
    ]
    return "\n".join(lines + [f"| {w:g} | {v:.4f} |" for w, v in fusion_valid.items()])


def render_report(
    cfg: Config,
    prep: Prepared,
    rows,
    lat,
    validity,
    history,
    train_s,
    examples,
    pl,
    n_texts,
    n_pairs,
    genre_pairs_used=0,
) -> str:
    from rec_core.playlist import corpus as corpus_mod

    s = prep.corpus_stats
    lines = [
        "## Corpus (ml-latest-small)",
        "",
        corpus_mod.__doc__.strip(),
        "",
        f"Settings: {json.dumps(cfg.corpus.model_dump())}",
        "",
        "| source | split | pairs | distinct texts |",
        "|---|---|---:|---:|",
    ]
    for src in ("tag", "session"):
        for split in ("train", "valid", "test"):
            if f"{src}/{split}/pairs" in s:
                lines.append(f"| {src} | {split} | {s[f'{src}/{split}/pairs']} | {s[f'{src}/{split}/texts']} |")
    sid_source = (
        f"codes table {cfg.sids.codes_path}"
        if cfg.sids.codes_path
        else f"residual k-means over {cfg.embed.encoder} embeddings of title + genres, {cfg.sids.levels} levels x "
        f"{cfg.sids.codebook_size} codes + a collision level"
    )
    lines += [
        "",
        f"Total pairs {s['pairs']}, distinct texts {s['texts']}, mean list length {s['mean_list_len']:.2f}, "
        f"catalogue {s['distinct_items']} movies. Dropped: "
        + ", ".join(f"{k[8:]}={v}" for k, v in s.items() if k.startswith("dropped/")),
        "",
        f"Semantic IDs: {sid_source} (code sizes per level {list(prep.vocab.vocab.codebook_sizes)}).",
        "",
        f"## Held-out texts ({n_texts} texts, {n_pairs} pairs; generated lists of {cfg.eval.length})",
        "",
        "Recall@K = |G[:K] ∩ T| / |T|; NDCG@K = DCG@K / IDCG@K with binary gains and IDCG over min(K, |T|) "
        "relevant items (see rec_core/playlist/metrics.py). Averaged over pairs; a text with several true lists "
        "counts once per list.",
        "",
    ]
    ks = cfg.eval.ks
    head = "| method | subset | " + " | ".join(f"Recall@{k} | NDCG@{k}" for k in ks) + " |"
    lines += [head, "|---|---|" + "---:|---:|" * len(ks)]
    for name, by_src in rows.items():
        for src, m in by_src.items():
            lines.append(
                f"| {name} | {src} | " + " | ".join(f"{m[f'recall@{k}']:.4f} | {m[f'ndcg@{k}']:.4f}" for k in ks) + " |"
            )
    lines += [
        "",
        "## Generation latency per list (CPU, shared machine)",
        "",
        "| what | seconds per list |",
        "|---|---:|",
    ] + [f"| {k} | {v:.4f} |" for k, v in lat.items()]
    lines += [
        "",
        f"Validity of all generated lists: {json.dumps(validity)}",
        "",
        f"## Training ({train_s:.1f} s, Ray Train, {cfg.train.num_workers} worker(s), deepspeed={cfg.train.deepspeed})",
        "",
        f"Recipe: {len(prep.train)} corpus pairs + {genre_pairs_used} genre pairs; "
        f"targets shuffled every epoch: {cfg.recipe.shuffle_targets} (see rec_core/playlist/training.py); "
        f"retrieved candidates in the encoder input: {cfg.model.candidates} (keyword popularity over the "
        "training lists, a training text's own lists left out).",
        "",
        "| epoch | loss | valid recall@10 | valid ndcg@10 |",
        "|---:|---:|---:|---:|",
    ]
    for h in history:
        lines.append(
            f"| {h['epoch']} | {h['loss']:.4f} | {h.get('valid/recall@10', float('nan')):.4f} "
            f"| {h.get('valid/ndcg@10', float('nan')):.4f} |"
        )
    lines += ["", "## Examples (beam)", ""]
    for t, items in examples.items():
        lines.append(f"- **{t}**: " + "; ".join(pl.titles.get(i, str(i)) for i in items))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- driver side
def resources(cfg: Config) -> dict[str, float]:
    # The embedding stage runs (or finds its cached parts) before training starts: the peak of the two.
    return peak_request(cfg.embed.resources(), cfg.train.resources())


def run(cfg: Config, ctx: RunContext) -> JobResult:
    from jobs.common.train import fit_torch, load_model_state

    if cfg.dataset != "ml-latest-small":
        raise UserFacingError(
            f"dataset: the playlist corpus is built from ml-latest-small tags and ratings, got {cfg.dataset!r}"
        )
    if cfg.eval.length > cfg.corpus.max_items * 3:
        raise UserFacingError(
            f"eval.length={cfg.eval.length} is far beyond the longest training list ({cfg.corpus.max_items})"
        )
    prep = prepare(cfg, ctx.data_dir, ctx.mirror, ctx.out_dir)
    train_pairs = training_pairs(cfg, prep)
    loop_cfg = {
        "seed": cfg.seed,
        "model": cfg.model.model_dump(),
        "tokenizer": cfg.tokenizer,
        "length": cfg.eval.length,
        "codes_items": prep.vocab.item_ids,
        "codes_sids": [list(s) for s in prep.vocab.sids],
        "train_pairs": train_pairs,
        "shuffle_targets": cfg.recipe.shuffle_targets,
        "valid_pairs": with_candidates(
            cfg, prep, valid_subset(prep.valid, cfg.eval.valid_texts, cfg.seed), leave_own_text_out=False
        ),
    }
    fit = fit_torch(
        train_loop,
        loop_cfg,
        cfg.train,
        run_dir=ctx.out_dir / "train",
        name="playlist",
        score_metric=None,
        callbacks=ctx.callbacks,
    )
    train_s = fit.fit_s
    # Per-epoch reports already reach Tune through the trainer's callback (jobs.common.train); nothing to re-send.
    state = load_model_state(fit.model_checkpoint())
    result = evaluate_and_export(
        cfg, prep, state, ctx.out_dir, fit.history, train_s, genre_pairs_used=len(train_pairs) - len(prep.train)
    )
    return JobResult(
        metrics=result.metrics, report=result.report, artifacts=["model/", "corpus.parquet", "codes/codes.parquet"]
    )


JOB = Job(
    name="playlist",
    config=Config,
    run=run,
    summary="text (title or mood) -> movie list generated as semantic IDs by a T5 (ml-latest-small)",
    resources=resources,
    in_demo=False,
    demo_order=60,
)

if __name__ == "__main__":
    JOB.main()
