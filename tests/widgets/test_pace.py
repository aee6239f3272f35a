from ui.widgets import pace
from ui.widgets.pace import duration_text, pace_text


def test_durations_read_as_a_person_would_say_them():
    assert duration_text(0.4) == "0 s"
    assert duration_text(45) == "45 s"
    assert duration_text(65) == "1 min 05 s"
    assert duration_text(2 * 3600 + 3 * 60 + 9) == "2 h 03 min"


def test_pace_gives_the_rate_and_the_time_left_at_that_rate():
    assert pace_text(0, 100, 0.0) == "starting"
    assert pace_text(25, 100, 2.0) == "12.5 images/s · about 6 s left"
    assert pace_text(10, 200, 100.0, unit="steps") == "10.0 s per step · about 31 min 40 s left"
    assert pace_text(100, 100, 8.0) == "done in 8 s"


def test_the_pace_of_a_resumed_job_leaves_the_cached_items_out(monkeypatch):
    clock = iter([100.0, 110.0, 120.0])
    monkeypatch.setattr(pace.time, "monotonic", lambda: next(clock))
    resumed = pace.resumed_pace("images")
    # 900 of 1,000 were cached (reported at once); 50 more in 10 s is 5 images/s, so the
    # other 50 take 10 s more — not the 0.1 s that 950 in 10 s would promise.
    assert resumed(900, 1000) == "starting"
    assert resumed(950, 1000) == "5.0 images/s · about 10 s left"
    assert resumed(1000, 1000) == "done in 20 s"
