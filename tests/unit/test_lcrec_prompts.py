"""The versioned prompts: tasks, ratios, held-out enrich items, loss on the target only."""

from collections import Counter

from rec_core.lcrec.model import tiny_tokenizer
from rec_core.lcrec.prompts import (
    PROMPT_VERSION,
    ItemText,
    TaskRatios,
    encode_example,
    seqrec_prompt,
    training_examples,
)
from tests.unit.lcrec_fixtures import item_text

SEQS = {0: [0, 1, 2, 3], 1: [4, 5, 6], 2: [7, 8]}  # 3 + 2 + 1 = 6 training positions


def test_version_and_eval_prompt_is_template_zero():
    assert PROMPT_VERSION.startswith("lcrec-prompts-")
    p = seqrec_prompt([0, 1, 2], item_text(), max_history=2)
    assert item_text().sids[0] not in p and item_text().sids[2] in p and p.endswith("### Response:\n")


def test_ratios_scale_each_task():
    items = item_text()
    ex = training_examples(SEQS, items, TaskRatios(seqrec=2, item2index=1, index2item=0.5, fusion=0, enrich=0))
    c = Counter(t for t, _, _ in ex)
    assert c == {"seqrec": 12, "item2index": 12, "index2item": 6}
    seq = [(p, t) for k, p, t in ex if k == "seqrec"]
    assert all(t in items.sids for _, t in seq)


def test_id_only_data_gets_id_tasks_only():
    items = ItemText(item_text().sids)
    ex = training_examples(SEQS, items, TaskRatios())
    assert {t for t, _, _ in ex} == {"seqrec"}


def test_enrich_trains_only_on_given_items_and_targets_the_field():
    items = item_text()
    ex = training_examples(
        SEQS, items, TaskRatios(seqrec=0, item2index=0, index2item=0, fusion=0, enrich=1), enrich_items=[0, 1, 2]
    )
    assert len(ex) == 3
    for _, p, t in ex:
        i = next(i for i in range(12) if items.sids[i] in p)
        assert i in (0, 1, 2) and t == items.enrich[i] and "genres" in p


def test_loss_only_on_target_tokens():
    items = item_text()
    tok = tiny_tokenizer(["### Instruction : Response the user x", *items.titles])
    ids, labels = encode_example(tok, "### Instruction:\nthe user x\n### Response:\n", "thing alpha", max_len=64)
    n_target = len(tok("thing alpha", add_special_tokens=False)["input_ids"]) + 1
    assert labels[:-n_target] == [-100] * (len(ids) - n_target)
    assert labels[-n_target:] == ids[-n_target:] and ids[-1] == tok.eos_token_id
    ids2, labels2 = encode_example(tok, "the user x " * 50, "thing alpha", max_len=20)
    assert len(ids2) == 20 and labels2[-n_target:] == labels[-n_target:]  # prompt cut from the left


def _with_keywords() -> ItemText:
    items = item_text()
    items.keywords = [["red", "blue"] if i % 2 else ["green"] for i in range(len(items.sids))]
    items.keywords[3] = []  # an item without keywords gets no search example
    return items


def test_search_maps_an_items_keywords_to_its_id_for_trainable_items_only():
    items = _with_keywords()
    only = TaskRatios(seqrec=0, item2index=0, index2item=0, fusion=0, enrich=0, search=1, preference=0)
    ex = training_examples(SEQS, items, only, enrich_items=[0, 1, 2, 3])
    assert [t for t, _, _ in ex] == ["search"] * 3  # item 3 has no keywords; 4.. are held out for enrich
    for _, p, target in ex:
        i = items.sids.index(target)
        assert i in (0, 1, 2) and ", ".join(items.keywords[i]) in p


def test_preference_target_counts_the_historys_keywords_without_held_out_items():
    from rec_core.lcrec.prompts import preference_target

    items = _with_keywords()
    items.keywords[0], items.keywords[2] = ["green", "gold"], ["gold"]
    # history 0, 1, 2, 5: green 1, gold 2, red 2, blue 2 -> ties broken by recency (5 is red, blue)
    assert preference_target([0, 1, 2, 5], items) == "red, blue, gold"
    # item 5 held out: its keywords do not count
    assert preference_target([0, 1, 2, 5], items, allowed={0, 1, 2}) == "gold, red, blue"
    only = TaskRatios(seqrec=0, item2index=0, index2item=0, fusion=0, enrich=0, search=0, preference=1)
    ex = training_examples(SEQS, items, only)
    assert len(ex) == 6 and all(t == "preference" and target for t, _, target in ex)  # one per training position
