"""Test helper: a folder as `workbench label` writes it (three clips; c dropped)."""

from __future__ import annotations

import json
from pathlib import Path

from audio_files import tone

from workbench.data.manifest import Utterance, write_manifest
from workbench.label import KEPT, LABELS, SUMMARY


def write_label_folder(out: Path) -> Path:
    """Clips a (confident), b (less so), c (dropped by the thresholds), with their tones."""
    utts = [
        Utterance(
            id=name,
            audio=str(tone(out / f"{name}.wav", 300 + 100 * i)),
            text=text,
            label_source="teacher",
            confidence={"avg_logprob": lp, "compression_ratio": 1.1, "no_speech_prob": 0.01},
            terms=["metoprolol"] if "metoprolol" in text else [],
        )
        for i, (name, text, lp) in enumerate(
            [("a", "metoprolol daily", -0.1), ("b", "metro pole", -0.6), ("c", "uh", -1.5)]
        )
    ]
    write_manifest(out / LABELS, utts)
    write_manifest(out / KEPT, utts[:2])
    summary = {
        "written_by": "workbench label",
        "dropped_clips": [{"id": "c", "reasons": ["avg_logprob -1.500 < -1"]}],
    }
    (out / SUMMARY).write_text(json.dumps(summary))
    return out
