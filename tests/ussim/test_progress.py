"""ussim.progress: a bar in a terminal, whole lines with share done and time left in a log, at least
every interval even while one step is slow (issue 16, point 6)."""

import io
import re
import time

from ussim import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_whole_lines_with_share_and_time_left_also_during_a_slow_step(monkeypatch):
    monkeypatch.setenv(progress.ENV_INTERVAL, "0.1")
    log = io.StringIO()
    for step in progress.bar(range(4), desc="work", unit="step", stream=log):
        time.sleep(0.45 if step == 1 else 0.01)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert all(re.match(r"work: +\d+%\|.*\| \d/4 \[\d\d:\d\d<", line) for line in lines), lines
    # the slow second step (0.45 s, interval 0.1 s) is reported while it runs: several lines at 1/4
    assert sum(" 1/4 " in line for line in lines) >= 3, lines
    assert lines[-1].startswith("work: 100%")
    assert not lines[0].startswith("work:   0%")  # nothing before the first interval has passed


def test_work_within_one_interval_writes_no_line(monkeypatch):
    monkeypatch.setenv(progress.ENV_INTERVAL, "5")
    log = io.StringIO()
    for _ in progress.bar(range(3), desc="quick", stream=log):
        pass
    with progress.bar(total=2, desc="quick", stream=log) as bar:
        bar.update(2)
    assert log.getvalue() == ""


def test_a_terminal_gets_tqdms_bar_and_disabled_gets_nothing():
    terminal, log = Terminal(), io.StringIO()
    for _ in progress.bar(range(3), desc="work", stream=terminal):
        pass
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()
    for _ in progress.bar(range(3), desc="work", stream=log, enabled=False):
        pass
    assert log.getvalue() == ""


def test_a_bar_with_a_total_updated_by_hand_reports_the_count(monkeypatch):
    monkeypatch.setenv(progress.ENV_INTERVAL, "0.05")
    log = io.StringIO()
    with progress.bar(total=10, desc="shards", stream=log) as bar:
        bar.update(3)
        time.sleep(0.2)
        bar.update(7)
    lines = log.getvalue().splitlines()
    assert any(" 3/10 " in line for line in lines) and " 10/10 " in lines[-1], lines


def test_the_interval_falls_back_to_the_default_on_a_bad_value(monkeypatch):
    monkeypatch.setenv(progress.ENV_INTERVAL, "soon")
    assert progress.interval() == progress.LOG_INTERVAL_S
    monkeypatch.setenv(progress.ENV_INTERVAL, "-3")
    assert progress.interval() == progress.LOG_INTERVAL_S


def test_the_demo_scales_its_measured_duration_by_this_machines_workload():
    from app.demo import speed

    assert speed.expected_minutes(12.0, 0.5, 1.0) == 24.0
    assert speed.expected_minutes(12.0, None, 1.0) == 12.0
