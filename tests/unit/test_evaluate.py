"""The precision/recall scorer used by the discovery quality test and the bench."""

from tests.fixtures.evaluate import score


def test_score_counts_wrong_classes_as_miss_and_false_alarm():
    labels = {("s", "t", "a"): "email", ("s", "t", "b"): "ssn", ("s", "t", "c"): "phone"}
    found = {("s", "t", "a"): "email", ("s", "t", "b"): "phone", ("s", "t", "d"): "iban"}
    q = score(found, labels)
    assert (q["correct"], q["precision"], q["recall"]) == (1, 0.3333, 0.3333)
    assert q["missed"] == ["s.t.b: expected ssn, got phone", "s.t.c: expected phone, got None"]
    assert q["false_alarms"] == ["s.t.b: phone (labelled ssn)", "s.t.d: iban"]


def test_perfect_and_empty():
    labels = {("s", "t", "a"): "email"}
    assert score(labels, labels)["f1"] == 1.0
    assert score({}, labels)["recall"] == 0.0 and score({}, labels)["precision"] == 1.0
