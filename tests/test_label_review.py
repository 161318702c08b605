"""Reviewing pseudo-labels: decisions land in kept.jsonl, marked as reviewed."""

from __future__ import annotations

import pytest
from label_folder import write_label_folder

from workbench.data.manifest import read_manifest
from workbench.label import KEPT, LABELS, LabelError, check_label_target
from workbench.label_review import Decision, load_decisions, review_rows, save_review
from workbench.safe_write import TargetError


@pytest.fixture
def folder(tmp_path):
    """A label folder as `workbench label` writes it: c was dropped by the thresholds."""
    return write_label_folder(tmp_path / "labels")


def test_rows_come_least_confident_first(folder):
    rows = review_rows(folder)
    assert [r.utterance.id for r in rows] == ["c", "b", "a"]
    assert [r.kept for r in rows] == [False, True, True]
    assert rows[0].reasons == ("avg_logprob -1.500 < -1",) and rows[0].decision is None


def test_an_edit_lands_in_the_manifest_as_reviewed(folder):
    kept = save_review(folder, {"b": Decision(True, "metoprolol  twice"), "a": Decision(False)})
    assert [(u.id, u.text, u.label_source) for u in kept] == [("b", "metoprolol twice", "reviewed")]
    assert read_manifest(folder / KEPT) == kept
    # a clip the thresholds dropped, accepted by a person, is trained on
    kept = save_review(folder, {"c": Decision(True, "okay")})
    assert [(u.id, u.text, u.label_source) for u in kept] == [
        ("b", "metoprolol twice", "reviewed"),
        ("c", "okay", "reviewed"),
    ]
    assert set(load_decisions(folder)) == {"a", "b", "c"}
    assert review_rows(folder)[0].decision == Decision(True, "okay")
    assert read_manifest(folder / LABELS)[1].text == "metro pole"  # the teacher's, untouched


def test_review_errors(folder, tmp_path):
    with pytest.raises(ValueError, match="needs its transcript"):
        Decision(True, "  ")
    with pytest.raises(LabelError, match="no clip 'zz'"):
        save_review(folder, {"zz": Decision(False)})
    with pytest.raises(LabelError, match="not a folder written by `workbench label`"):
        review_rows(tmp_path)
    save_review(folder, {"a": Decision(False)})
    # labelling again would lose the review: only with --force
    with pytest.raises(TargetError, match="holds a person's review"):
        check_label_target(folder)
    check_label_target(folder, force=True)
    (folder / "review.json").write_text("{broken")
    with pytest.raises(LabelError, match="cannot be read"):
        load_decisions(folder)
