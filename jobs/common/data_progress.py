"""Ray Data progress as users read it.

On a terminal Ray Data draws one updating bar per dataset (operator bars are turned off here). In a log (a file, CI, a
submitted job), Ray's non-terminal progress manager writes a block every 10 s:

    ======= Running Dataset: dataset_12_0 =======
    Total Progress: 3000/12101
    Active & requested resources: 2/2 CPU, 12.0MB/1.0GB object store
    =============================================

`show_data_progress()` keeps Ray's own manager and cadence (every LOG_INTERVAL_S) but a logging filter on its logger
folds each block into one line:

    Ray Data dataset_12_0: 3000/12101 rows (25 %)

and drops the one-line execution-plan dump and the two notices about the display at the start; Ray's "Starting
execution" and "execution finished in N seconds" lines stay, so each dataset shows where it starts, how far it is,
and when it ends.
"""

from __future__ import annotations

import logging
import os
import re
import threading

# Seconds between progress lines when stdout is not a terminal; Ray's default is 10. An explicit
# RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL wins.
LOG_INTERVAL_S = 30
PROGRESS_LOGGER = "ray.data._internal.progress.logging_progress"
EXECUTOR_LOGGER = "ray.data._internal.execution.streaming_executor"
CHOOSER_LOGGER = "ray.data._internal.progress"  # says, per dataset, which progress display it picked and why
# Per-dataset notices about the display itself, which this module chose on purpose.
_NOTICES = ("Execution plan of Dataset", "Progress bars for operators disabled", "Progress will be logged because")
_BLOCK_START = re.compile(r"^=+ Running Dataset: (\S+) =+$")
_TOTAL = re.compile(r"^Total Progress: (\d+)/(\S+)")


class OneLineProgress(logging.Filter):
    """Folds Ray Data's multi-line progress block into one line; drops the execution-plan dump and display notices.

    A block is logged in one go by the thread that runs the dataset's executor, so the position inside a block is
    kept per thread (two datasets running at once do not mix)."""

    def __init__(self) -> None:
        super().__init__("genrec-one-line-progress")
        self._state = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg.startswith(_NOTICES):
            return False
        start = _BLOCK_START.match(msg)
        if start:
            self._state.dataset = start.group(1)
            return False
        dataset = getattr(self._state, "dataset", None)
        if dataset is None:
            return True  # not inside a block: a line of Ray's we leave alone
        if msg and set(msg) == {"="}:  # the block's closing rule
            self._state.dataset = None
            return False
        total = _TOTAL.match(msg)
        if not total:
            return False  # resource status, operator lines, blank separators
        done, of = int(total.group(1)), total.group(2)
        if of.isdigit() and int(of) > 0:
            shown = f"{done}/{of} rows ({100 * done / int(of):.0f} %)"
        else:  # the total is not known yet
            shown = f"{done} rows so far"
        record.msg, record.args = f"Ray Data {dataset}: {shown}", ()
        return True


_FILTER = OneLineProgress()


def show_data_progress() -> None:
    """Set Ray Data's progress display for this process (idempotent): one bar per dataset on a terminal, one line per
    dataset every LOG_INTERVAL_S seconds in a log."""
    import ray.data

    ray.data.DataContext.get_current().enable_operator_progress_bars = False
    interval = int(os.environ.get("RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL") or LOG_INTERVAL_S)
    os.environ["RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL"] = str(interval)
    try:  # the class reads the variable once, at import: ray.data may have been imported before us
        from ray.data._internal.progress.logging_progress import LoggingExecutionProgressManager

        LoggingExecutionProgressManager.LOG_REPORT_INTERVAL_SEC = interval
    except ImportError:  # another Ray version: its cadence, still our filter
        pass
    for name in (PROGRESS_LOGGER, EXECUTOR_LOGGER, CHOOSER_LOGGER):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
