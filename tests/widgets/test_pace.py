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
