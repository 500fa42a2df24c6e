"""What the runtime tells a user at start: where the dashboard is."""

import types

from jobs.common.runtime import _say_dashboard


def test_dashboard_url_is_printed_on_stderr(capsys):
    _say_dashboard(types.SimpleNamespace(dashboard_url="127.0.0.1:8265"))
    assert capsys.readouterr().err.strip() == "Ray dashboard: http://127.0.0.1:8265"
    _say_dashboard(types.SimpleNamespace(dashboard_url=""))  # Ray without its dashboard: nothing to say
    assert capsys.readouterr().err == ""


def test_our_info_logs_are_shown_by_default_and_hidden_by_quiet(capsys):
    import logging

    from jobs.common.runtime import configure_logging

    try:
        assert configure_logging() == logging.INFO
        logging.getLogger("rec_core.data.fetch").info("downloading beauty")
        logging.getLogger("some_library").info("chatter")
        err = capsys.readouterr().err
        assert "INFO rec_core.data.fetch: downloading beauty" in err and "chatter" not in err
        assert configure_logging(quiet=True) == logging.WARNING
        logging.getLogger("jobs.tiger").info("hidden")
        assert "hidden" not in capsys.readouterr().err
        assert configure_logging(verbose=1) == logging.DEBUG
        logging.getLogger("jobs").debug("detail")
        assert "detail" in capsys.readouterr().err
        assert [h.get_name() for h in logging.getLogger("jobs").handlers].count("genrec") == 1  # replaced, not added
    finally:
        for name in ("rec_core", "data_pipelines", "jobs", "tune_spaces", "benchmarks"):
            lg = logging.getLogger(name)
            lg.handlers = [h for h in lg.handlers if h.get_name() != "genrec"]
            lg.propagate = True
            lg.setLevel(logging.NOTSET)


def test_cli_takes_verbose_and_quiet():
    from typer.testing import CliRunner

    from jobs.cli.main import app

    for flags in (["-q"], ["-v"], ["-vv"], []):
        assert CliRunner().invoke(app, [*flags, "list"]).exit_code == 0


def test_missing_faiss_names_the_extras(monkeypatch):
    import sys

    import pytest

    from rec_core.optional import import_faiss

    monkeypatch.setitem(sys.modules, "faiss", None)  # as if neither extra were installed
    with pytest.raises(ImportError, match=r"\.\[cpu\]'.*\.\[gpu\]'"):
        import_faiss()


def test_ray_data_progress_is_one_bar_and_a_sparse_log(monkeypatch):
    import ray.data

    from jobs.common.runtime import DATA_PROGRESS_LOG_INTERVAL_S, quiet_data_progress

    monkeypatch.delenv("RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL", raising=False)
    ctx = ray.data.DataContext.get_current()
    monkeypatch.setattr(ctx, "enable_operator_progress_bars", True)
    quiet_data_progress()
    import os

    assert ctx.enable_operator_progress_bars is False
    assert os.environ["RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL"] == str(DATA_PROGRESS_LOG_INTERVAL_S)
    monkeypatch.setenv("RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL", "5")  # a user's own choice is kept
    quiet_data_progress()
    assert os.environ["RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL"] == "5"
