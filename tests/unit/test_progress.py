"""The per-epoch line: position, the headline metrics a report has, seconds per epoch and time left."""

from jobs.common.progress import format_line, format_step_line


def test_line_shows_position_metrics_and_eta():
    line = format_line("tiger", 2, 12, {"loss": 0.81234, "valid/ndcg@10": 0.41, "epoch": 2, "other": 5}, 2.0)
    assert line == "[tiger] epoch 3/12  loss 0.8123  valid/ndcg@10 0.4100  2.0 s/epoch  ETA 18 s"


def test_line_leaves_out_what_a_report_lacks():
    # no validation yet (-1 placeholder), no timing for the first epoch, a NaN loss
    assert format_line("x", 0, 3, {"loss": float("nan"), "valid/ndcg@10": -1.0}, None) == "[x] epoch 1/3"


def test_step_line_shows_step_loss_and_time_left_in_the_epoch():
    # 100 of 400 steps in 50 s: 300 more at the same rate
    line = format_step_line("lcrec", 0, 2, 100, 400, 2.34567, 50.0)
    assert line == "[lcrec] epoch 1/2  step 100/400  loss 2.3457  150 s left in epoch"
