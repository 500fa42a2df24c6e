import json

import numpy as np
import pytest
import torch

from rec_core.rater.models import char_tokenizer, tiny_causal_lm
from rec_core.rater.plot_scoring import (
    ANSWERS,
    AnswerTrie,
    PlotScoreReply,
    ReplyParseError,
    expected_scores,
    parse_score_reply,
    score_overviews_json,
    score_overviews_token_prob,
)


@pytest.fixture(scope="module")
def tiny():
    tok = char_tokenizer()
    return tiny_causal_lm(len(tok), seed=3), tok


def test_trie_handles_multi_token_ten(tiny):
    _, tok = tiny
    trie = AnswerTrie.build(tok)
    assert len(trie.sequences[10]) == 2 and trie.prefixes == [trie.sequences[1]]  # "10" = "1" + "0"


@torch.no_grad()
def _brute_force(model, tok, prompt):
    """P(answer) by teacher forcing each full answer, times P(stop) when it prefixes a longer one."""

    def next_probs(text_ids):
        logits = model(input_ids=torch.tensor([text_ids])).logits[0, -1]
        return torch.softmax(logits.float(), -1).numpy()

    base = tok.encode(prompt, add_special_tokens=False)
    seqs = [tok.encode(a, add_special_tokens=False) for a in ANSWERS]
    probs = []
    for s in seqs:
        p = 1.0
        for i, t in enumerate(s):
            p *= next_probs(base + s[:i])[t]
        longer = {o[len(s)] for o in seqs if len(o) > len(s) and o[: len(s)] == s}
        if longer:
            p *= 1 - next_probs(base + s)[sorted(longer)].sum()
        probs.append(p)
    probs = np.array(probs)
    return (probs * np.arange(11)).sum() / probs.sum(), probs.sum()


def test_expected_score_matches_brute_force_with_padding_and_cache(tiny):
    model, tok = tiny
    prompts = ["short plot", "a much longer plot about a dog who saves a city: " * 3, "mid length plot here"]
    ev, mass, dist = expected_scores(model, tok, prompts, AnswerTrie.build(tok), batch_size=3)
    for p, e, m in zip(prompts, ev, mass):
        be, bm = _brute_force(model, tok, p)
        assert e == pytest.approx(be, rel=1e-4) and m == pytest.approx(bm, rel=1e-4)
    assert np.all((ev >= 0) & (ev <= 10)) and np.allclose(dist.sum(axis=1), mass)


def test_low_answer_mass_is_a_counted_failure(tiny):
    model, tok = tiny
    res = score_overviews_token_prob(model, tok, ["plot one", "plot two"], min_mass=0.99)
    assert all(r["failure"] and np.isnan(r["plot_novelty"]) for r in res)
    ok = score_overviews_token_prob(model, tok, ["plot one"], min_mass=0.0)[0]
    assert ok["failure"] is None and 0 <= ok["plot_novelty"] <= 10 and ok["plot_novelty_top"].count(":") == 3


@pytest.mark.parametrize(
    "text,expect",
    [
        ('{"plot_novelty": 7, "emotion_complexity": 3}', (7, 3)),
        ('Sure! {"plot_novelty": 10, "emotion_complexity": 0, "why": "x"} hope it helps', (10, 0)),
        ('{"plot_novelty": 11, "emotion_complexity": 3} {"plot_novelty": 2, "emotion_complexity": 4}', (2, 4)),
    ],
)
def test_parse_valid_replies(text, expect):
    r = parse_score_reply(text)
    assert isinstance(r, PlotScoreReply) and (r.plot_novelty, r.emotion_complexity) == expect


@pytest.mark.parametrize(
    "text",
    ["", "seven", '{"plot_novelty": "high"}', '{"plot_novelty": 7', '{"plot_novelty": -1, "emotion_complexity": 2}'],
)
def test_parse_malformed_replies_raise(text):
    with pytest.raises(ReplyParseError):
        parse_score_reply(text)


def test_json_mode_retries_once_and_keeps_raw_response_of_failures():
    calls = []
    replies = [
        ['{"plot_novelty": 8, "emotion_complexity": 6}', "I think it is good", "{{{"],  # first attempt
        ['{"plot_novelty": 4, "emotion_complexity": 5}', "still no json"],  # retry of items 1, 2
    ]

    def fake_generate(prompts):
        calls.append(len(prompts))
        return replies[len(calls) - 1]

    tok = char_tokenizer()
    res = score_overviews_json(None, tok, ["a", "b", "c"], generate=fake_generate)
    assert calls == [3, 2]  # only the two failures were retried, once
    assert (res[0]["plot_novelty"], res[0]["attempts"], res[0]["failure"]) == (8.0, 1, None)
    assert (res[1]["plot_novelty"], res[1]["attempts"]) == (4.0, 2)
    assert res[2]["failure"] and np.isnan(res[2]["plot_novelty"])
    assert json.loads(res[2]["raw_response"]) == ["{{{", "still no json"]


def test_json_mode_runs_real_generation_with_tiny_model(tiny):
    model, tok = tiny
    res = score_overviews_json(model, tok, ["a plot"], max_new_tokens=4)
    # a random tiny model cannot write JSON: the failure is recorded with both raw replies
    assert res[0]["failure"] and len(json.loads(res[0]["raw_response"])) == 2
