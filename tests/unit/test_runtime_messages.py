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


def test_ray_data_progress_is_one_bar_and_one_line_per_dataset_in_a_log(monkeypatch):
    """Ray's own non-terminal progress manager, driven as its executor drives it: each 4-line block becomes one
    line, at most one per LOG_INTERVAL_S; the execution-plan dump is dropped; a user's interval wins."""
    import logging

    import ray.data
    from ray.data._internal.progress.logging_progress import LoggingExecutionProgressManager

    from jobs.common.data_progress import (
        CHOOSER_LOGGER,
        EXECUTOR_LOGGER,
        LOG_INTERVAL_S,
        PROGRESS_LOGGER,
        show_data_progress,
    )

    monkeypatch.delenv("RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL", raising=False)
    ctx = ray.data.DataContext.get_current()
    monkeypatch.setattr(ctx, "enable_operator_progress_bars", True)
    monkeypatch.setattr(LoggingExecutionProgressManager, "LOG_REPORT_INTERVAL_SEC", 10)
    show_data_progress()
    show_data_progress()  # idempotent: one filter, not two
    assert ctx.enable_operator_progress_bars is False
    assert LoggingExecutionProgressManager.LOG_REPORT_INTERVAL_SEC == LOG_INTERVAL_S

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Keep(level=logging.DEBUG)
    for name in (PROGRESS_LOGGER, EXECUTOR_LOGGER, CHOOSER_LOGGER):
        logger = logging.getLogger(name)
        assert len([f for f in logger.filters if f.name == "genrec-one-line-progress"]) == 1
        monkeypatch.setattr(logger, "level", logging.INFO)
    handled = (EXECUTOR_LOGGER, CHOOSER_LOGGER)  # the progress logger's records reach its parent's handlers
    for name in handled:
        logging.getLogger(name).addHandler(handler)
    try:
        now = [1000.0]
        manager = LoggingExecutionProgressManager(
            "dataset_7_0", {}, show_op_progress=True, verbose_progress=True, _get_time=lambda: now[0]
        )
        manager.update_total_progress(3000, 12101)
        manager.update_total_resource_status("Active & requested resources: 2/2 CPU, 12.0MB/1.0GB object store")
        manager.refresh()
        manager.update_total_progress(3000, None)
        now[0] += LOG_INTERVAL_S / 2
        manager.refresh()  # too soon: nothing
        now[0] += LOG_INTERVAL_S / 2
        manager.refresh()
        unknown = LoggingExecutionProgressManager(
            "dataset_8_0", {}, show_op_progress=False, verbose_progress=False, _get_time=lambda: now[0]
        )
        unknown.update_total_progress(40, None)
        unknown.refresh()
        logging.getLogger(EXECUTOR_LOGGER).info("Execution plan of Dataset dataset_7_0: InputDataBuffer -> Map")
        logging.getLogger(EXECUTOR_LOGGER).info("Dataset dataset_7_0 execution finished in 12.30 seconds")
        logging.getLogger(CHOOSER_LOGGER).warning("Progress bars for operators disabled. To enable, set ...")
        logging.getLogger(CHOOSER_LOGGER).info("Progress will be logged because stdout is a non-interactive terminal.")
    finally:
        for name in handled:
            logging.getLogger(name).removeHandler(handler)
    assert lines == [
        "Ray Data dataset_7_0: 3000/12101 rows (25 %)",
        "Ray Data dataset_7_0: 6000/12101 rows (50 %)",
        "Ray Data dataset_8_0: 40 rows so far",
        "Dataset dataset_7_0 execution finished in 12.30 seconds",
    ]
    monkeypatch.setenv("RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL", "5")  # a user's own choice is kept
    show_data_progress()
    assert LoggingExecutionProgressManager.LOG_REPORT_INTERVAL_SEC == 5


def test_a_second_embedded_ray_on_the_host_is_named_with_the_way_out(monkeypatch, capsys):
    import ray._private.services as services

    from jobs.common import runtime

    monkeypatch.setattr(services, "find_gcs_addresses", lambda: frozenset({"127.0.0.1:6379"}))
    runtime._warn_if_another_ray()
    err = capsys.readouterr().err
    assert "another Ray is already running on this machine (127.0.0.1:6379)" in err and "--address" in err
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: frozenset())
    runtime._warn_if_another_ray()
    assert capsys.readouterr().err == ""
