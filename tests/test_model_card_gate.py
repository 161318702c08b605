"""The model card recommends the term gate when the adapter costs everyday speech."""

from __future__ import annotations

import pytest

from workbench.export.model_card import GATE_ADVICE_RISE, gate_advice, model_card
from workbench.recipe import load_recipe

RECIPE = load_recipe("data_recipes/medical_tiny-en_lora.yaml")


def report(general_rise: float, gated: bool = True) -> dict:
    def systems(base: float, adapted: float, recall: float | None) -> dict:
        out = {
            "base": {"wer": base, "cer": base / 2, "term_recall": recall},
            "adapted": {"wer": adapted, "cer": adapted / 2, "term_recall": recall},
        }
        if gated:
            out["adapted_gated"] = {"wer": base, "cer": base / 2, "term_recall": recall}
        d = adapted - base
        out["wer_difference"] = {"value": d, "ci95": [d - 0.02, d + 0.02]}
        return {**out, "fixed": 1, "broken": 2, "unchanged": 3}

    return {
        "sets": {
            "eval": {"n": 94, **systems(0.548, 0.312, 0.53)},
            "general": {"n": 20, **systems(0.096, 0.096 + general_rise / 100, None)},
        }
    }


@pytest.mark.parametrize(
    ("rise", "gated", "advised"),
    [(6.6, True, True), (GATE_ADVICE_RISE, True, False), (0.0, True, False), (6.6, False, False)],
)
def test_the_gate_is_advised_only_when_everyday_speech_got_worse(rise, gated, advised):
    lines = gate_advice(report(rise, gated), RECIPE)
    assert bool(lines) == advised
    if advised:
        text = "\n".join(lines)
        assert f"raises WER by {rise:.1f} points" in text and "n=20" in text
        assert "| general | 20 | adapted_gated | 0.096 | 0.048 | - |" in text
        assert "| eval | 94 | adapted | 0.312 | 0.156 | 0.530 |" in text
        assert "--term-gate" in text and "term_gate=true" in text


def test_the_card_carries_the_advice():
    info = {"meta": {}, "config": {"r": 16, "lora_alpha": 32}}
    card = model_card(RECIPE, info, report(6.6), {"step": 100, "state": "finished"})
    assert "## Everyday speech: the term gate" in card
    assert card.index("## Everyday speech") < card.index("## Intended use")
    calm = model_card(RECIPE, info, report(0.5), {"step": 100, "state": "finished"})
    assert "## Everyday speech" not in calm and "term_gate=true" in calm  # serve section
