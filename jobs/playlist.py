"""Job `playlist`: text (a title or mood) -> an ordered list of movies, generated as semantic IDs by a T5.

build corpus (rec_core.playlist.corpus: MovieLens tag lists + liked-rating sessions, whole texts held out)
-> item embeddings (MiniLM over title + genres) -> semantic IDs (residual k-means, or a given codes table)
-> train PlaylistT5 with Ray Train (jobs.common.train: DDP or DeepSpeed, checkpoints, resume)
-> evaluate on held-out texts beside popularity and MiniLM retrieval -> export model/ for `genrec playlist`.
"""
from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field

from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from jobs.common.config import DatasetName, JobConfig, TrainConfig
from rec_core.config import StrictModel
from rec_core.playlist.corpus import CorpusConfig
from rec_core.playlist.model import ModelConfig


class SidConfig(StrictModel):
    codes_path: Path | None = Field(None, description="codes.parquet from the semantic_ids job (default: build here)")
    encoder: str = Field("minilm", description="sentence encoder for item texts (alias, HF id or path)")
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
    ks: list[int] = Field(default_factory=lambda: [5, 10])


class RecipeConfig(StrictModel):
    shuffle_targets: bool = Field(True, description="train on each list in a fresh random order every epoch "
                                  "(relevance is membership, not the order of tagging/rating)")
    genre_pairs: bool = Field(True, description="add (genre-set text -> its most popular training-list movies) "
                              "pairs; never for a held-out text (rec_core.playlist.training.genre_pairs)")


class Config(JobConfig):
    dataset: DatasetName = "ml-latest-small"
    corpus: CorpusConfig = CorpusConfig()
    sids: SidConfig = SidConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig(epochs=20, batch_size=64, lr=2e-3)
    eval: EvalConfig = EvalConfig()
    recipe: RecipeConfig = RecipeConfig()
    tokenizer: str = Field("minilm", description="WordPiece tokenizer of the encoder (alias, HF id or path)")


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
    collate = PairCollator(tok, vocab, mcfg.max_text_tokens)
    train_rows = [(t, list(i)) for t, i in loop_cfg["train_pairs"]]
    # The rank and the start epoch enter the seed so workers differ and a resumed run does not replay epoch 0's orders.
    train_collate = (ShuffledTargets(collate, seed=loop_cfg["seed"] + 1000 * sess.rank + sess.start_epoch)
                     if loop_cfg["shuffle_targets"] else collate)
    loader = sess.prepare_loader(torch.utils.data.DataLoader(train_rows, batch_size=tcfg.batch_size, shuffle=True,
                                                             collate_fn=train_collate))
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
                loss = sess.model(batch["input_ids"], batch["attention_mask"], batch["labels"])
            sess.step(loss)
            total, n = total + float(loss.detach()), n + 1
        sess.train_mode(False)
        metrics = {"loss": total / max(n, 1)}
        metrics.update(valid_metrics(sess.module, collate, vocab, loop_cfg["valid_pairs"], loop_cfg["length"]))
        if sess.report(metrics, epoch):  # train.time_limit_s ran out
            break


# ----------------------------------------------------------------------------------------- driver side
def resources(cfg: Config) -> dict[str, float]:
    return {"CPU": cfg.train.num_workers * cfg.train.cpus_per_worker, **({"GPU": float(cfg.train.num_workers)} if cfg.train.use_gpu else {})}


def run(cfg: Config, ctx: RunContext) -> JobResult:
    from jobs.common.train import fit_torch, load_model_state
    from rec_core.playlist import pipeline

    if cfg.dataset != "ml-latest-small":
        raise UserFacingError(f"dataset: the playlist corpus is built from ml-latest-small tags and ratings, got {cfg.dataset!r}")
    if cfg.eval.length > cfg.corpus.max_items * 3:
        raise UserFacingError(f"eval.length={cfg.eval.length} is far beyond the longest training list ({cfg.corpus.max_items})")
    prep = pipeline.prepare(cfg, ctx.data_dir, ctx.mirror, ctx.out_dir)
    train_pairs = pipeline.training_pairs(cfg, prep)
    loop_cfg = {
        "seed": cfg.seed, "model": cfg.model.model_dump(), "tokenizer": cfg.tokenizer, "length": cfg.eval.length,
        "codes_items": prep.vocab.item_ids, "codes_sids": [list(s) for s in prep.vocab.sids],
        "train_pairs": train_pairs, "shuffle_targets": cfg.recipe.shuffle_targets,
        "valid_pairs": pipeline.valid_subset(prep.valid, cfg.eval.valid_texts, cfg.seed),
    }
    t0 = time.perf_counter()
    fit = fit_torch(train_loop, loop_cfg, cfg.train, run_dir=ctx.out_dir / "train", name="playlist",
                    score_metric=None, callbacks=ctx.callbacks)
    train_s = time.perf_counter() - t0
    # Per-epoch reports already reach Tune through the trainer's callback (jobs.common.train); nothing to re-send.
    if fit.checkpoint_dir is None:
        raise UserFacingError("training produced no checkpoint")
    state = load_model_state(fit.checkpoint_dir)
    result = pipeline.evaluate_and_export(cfg, prep, state, ctx.out_dir, fit.history, train_s,
                                          genre_pairs_used=len(train_pairs) - len(prep.train))
    return JobResult(metrics=result.metrics, report=result.report, artifacts=["model/", "corpus.parquet", "codes/codes.parquet"])


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
