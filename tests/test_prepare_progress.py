"""Counts while data is prepared: a line every few seconds and at the end, every count to
the watcher, with the time left at the pace so far."""

from __future__ import annotations

from workbench.data.progress import Count, Tally, time_left


def test_a_tally_logs_every_few_seconds_and_at_the_end_and_hands_on_every_count():
    now = [100.0]
    lines: list[str] = []
    counts: list[Count] = []
    tally = Tally("synthesised", 600, "train source 2 of 2, synth", lines.append,
                  counts.append, every=10.0, clock=lambda: now[0])  # fmt: skip
    for done in range(1, 601):
        now[0] += 0.5  # two clips a second
        tally(done)
    assert len(counts) == 600
    assert counts[119] == Count("synthesised", 120, 600, "train source 2 of 2, synth", 240.0)
    assert (
        lines[0] == "  synthesised 20 of 600 clips (train source 2 of 2, synth), about 5 min left"
    )
    assert lines[-1] == "  synthesised 600 of 600 clips (train source 2 of 2, synth)"
    assert len(lines) == 30  # one each 10 s of the 300 s, the last one among them


def test_time_left_in_words():
    assert time_left(None) == ""
    assert time_left(0.2) == "about 1 s left"
    assert time_left(89) == "about 89 s left"
    assert time_left(200) == "about 3 min left"
    assert Count("prepared", 3, 10, "eval source 1 of 1, manifest", None).line() == (
        "prepared 3 of 10 clips (eval source 1 of 1, manifest)"
    )
