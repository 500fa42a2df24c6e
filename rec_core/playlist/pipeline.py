"""Driver-side steps of the playlist job that need no Ray: prepare data + codes, evaluate, report, export."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rec_core.playlist.baselines import TextRetrieval, WordPopularity, item_text, popularity_list
from rec_core.playlist.corpus import build_corpus, genre_list
from rec_core.playlist.embed import embed_texts, load_encoder
from rec_core.playlist.generator import Playlister, export_model, load_tokenizer
from rec_core.playlist.metrics import list_metrics
from rec_core.playlist.model import build_model
from rec_core.playlist.movielens import load_movielens
from rec_core.playlist.training import genre_pairs
from rec_core.semantic_ids.codes import ItemTokens, SemanticCodes, load_codes
from rec_core.semantic_ids.rqkmeans import residual_kmeans_codes


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
    encoder: object
    dropped_untitled_items: int = 0


def prepare(cfg, data_dir: Path, mirror: Path | None, out_dir: Path) -> Prepared:
    interactions, items, tags = load_movielens(data_dir, mirror)
    corpus = build_corpus(interactions, items, tags, cfg.corpus, seed=cfg.seed)
    if corpus.pairs.empty:
        raise ValueError("the playlist corpus is empty: loosen corpus.min_items / max_users")
    corpus.pairs.to_parquet(Path(out_dir) / "corpus.parquet", index=False)
    catalogue_ids = sorted({i for lst in corpus.pairs["items"] for i in lst})
    cat = items[items["item_id"].isin(catalogue_ids)].sort_values("item_id").reset_index(drop=True)
    cat["text"] = [item_text(r) for r in cat.to_dict("records")]
    encoder = load_encoder(cfg.sids.encoder)
    emb = embed_texts(cat["text"].tolist(), encoder, Path(data_dir) / "cache" / "playlist", tag=Path(str(cfg.sids.encoder)).name)
    if cfg.sids.codes_path:
        codes = load_codes(cfg.sids.codes_path)
        missing = set(catalogue_ids) - set(codes.item_ids.tolist())
        if missing:
            raise ValueError(f"{cfg.sids.codes_path}: {len(missing)} corpus items have no semantic ID (e.g. {sorted(missing)[:5]})")
        codes = codes.subset(catalogue_ids)
    else:
        # niter 25: the semantic_ids job's residual k-means default
        codes = residual_kmeans_codes(cat["item_id"].to_numpy(), emb, cfg.sids.levels, cfg.sids.codebook_size,
                                      seed=cfg.seed, niter=25)
    codes.save(Path(out_dir) / "codes")
    return Prepared(corpus.stats(), corpus.split("train"), corpus.split("valid"), corpus.split("test"), cat, emb,
                    ItemTokens.compact(codes.item_ids, codes.sids), codes, encoder)


def training_pairs(cfg, prep: Prepared) -> list[tuple[str, list[int]]]:
    """The corpus' training pairs, plus genre pairs when the recipe asks (never with a held-out text)."""
    pairs = [(t, list(map(int, i))) for t, i in zip(prep.train["text"], prep.train["items"])]
    if cfg.recipe.genre_pairs and "genres" in prep.items:
        genres = {int(i): genre_list(g) for i, g in zip(prep.items["item_id"], prep.items["genres"])}
        held_out = set(prep.valid["text"]) | set(prep.test["text"])
        pairs += genre_pairs(pairs, genres, held_out, cfg.corpus.max_items, cfg.corpus.min_items)
    return pairs


def valid_subset(valid: pd.DataFrame, n_texts: int, seed: int) -> list[tuple[str, list[int]]]:
    texts = sorted(valid["text"].unique())
    rng = np.random.default_rng(seed)
    keep = set(rng.choice(texts, size=min(n_texts, len(texts)), replace=False)) if texts else set()
    return [(t, list(map(int, i))) for t, i in zip(valid["text"], valid["items"]) if t in keep]


@dataclass
class EvalResult:
    metrics: dict
    report: str


def _per_pair(preds_by_text: dict[str, list[int]], test: pd.DataFrame, ks) -> dict[str, dict]:
    out = {}
    for name, part in [("all", test)] + [(s, test[test["source"] == s]) for s in sorted(test["source"].unique())]:
        if len(part):
            out[name] = list_metrics([preds_by_text[t] for t in part["text"]], [list(i) for i in part["items"]], ks)
    return out


def evaluate_and_export(cfg, prep: Prepared, state: dict, out_dir: Path, history: list[dict], train_s: float,
                        genre_pairs_used: int = 0) -> EvalResult:
    out_dir = Path(out_dir)
    tok = load_tokenizer(cfg.tokenizer)
    model = build_model(cfg.model, tok, prep.vocab)
    model.load_state_dict(state)
    meta = {"model": cfg.model.model_dump(), "text_vocab_size": len(tok), "sid_vocab_size": prep.vocab.size,
            "tokenizer": cfg.tokenizer, "max_items": cfg.corpus.max_items, "default_length": cfg.eval.length,
            "text_embed_shape": list(model.text_embed.weight.shape)}
    export_dir = export_model(out_dir / "model", model.state_dict(), meta, prep.codes, prep.items)
    pl = Playlister.load(export_dir)
    test = prep.test
    texts = sorted(test["text"].unique())
    if cfg.eval.max_test_texts:
        texts = texts[: cfg.eval.max_test_texts]
        test = test[test["text"].isin(set(texts))].reset_index(drop=True)
    ks, L = tuple(cfg.eval.ks), cfg.eval.length

    def run_model(mode: str) -> tuple[dict[str, list[int]], float, int]:
        from tqdm.auto import tqdm

        preds, invalid, t0 = {}, 0, time.perf_counter()
        for s in tqdm(range(0, len(texts), cfg.eval.batch_texts), desc=f"playlist eval ({mode})", unit="batch"):
            for r in pl.generate(texts[s : s + cfg.eval.batch_texts], length=L, mode=mode, num_beams=cfg.eval.num_beams,
                                 temperature=cfg.eval.temperature, seed=cfg.seed + s):
                preds[r.text] = r.items
                invalid += r.invalid
        return preds, (time.perf_counter() - t0) / max(len(texts), 1), invalid

    rows: dict[str, dict] = {}
    lat: dict[str, float] = {}
    preds_beam, lat["t5_beam_batched_s"], bad_beam = run_model("beam")
    rows[f"T5 beam ({cfg.eval.num_beams})"] = _per_pair(preds_beam, test, ks)
    preds_sample, lat["t5_sample_batched_s"], bad_sample = run_model("sample")
    rows[f"T5 sample (T={cfg.eval.temperature:g})"] = _per_pair(preds_sample, test, ks)
    retr = TextRetrieval(prep.encoder, prep.items["item_id"].tolist(), prep.item_emb)
    t0 = time.perf_counter()
    retr_lists = dict(zip(texts, retr.lists(texts, L)))
    lat["retrieval_batched_s"] = (time.perf_counter() - t0) / max(len(texts), 1)
    rows["MiniLM retrieval"] = _per_pair(retr_lists, test, ks)
    pop = popularity_list(prep.train["items"], L)
    rows["Popularity"] = _per_pair({t: pop for t in texts}, test, ks)
    wp = WordPopularity(prep.train["text"], prep.train["items"])
    rows["Keyword popularity"] = _per_pair(dict(zip(texts, wp.lists(texts, L))), test, ks)
    # What one CLI user waits for: one text per generate() call.
    for mode in ("beam", "sample"):
        times = [pl.generate([t], length=L, mode=mode, num_beams=cfg.eval.num_beams, temperature=cfg.eval.temperature, seed=0)[0].seconds
                 for t in texts[: cfg.eval.latency_lists]]
        lat[f"t5_{mode}_single_s"] = float(np.median(times))
    # Validity of every generated list (the constraint's promise), counted rather than assumed.
    all_lists = list(preds_beam.values()) + list(preds_sample.values())
    catalogue = set(prep.vocab.item_ids)
    validity = {
        "invalid_sid_chunks": bad_beam + bad_sample,
        "lists_with_repeats": sum(len(set(x)) != len(x) for x in all_lists),
        "lists_wrong_length": sum(len(x) != L for x in all_lists),
        "items_outside_catalogue": sum(i not in catalogue for x in all_lists for i in x),
    }
    key = {"T5 beam": "t5_beam", "T5 sample": "t5_sample", "MiniLM retrieval": "retrieval", "Popularity": "popularity",
           "Keyword popularity": "keyword_popularity"}
    metrics: dict = {"test": {}, "latency": lat, "validity": validity, "corpus": prep.corpus_stats,
                     "train": {"seconds": train_s, "genre_pairs": genre_pairs_used, "final_loss": history[-1]["loss"] if history else float("nan"),
                               "first_loss": history[0]["loss"] if history else float("nan")},
                     "catalogue_items": len(catalogue), "test_texts": len(texts), "test_pairs": len(test),
                     # last epoch's greedy decode of the valid texts (the Tune metric)
                     "valid": {k.split("/", 1)[1]: v for k, v in (history[-1] if history else {}).items() if k.startswith("valid/")}}
    for name, by_src in rows.items():
        short = next(v for k, v in key.items() if name.startswith(k))
        for src, m in by_src.items():
            for mk, mv in m.items():
                metrics["test"][f"{short}/{src}/{mk}" if src != "all" else f"{short}/{mk}"] = mv
    examples = {t: preds_beam[t] for t in texts[:3]}
    report = render_report(cfg, prep, rows, lat, validity, history, train_s, examples, pl, len(texts), len(test),
                           genre_pairs_used)
    (out_dir / "examples.json").write_text(json.dumps({t: [pl.titles[i] for i in v] for t, v in examples.items()}, indent=1))
    return EvalResult(metrics, report)


def render_report(cfg, prep, rows, lat, validity, history, train_s, examples, pl, n_texts, n_pairs, genre_pairs_used=0) -> str:
    from rec_core.playlist import corpus as corpus_mod

    s = prep.corpus_stats
    lines = ["## Corpus (ml-latest-small)", "", corpus_mod.__doc__.strip(), "",
             f"Settings: {json.dumps(cfg.corpus.model_dump())}", "",
             "| source | split | pairs | distinct texts |", "|---|---|---:|---:|"]
    for src in ("tag", "session"):
        for split in ("train", "valid", "test"):
            if f"{src}/{split}/pairs" in s:
                lines.append(f"| {src} | {split} | {s[f'{src}/{split}/pairs']} | {s[f'{src}/{split}/texts']} |")
    lines += ["", f"Total pairs {s['pairs']}, distinct texts {s['texts']}, mean list length {s['mean_list_len']:.2f}, "
              f"catalogue {s['distinct_items']} movies. Dropped: " + ", ".join(f"{k[8:]}={v}" for k, v in s.items() if k.startswith("dropped/")), "",
              f"Semantic IDs: {'codes table ' + str(cfg.sids.codes_path) if cfg.sids.codes_path else f'residual k-means over {cfg.sids.encoder} embeddings of title + genres, {cfg.sids.levels} levels x {cfg.sids.codebook_size} codes + a collision level'}"
              f" (code sizes per level {list(prep.vocab.vocab.codebook_sizes)}).", "",
              f"## Held-out texts ({n_texts} texts, {n_pairs} pairs; generated lists of {cfg.eval.length})", "",
              "Recall@K = |G[:K] ∩ T| / |T|; NDCG@K = DCG@K / IDCG@K with binary gains and IDCG over min(K, |T|) "
              "relevant items (see rec_core/playlist/metrics.py). Averaged over pairs; a text with several true lists "
              "counts once per list.", ""]
    ks = cfg.eval.ks
    head = "| method | subset | " + " | ".join(f"Recall@{k} | NDCG@{k}" for k in ks) + " |"
    lines += [head, "|---|---|" + "---:|---:|" * len(ks)]
    for name, by_src in rows.items():
        for src, m in by_src.items():
            lines.append(f"| {name} | {src} | " + " | ".join(f"{m[f'recall@{k}']:.4f} | {m[f'ndcg@{k}']:.4f}" for k in ks) + " |")
    lines += ["", "## Generation latency per list (CPU, shared machine)", "",
              "| what | seconds per list |", "|---|---:|"] + [f"| {k} | {v:.4f} |" for k, v in lat.items()]
    lines += ["", f"Validity of all generated lists: {json.dumps(validity)}", "",
              f"## Training ({train_s:.1f} s, Ray Train, {cfg.train.num_workers} worker(s), deepspeed={cfg.train.deepspeed})", "",
              f"Recipe: {len(prep.train)} corpus pairs + {genre_pairs_used} genre pairs; "
              f"targets shuffled every epoch: {cfg.recipe.shuffle_targets} (see rec_core/playlist/training.py).", "",
              "| epoch | loss | valid recall@10 | valid ndcg@10 |", "|---:|---:|---:|---:|"]
    for h in history:
        lines.append(f"| {h['epoch']} | {h['loss']:.4f} | {h.get('valid/recall@10', float('nan')):.4f} | {h.get('valid/ndcg@10', float('nan')):.4f} |")
    lines += ["", "## Examples (beam)", ""]
    for t, items in examples.items():
        lines.append(f"- **{t}**: " + "; ".join(pl.titles.get(i, str(i)) for i in items))
    return "\n".join(lines)
