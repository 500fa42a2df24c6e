"""`genrec export`: each model kind written in its ecosystem's format and read back in a fresh process gives the
same outputs as the model that was saved (TIGER: same beam-search items; SASRec, NCF: same scores; LoRA: same
probabilities). Models here are small and random (seeded): the round trip is what is tested, not training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from jobs.common.export import ExportError, export_run
from rec_core import export
from rec_core.generative.bundle import save_bundle


def _tiger_run(tmp_path: Path):
    from rec_core.generative.model import TigerModelConfig, build_tiger
    from rec_core.semantic_ids.codes import SIDVocab

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vocab = SIDVocab((8, 8, 4), num_user_tokens=20)
    # 40 items with distinct 3-level IDs
    sids = np.array(sorted({(int(a), int(b), int(c)) for a, b, c in rng.integers(0, [8, 8, 4], (200, 3))})[:40])
    item_tokens = vocab.item_tokens(sids)
    mcfg = TigerModelConfig(
        num_layers=1, num_decoder_layers=2, d_model=32, num_heads=2, d_kv=16, d_ff=64, dropout=0.0, num_user_tokens=20
    )
    model = build_tiger(mcfg, vocab).eval()
    meta = {
        "dataset": "synthetic",
        "max_history": 5,
        "model": mcfg.model_dump(),
        "vocab": vocab.to_dict(),
        "item_ids": [1000 + i for i in range(len(sids))],
        "seed": 0,
    }
    run = tmp_path / "run"
    save_bundle(run / "model", "tiger", model.state_dict(), meta, item_tokens)
    users = list(range(12))
    hists = [rng.integers(0, len(sids), int(rng.integers(1, 7))).tolist() for _ in users]
    return run, model, vocab, item_tokens, users, hists


def test_tiger_export_decodes_like_the_saved_model(tmp_path):
    from rec_core.generative.ranker import GenerativeRanker

    run, model, vocab, item_tokens, users, hists = _tiger_run(tmp_path)
    ex = export_run(run, tmp_path / "out")
    assert ex.kind == "tiger"
    assert {"config.json", "model.safetensors", "generation_config.json", "genrec.json", "sid_table.json"} <= set(
        ex.files
    )
    table = json.loads((tmp_path / "out" / "sid_table.json").read_text())
    assert np.array_equal(vocab.item_tokens(np.array(table["sids"])), item_tokens)

    want = GenerativeRanker(model, vocab, item_tokens, num_beams=10, max_history=5).recommend(users, hists, 10)
    got = export.load_tiger(tmp_path / "out", num_beams=10).recommend(users, hists, 10)
    assert got == want  # (tests/integration/test_export_runs.py does this in a fresh process, on a trained model)

    # and the plain HF reader sees the same weights
    from transformers import T5ForConditionalGeneration

    hf = T5ForConditionalGeneration.from_pretrained(tmp_path / "out").eval()
    ids = torch.tensor([[vocab.user_token(0), *item_tokens[3].tolist(), 1]])
    dec = torch.zeros((1, 1), dtype=torch.long)
    with torch.no_grad():
        a = model(input_ids=ids, decoder_input_ids=dec).logits
        b = hf(input_ids=ids, decoder_input_ids=dec).logits
    # same weights; the reloaded model may pick another attention kernel, so equal to float rounding
    assert (a - b).abs().max().item() < 1e-5


def test_tiger_export_maps_item_ids(tmp_path):
    run, model, vocab, item_tokens, users, hists = _tiger_run(tmp_path)
    export_run(run, tmp_path / "out")
    t = export.load_tiger(tmp_path / "out", num_beams=10)
    by_index = t.recommend(users[:3], hists[:3], 5)
    by_id = t.recommend_ids(users[:3], [[1000 + i for i in h] for h in hists[:3]], 5)
    assert by_id == [[1000 + i for i in row] for row in by_index]


def test_sasrec_export_round_trip_same_scores(tmp_path):
    from rec_core.baselines.sasrec import SASRec, SASRecConfig

    torch.manual_seed(0)
    mcfg = SASRecConfig(max_len=6, d_model=16, num_heads=2, num_layers=1, dropout=0.0)
    model = SASRec(30, mcfg).eval()
    save_bundle(
        tmp_path / "run" / "model",
        "sasrec",
        model.state_dict(),
        {"dataset": "synthetic", "max_history": 6, "model": mcfg.model_dump(), "num_items": 30},
    )
    ex = export_run(tmp_path / "run", tmp_path / "out")
    assert ex.kind == "sasrec" and set(ex.files) == {"config.json", "model.safetensors"}
    back = export.load_sasrec(tmp_path / "out")
    hists = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11]]
    assert np.array_equal(back.score(hists), model.score(hists))


@pytest.mark.parametrize("kind", ["gmf", "mlp", "neumf"])
def test_ncf_export_round_trip_same_scores(tmp_path, kind):
    from rec_core.ncf.config import NCFModelConfig
    from rec_core.ncf.models import NCF

    torch.manual_seed(0)
    ncf_cfg = {"factors": 8, "layers": [32, 16, 8]}
    model = NCF(20, 25, NCFModelConfig.model_validate(ncf_cfg), kind=kind).eval()
    run = tmp_path / "run"
    ck = run / "train" / kind / "checkpoint_2026-01-01_00-00-01.000000"
    ck.mkdir(parents=True)
    torch.save(model.state_dict(), ck / "model.pt")
    old = run / "train" / kind / "checkpoint_2026-01-01_00-00-00.000000"
    old.mkdir()
    torch.save(NCF(20, 25, NCFModelConfig.model_validate(ncf_cfg), kind=kind).state_dict(), old / "model.pt")
    (run / "config.json").write_text(json.dumps({"job": "ncf", "model": kind, "ncf": ncf_cfg, "dataset": "synthetic"}))
    ex = export_run(run, tmp_path / "out")
    assert ex.kind == f"ncf/{kind}"
    back = export.load_ncf(tmp_path / "out")
    users = torch.arange(20)
    cands = torch.randint(0, 25, (20, 10))
    assert torch.equal(back.score_candidates(users, cands), model.score_candidates(users, cands))  # the newest


def test_ncf_with_a_language_model_tower_is_a_clear_error(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"job": "ncf", "model": "llm_xattn", "ncf": {}}))
    with pytest.raises(ExportError, match="plain-ID"):
        export_run(tmp_path / "run", tmp_path / "out")


def _random_lora_sentiment(seed: int, std: float):
    """A tiny sentiment model whose adapter and head are random (LoRA B starts at zero: make the adapter matter)."""
    from rec_core.rag.sentiment import SentimentModelConfig, build_sentiment_model, load_tokenizer

    cfg = SentimentModelConfig(tiny_from_config=True, lora_rank=4, max_length=16)
    tok = load_tokenizer(cfg)
    model = build_sentiment_model(cfg, tok)  # the tiny encoder is seeded: models differ by their adapters
    torch.manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n or n.startswith("head."):
                p.normal_(0, std)
    return model.eval(), cfg, tok


def test_lora_adapter_export_round_trip(tmp_path):
    from rec_core.rag.sentiment import predict_proba, save_sentiment_model

    model, cfg, tok = _random_lora_sentiment(1, 0.2)
    run = tmp_path / "run"
    save_sentiment_model(model, cfg, run / "model")
    (run / "config.json").write_text(json.dumps({"job": "rag_sentiment", "model": cfg.model_dump()}))
    ex = export_run(run, tmp_path / "out")
    assert ex.kind == "lora"
    assert {"adapter_config.json", "adapter_model.safetensors", "head.safetensors"} <= set(ex.files)
    back, tok2 = export.load_sentiment_lora(tmp_path / "out")
    texts = ["a wonderful film", "dull and far too long", "fine"]
    a = predict_proba(model, tok, texts, 16)
    b = predict_proba(back, tok2, texts, 16)
    assert np.allclose(a, b, atol=1e-6)


def test_sentiment_ensemble_saves_averages_and_exports_every_member(tmp_path):
    from rec_core.rag.sentiment import FineTunedSentiment, predict_proba, save_sentiment_model

    (m1, cfg, tok), (m2, _, _) = _random_lora_sentiment(1, 0.5), _random_lora_sentiment(2, 0.5)
    members = [m1, m2]
    run = tmp_path / "run"
    save_sentiment_model(members, cfg, run / "model")
    (run / "config.json").write_text(json.dumps({"job": "rag_sentiment", "model": cfg.model_dump()}))
    texts = ["a wonderful film", "dull and far too long", "fine"]
    each = [predict_proba(m, tok, texts, 16) for m in members]
    assert not np.allclose(each[0], each[1], atol=1e-3)  # two different members, so the mean is not either one
    assert np.allclose(FineTunedSentiment(run / "model")(texts), np.mean(each, axis=0), atol=1e-5)
    ex = export_run(run, tmp_path / "out")
    assert ex.kind == "lora ensemble of 2"
    for rel, want in [(".", each[0]), ("members/1", each[1])]:
        back, tok2 = export.load_sentiment_lora(tmp_path / "out" / rel)
        assert np.allclose(predict_proba(back, tok2, texts, 16), want, atol=1e-5)


def test_unknown_run_dir_is_a_clear_error(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"job": "rater"}))
    with pytest.raises(ExportError, match="'rater' run"):
        export_run(tmp_path / "run", tmp_path / "out")
    with pytest.raises(ExportError, match="inside the run dir"):
        export_run(tmp_path / "run", tmp_path / "run" / "x")


def test_optimizer_and_loop_state_round_trip_without_pickle(tmp_path):
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.98))
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"epoch": 3, "extra": {"best": 0.5, "bad": 1, "steps": np.int64(7)}, "optimizer": opt.state_dict()}
    export.save_state_tree(state, tmp_path, "train_state")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_state.json", "train_state.safetensors"]
    back = export.load_state_tree(tmp_path, "train_state")
    assert back["epoch"] == 3 and back["extra"] == {"best": 0.5, "bad": 1, "steps": 7}
    opt2 = torch.optim.AdamW(m.parameters(), lr=1.0)
    opt2.load_state_dict(back["optimizer"])
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]  # int keys, the betas tuple and the lr all came back
    assert all(torch.equal(a["state"][k][n], b["state"][k][n]) for k in a["state"] for n in a["state"][k])
    with pytest.raises(TypeError, match="without pickle"):
        export.save_state_tree({"x": object()}, tmp_path, "bad")


def test_cli_export_writes_and_fails_clearly(tmp_path):
    from typer.testing import CliRunner

    from jobs.cli.main import app

    r = CliRunner().invoke(app, ["export", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "no run dir" in r.output
    run, *_ = _tiger_run(tmp_path)
    r = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "exported tiger" in r.output and "model.safetensors" in r.output


def test_playlist_export_generates_the_same_lists(tmp_path):
    from rec_core.playlist.generator import Playlister
    from tests.unit.test_playlist_model import tiny_export, train_tiny

    trained = train_tiny(steps=2)  # the round trip matters here, not the training
    src = Path(tiny_export(tmp_path / "run", trained))
    ex = export_run(tmp_path / "run", tmp_path / "out")
    assert ex.kind == "playlist"
    assert {"config.json", "model.safetensors", "text_encoder.safetensors", "codes.parquet", "titles.parquet"} <= set(
        ex.files
    )
    a = Playlister.load(src)
    b = export.load_export(tmp_path / "out")
    texts = ["happy comedy", "scary horror night"]
    for mode in ("beam", "greedy"):
        ra = a.generate(texts, length=4, mode=mode, num_beams=3)
        rb = b.generate(texts, length=4, mode=mode, num_beams=3)
        assert [r.items for r in ra] == [r.items for r in rb] and [r.titles for r in ra] == [r.titles for r in rb]
