"""Job `rag_sentiment`: fine-tune MiniLM + a classification head (full or LoRA) on the UCI review
sentences with Ray Train (TorchTrainer, DDP), beside logistic regression on the frozen encoder.

Data: UCI "Sentiment Labelled Sentences" (IMDb, Amazon, Yelp; 3,000 sentences), stratified
train/valid/test. The model with the best validation accuracy is evaluated once on test and saved
(LoRA merged) to <run>/model, which `genrec rag chat --sentiment-model <run>/model` uses.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from jobs.common.config import JobConfig, TrainConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from rec_core.rag import catalogue as cat
from rec_core.rag.sentiment import SentimentModelConfig

METRIC = "valid/accuracy"


class Config(JobConfig):
    model: SentimentModelConfig = Field(default_factory=SentimentModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=3, batch_size=32, lr=5e-5, weight_decay=0.01))
    sentences_file: Path | None = Field(
        None, description="your own `sentence<TAB>label(0/1)` file instead of UCI sentiment"
    )
    max_sentences: int | None = Field(None, ge=20, description="subsample the 3,000 sentences (smoke runs)")
    valid_frac: float = Field(0.1, gt=0, lt=0.5)
    test_frac: float = Field(0.2, gt=0, lt=0.5)
    baseline: bool = Field(True, description="logistic regression on frozen mean-pooled encoder embeddings")
    ensemble: int = Field(
        1,
        ge=1,
        le=8,
        description="train this many models (training seeds seed, seed+1, ...; one split, from seed) and average "
        "their probabilities; each member costs one more training",
    )


def _batches(texts, labels, tokenizer, max_length, batch_size, shuffle, seed):
    from torch.utils.data import DataLoader

    data = list(zip(texts, labels))

    def collate(rows):
        enc = tokenizer([r[0] for r in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"], torch.tensor([r[1] for r in rows], dtype=torch.long)

    g = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=g)


def _evaluate(model, loader, device) -> dict:
    from rec_core.rag.sentiment import classification_metrics

    model.eval()
    probs, ys = [], []
    with torch.no_grad():
        for ids, mask, y in loader:
            logits = model(ids.to(device), mask.to(device))
            probs.append(torch.softmax(logits.float(), -1)[:, 1].cpu().numpy())
            ys.append(y.numpy())
    model.train()
    return classification_metrics(np.concatenate(ys), np.concatenate(probs))


def train_loop(loop_cfg: dict) -> None:
    """Runs on every Ray Train worker."""
    from jobs.common.train import WorkerSession, train_config_from_loop
    from rec_core.rag.sentiment import build_sentiment_model, load_tokenizer

    tcfg = train_config_from_loop(loop_cfg)
    mcfg = SentimentModelConfig(**loop_cfg["model"])
    torch.manual_seed(loop_cfg["seed"])
    tok = load_tokenizer(mcfg)
    model = build_sentiment_model(mcfg, tok)
    sess = WorkerSession(
        tcfg,
        model,
        lambda params: torch.optim.AdamW(
            [p for p in params if p.requires_grad], lr=tcfg.lr, weight_decay=tcfg.weight_decay
        ),
    )
    train_loader = sess.prepare_loader(
        _batches(
            loop_cfg["train_texts"],
            loop_cfg["train_labels"],
            tok,
            mcfg.max_length,
            tcfg.batch_size,
            True,
            loop_cfg["seed"],
        )
    )
    valid_loader = _batches(loop_cfg["valid_texts"], loop_cfg["valid_labels"], tok, mcfg.max_length, 128, False, 0)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(sess.start_epoch, tcfg.epochs):
        if hasattr(train_loader, "sampler") and hasattr(train_loader.sampler, "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        sess.train_mode(True)
        total, n = 0.0, 0
        for ids, mask, y in train_loader:
            ids, mask, y = ids.to(sess.device), mask.to(sess.device), y.to(sess.device)
            with sess.autocast():
                loss = loss_fn(sess.model(ids, mask).float(), y)
            sess.step(loss)
            total += float(loss.detach()) * len(y)
            n += len(y)
        valid = _evaluate(sess.module, valid_loader, sess.device)
        if sess.report(
            {"loss": total / max(n, 1), "valid/accuracy": valid["accuracy"], "valid/f1": valid["f1"]}, epoch
        ):
            break  # train.time_limit_s ran out


def frozen_embeddings(mcfg: SentimentModelConfig, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Mean-pooled output of the untrained encoder (for MiniLM: its sentence-transformers embedding)."""
    from rec_core.rag.sentiment import _build_encoder, load_tokenizer, mean_pool, tokenize

    tok = load_tokenizer(mcfg)
    enc = _build_encoder(mcfg.model_copy(update={"lora_rank": 0}), tok).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            b = tokenize(tok, texts[i : i + batch_size], mcfg.max_length)
            out.append(mean_pool(enc(**b).last_hidden_state, b["attention_mask"]).numpy())
    return np.concatenate(out)


def read_sentences_file(path: Path) -> pd.DataFrame:
    """`sentence<TAB>label` lines (label 0 or 1); bad lines are an error naming the line."""
    path = Path(path)
    if not path.exists():
        raise UserFacingError(f"sentences_file not found: {path}")
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for n, parts in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not parts or not "".join(parts).strip():
                continue
            if len(parts) != 2 or parts[1].strip() not in ("0", "1"):
                raise UserFacingError(f"{path}:{n}: expected `sentence<TAB>0|1`, got {parts!r:.80}")
            rows.append((parts[0].strip(), int(parts[1]), path.stem))
    if len(rows) < 20:
        raise UserFacingError(f"{path}: {len(rows)} labelled sentences; at least 20 are needed")
    return pd.DataFrame(rows, columns=["text", "label", "source"])


def run(cfg: Config, ctx: RunContext) -> JobResult:
    from jobs.common.train import fit_torch, load_model_state
    from rec_core.data import DataError
    from rec_core.rag.sentiment import (
        build_sentiment_model,
        classification_metrics,
        fit_logreg,
        load_tokenizer,
        predict_proba,
        save_sentiment_model,
        split_sentences,
        trainable_parameters,
    )

    try:
        df = (
            read_sentences_file(cfg.sentences_file)
            if cfg.sentences_file
            else cat.load_sentences(ctx.data_dir, ctx.mirror)
        )
    except DataError as e:
        raise UserFacingError(str(e)) from None
    if cfg.max_sentences:
        df = df.sample(n=min(cfg.max_sentences, len(df)), random_state=cfg.seed)
    sp = split_sentences(df, cfg.valid_frac, cfg.test_frac, cfg.seed)
    loop_cfg = {
        "model": cfg.model.model_dump(),
        "seed": cfg.seed,
        **{f"{k}_texts": sp[k]["text"].tolist() for k in ("train", "valid")},
        **{f"{k}_labels": sp[k]["label"].astype(int).tolist() for k in ("train", "valid")},
    }
    tok = load_tokenizer(cfg.model)
    members, train_s = [], 0.0
    for k in range(cfg.ensemble):
        if cfg.ensemble > 1:
            print(f"[rag_sentiment] ensemble member {k + 1}/{cfg.ensemble} (training seed {cfg.seed + k})", flush=True)
        res = fit_torch(
            train_loop,
            {**loop_cfg, "seed": cfg.seed + k},
            cfg.train,
            run_dir=ctx.out_dir / ("train" if k == 0 else f"train-member{k}"),
            name="rag_sentiment" if k == 0 else f"rag_sentiment-member{k}",
            score_metric=METRIC,
            score_mode="max",
            callbacks=ctx.callbacks,
        )
        train_s += res.fit_s
        for row in res.history:
            ctx.report_progress(
                {"valid": {"accuracy": row.get("valid/accuracy"), "f1": row.get("valid/f1")}, "loss": row.get("loss")}
            )
        model = build_sentiment_model(cfg.model, tok)
        model.load_state_dict(load_model_state(res.model_checkpoint()))
        members.append(model)

    def proba(texts: list[str]) -> np.ndarray:  # the ensemble's mean P(positive)
        return np.mean([predict_proba(m, tok, texts, cfg.model.max_length) for m in members], axis=0)

    trainable, total = trainable_parameters(members[0])
    test_texts, y_test = sp["test"]["text"].tolist(), sp["test"]["label"].to_numpy()
    valid_m = classification_metrics(sp["valid"]["label"].to_numpy(), proba(sp["valid"]["text"].tolist()))
    test_p = proba(test_texts)
    test_m = classification_metrics(y_test, test_p)
    by_source = {
        src: classification_metrics(y_test[m], test_p[m])
        for src in sorted(sp["test"]["source"].unique())
        for m in [(sp["test"]["source"] == src).to_numpy()]
    }
    model_dir = save_sentiment_model(members, cfg.model, ctx.out_dir / "model")
    metrics = {
        "valid": valid_m,
        "test": test_m,
        "test_by_source": by_source,
        "train": {
            "seconds": round(train_s, 1),
            "epochs": cfg.train.epochs,
            "workers": cfg.train.num_workers,
            "trainable_params": trainable,
            "total_params": total,
            "final_loss": res.history[-1]["loss"] if res.history else float("nan"),
        },
        "ensemble": cfg.ensemble,
        "sizes": {k: len(v) for k, v in sp.items()},
    }
    if cfg.ensemble > 1:
        metrics["test_by_member"] = {
            str(k): classification_metrics(y_test, predict_proba(m, tok, test_texts, cfg.model.max_length))
            for k, m in enumerate(members)
        }
    if cfg.baseline:
        tr = pd.concat([sp["train"], sp["valid"]])
        xtr = frozen_embeddings(cfg.model, tr["text"].tolist())
        xte = frozen_embeddings(cfg.model, test_texts)
        clf = fit_logreg(xtr, tr["label"].to_numpy(), seed=cfg.seed)
        metrics["baseline_logreg"] = classification_metrics(y_test, clf.predict_proba(xte)[:, 1])
    method = f"LoRA r={cfg.model.lora_rank}" if cfg.model.lora_rank else "full fine-tune"
    if cfg.ensemble > 1:
        method += f", mean of {cfg.ensemble} training seeds"
    encoder = "tiny random BERT (from config)" if cfg.model.tiny_from_config else cfg.model.encoder
    lines = [
        f"Sentiment: {encoder} + linear head, {method}, {cfg.train.num_workers} Ray Train worker(s) (DDP), "
        f"{cfg.train.epochs} epochs, {trainable:,}/{total:,} trainable parameters; {train_s:.0f} s.",
        "",
        f"Data: UCI Sentiment Labelled Sentences, {metrics['sizes']} (stratified by source and label).",
        "",
        "| model | test accuracy | test F1 |",
        "|---|---:|---:|",
        f"| fine-tuned ({method}) | {test_m['accuracy']:.3f} | {test_m['f1']:.3f} |",
        *(
            f"| member {k} alone (training seed {cfg.seed + int(k)}) | {m['accuracy']:.3f} | {m['f1']:.3f} |"
            for k, m in metrics.get("test_by_member", {}).items()
        ),
    ]
    if cfg.baseline:
        b = metrics["baseline_logreg"]
        lines.append(f"| logistic regression on frozen embeddings | {b['accuracy']:.3f} | {b['f1']:.3f} |")
    lines += [
        "",
        "Per source (fine-tuned): " + ", ".join(f"{s} acc {m['accuracy']:.3f}" for s, m in by_source.items()),
        "",
        "The seed project's 89.3 % accuracy / 88.7 % F1 is DistilBERT on full IMDb reviews: other data, "
        "not comparable.",
        "",
        f"Model: `{model_dir}` (use with `genrec rag chat --sentiment-model {model_dir}`).",
    ]
    return JobResult(metrics=metrics, report="\n".join(lines))


def resources(cfg: Config) -> dict:
    return cfg.train.resources()


JOB = Job(
    name="rag_sentiment",
    config=Config,
    run=run,
    resources=resources,
    summary="RAG: fine-tune MiniLM (+LoRA) sentiment classifier on UCI sentences with Ray Train DDP",
)

if __name__ == "__main__":
    JOB.main()
