"""What the runtime tells a user at start: where the dashboard is."""

import types

from jobs.common.runtime import _say_dashboard


def test_dashboard_url_is_printed_on_stderr(capsys):
    _say_dashboard(types.SimpleNamespace(dashboard_url="127.0.0.1:8265"))
    assert capsys.readouterr().err.strip() == "Ray dashboard: http://127.0.0.1:8265"
    _say_dashboard(types.SimpleNamespace(dashboard_url=""))  # Ray without its dashboard: nothing to say
    assert capsys.readouterr().err == ""
