"""``report.html``: the side-by-side report as one self-contained page (inline SVG plots)."""

from __future__ import annotations

from html import escape

from workbench.evaluate.compare import teacher_lines
from workbench.evaluate.groups import SYSTEMS, in_view, views

COLORS = {
    "base": "#8a8f98",
    "adapted": "#2f7de1",
    "base_prompt": "#c49a3a",
    "adapted_prompt": "#3aa57a",
    "teacher": "#8e44ad",
}
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;max-width:1200px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #d5d9e0;padding:.3rem .6rem;text-align:left}
th{background:#f2f4f7}.num{text-align:right;font-variant-numeric:tabular-nums}
.sub{background:#ffe2a8}.del{background:#ffc9c9;text-decoration:line-through}.ins{background:#c9e7ff}
.fixed{color:#1d7a3a}.broken{color:#b3261e}.muted{color:#6b7280}
svg text{font:12px system-ui,sans-serif}
"""


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _bars(title: str, groups: dict[str, dict[str, float | None]], width: int = 560) -> str:
    """Grouped horizontal bars: one group per label, one bar per system, values in [0, 1]."""
    rows = []
    y = 24
    for label, values in groups.items():
        rows.append(f'<text x="0" y="{y + 10}">{escape(label)}</text>')
        for system, value in values.items():
            v = 0.0 if value is None else max(0.0, min(1.0, value))
            w = int(v * (width - 260))
            rows.append(
                f'<rect x="170" y="{y}" width="{w}" height="12" fill="{COLORS.get(system, "#999")}"/>'
                f'<text x="{176 + w}" y="{y + 10}">{escape(system)} {_pct(value)}</text>'
            )
            y += 15
        y += 8
    head = f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>'
    return f'<svg width="{width}" height="{y + 4}" role="img">{head}{"".join(rows)}</svg>'


def _aligned(chunks: list[dict], side: str) -> str:
    out = []
    for c in chunks:
        if c["op"] == "equal":
            out.append(escape(c[side]))
        elif c["op"] == "substitute":
            out.append(f'<span class="sub" title="{escape(c["ref"])}">{escape(c[side])}</span>')
        elif c["op"] == "delete" and side == "ref":
            out.append(f'<span class="del">{escape(c["ref"])}</span>')
        elif c["op"] == "insert" and side == "hyp":
            out.append(f'<span class="ins">{escape(c["hyp"])}</span>')
    return " ".join(x for x in out if x)


# What each system is, in words, beside its name in the figures table.
SYSTEM_WORDS = {
    "base": "the base model, as it comes",
    "adapted": "the base model with the adapter",
    "teacher": "the model that labelled the training data (or train.teacher)",
    "adapted_gated": "the adapter's transcript only where it changes a lexicon term, else the base's",
    "base_prompt": "the base model with the lexicon as prompt",
    "adapted_prompt": "the adapter with the lexicon as prompt",
    "base_boost": "the base model with lexicon-aware decoding: the boost (when above 0), then "
    "known misrecognitions and near misses of a term rewritten to it",
    "adapted_boost": "the adapter with lexicon-aware decoding: the boost (when above 0), then "
    "known misrecognitions and near misses of a term rewritten to it",
    "adapted_gated_boost": "the term gate over the two boosted systems: the boosted adapter's "
    "transcript only where it changes a lexicon term, else the boosted base's",
}


def figures_table(report: dict) -> str:
    """The figures of every set and system, with the WER difference per set, as a table."""
    systems = list(SYSTEMS)
    parts = [
        "<table class='wb-figures'><tr><th>set</th><th>n</th><th>system</th><th>what it is</th>"
        "<th>WER</th><th>CER</th><th>term recall</th><th>S / D / I</th><th>RTF</th></tr>",
    ]
    for name, data in report["sets"].items():
        present = [s for s in systems if s in data]
        label = escape(name)
        if data.get("independent") is False:
            label += "<br><b class='broken'>not independent</b>"
        for i, system in enumerate(present):
            f = data[system]
            lead = (
                f"<td rowspan='{len(present) + 1}'>{label}</td><td rowspan='{len(present) + 1}' class='num'>{data['n']}</td>"
                if i == 0
                else ""
            )
            parts.append(
                f"<tr>{lead}<td>{system}</td><td class='muted'>{escape(SYSTEM_WORDS.get(system, ''))}</td>"
                f"<td class='num'>{_pct(f['wer'])}</td><td class='num'>{_pct(f['cer'])}</td>"
                f"<td class='num'>{_pct(f['term_recall'])}</td><td class='num'>{f['substitutions']} / "
                f"{f['deletions']} / {f['insertions']}</td><td class='num'>{f['rtf']}</td></tr>"
            )
        d = data["wer_difference"]
        parts.append(
            f"<tr><td>difference</td><td class='num' colspan='6'>WER {100 * d['value']:+.1f} points "
            f"(95% CI {100 * d['ci95'][0]:+.1f} to {100 * d['ci95'][1]:+.1f}); fixed {data['fixed']}, "
            f"broken {data['broken']}, unchanged {data['unchanged']}</td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def parts_table(report: dict) -> str:
    """One row per part of every set, in order (her recordings first when the recipe lists
    them first, then the synthetic held-out part, then the general set): n, and base and
    adapted WER, CER and term recall. Empty when no set has parts."""
    shown = views(report)
    if not any(v["part"] is not None for v in shown):
        return ""
    parts = [
        "<h3>Part by part</h3><p class='muted'>Each part of the evaluation on its own, in "
        "order (your own held-out recordings first when there are some), then the sets "
        "without parts: n clips, and the base and adapted models' figures.</p>",
        "<table class='wb-parts'><tr><th>what</th><th>n</th><th>WER base</th>"
        "<th>WER adapted</th><th>CER base</th><th>CER adapted</th><th>term recall base</th>"
        "<th>term recall adapted</th></tr>",
    ]
    for view in shown:
        b, a = view["figures"]["base"], view["figures"]["adapted"]
        change = a["wer"] - b["wer"]
        tone = "broken" if change > 0 else "fixed" if change < 0 else ""
        parts.append(
            f"<tr><td>{escape(view['label'])}</td><td class='num'>{view['n']}</td>"
            f"<td class='num'>{_pct(b['wer'])}</td><td class='num {tone}'>{_pct(a['wer'])}</td>"
            f"<td class='num'>{_pct(b.get('cer'))}</td><td class='num'>{_pct(a.get('cer'))}</td>"
            f"<td class='num'>{_pct(b.get('term_recall'))}</td>"
            f"<td class='num'>{_pct(a.get('term_recall'))}</td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def groups_table(report: dict) -> str:
    """Per set, by voice/speaker and by condition: a row per group with n, both systems' WER
    and term recall, and term false alarms, so one good voice cannot hide a bad one (and the
    teacher's WER and term recall where the report has a teacher)."""
    parts = []
    for name, data in report["sets"].items():
        teacher = "teacher" in data
        for field, groups in (data.get("groups") or {}).items():
            if field == "part":
                continue  # shown by parts_table
            title = "voice / speaker" if field == "speaker" else field
            parts.append(
                f"<h3>{escape(name)} by {title}</h3><table class='wb-groups'><tr><th>{title}</th>"
                "<th>n</th><th>WER base</th><th>WER adapted</th><th>change</th>"
                "<th>term recall base</th><th>term recall adapted</th>"
                "<th>term false alarms base / adapted</th>"
                + ("<th>WER teacher</th><th>term recall teacher</th>" if teacher else "")
                + "</tr>"
            )
            for value, row in groups.items():
                b, a = row["base"], row["adapted"]
                t = row.get("teacher") or {}
                with_teacher = (
                    f"<td class='num'>{_pct(t.get('wer'))}</td>"
                    f"<td class='num'>{_pct(t.get('term_recall'))}</td>"
                    if teacher
                    else ""
                )
                change = 100 * (a["wer"] - b["wer"])
                alarms = (
                    f"{b['term_false_alarms']} / {a['term_false_alarms']}"
                    if "term_false_alarms" in b
                    else "–"
                )
                parts.append(
                    f"<tr><td>{escape(value)}</td><td class='num'>{row['n']}</td>"
                    f"<td class='num'>{_pct(b['wer'])}</td><td class='num'>{_pct(a['wer'])}</td>"
                    f"<td class='num {'broken' if change > 0 else 'fixed' if change < 0 else ''}'>"
                    f"{change:+.1f} pt</td><td class='num'>{_pct(b.get('term_recall'))}</td>"
                    f"<td class='num'>{_pct(a.get('term_recall'))}</td>"
                    f"<td class='num'>{alarms}</td>{with_teacher}</tr>"
                )
            parts.append("</table>")
    return "\n".join(parts)


def decoding_line(report: dict) -> str:
    """How both systems were decoded, in words (older reports: the beam size alone)."""
    d = report["decoding"]
    return d.get("summary") or f"beams {d['num_beams']}, no guards"


def decoding_table(report: dict) -> str:
    """Per set and system: windows that fell back (by the temperature that passed) or were
    dropped as silence. Empty for reports written before the guards."""
    rows = []
    for name, data in report["sets"].items():
        for system in SYSTEMS:
            counts = data.get(system, {}).get("decoding") if system in data else None
            if not counts:
                continue
            by = ", ".join(
                f"{'none passed' if k == 'failed' else 't=' + k}: {v}"
                for k, v in counts["fell_back_by_temperature"].items()
            )
            rows.append(
                f"<tr><td>{escape(name)}</td><td>{system}</td><td class='num'>{counts['windows']}</td>"
                f"<td class='num'>{counts['fell_back']}</td><td>{escape(by) or '–'}</td>"
                f"<td class='num'>{counts['dropped_no_speech']}</td><td class='num'>{counts['capped']}</td></tr>"
            )
    if not rows:
        return ""
    head = (
        "<table class='wb-decoding'><tr><th>set</th><th>system</th><th>windows</th><th>fell back</th>"
        "<th>passed at</th><th>dropped (no speech)</th><th>kept at token cap</th></tr>"
    )
    return "<h2>Decoding guards</h2>" + head + "".join(rows) + "</table>"


def charts(report: dict) -> str:
    """Inline SVG plots: WER per set, term recall by category, error types."""
    systems = list(SYSTEMS)
    parts = [
        _bars(
            "WER per set (lower is better)",
            {n: {s: d[s]["wer"] for s in systems if s in d} for n, d in report["sets"].items()},
        )
    ]
    for name, data in report["sets"].items():
        cats = sorted(
            set().union(*(data[s]["term_recall_by_category"] for s in systems if s in data))
        )
        if cats:
            parts.append(
                _bars(
                    f"term recall by category: {name}",
                    {
                        c: {
                            s: data[s]["term_recall_by_category"].get(c)
                            for s in ("base", "adapted")
                        }
                        for c in cats
                    },
                )
            )
        total = {
            s: data[s]["substitutions"] + data[s]["deletions"] + data[s]["insertions"]
            for s in ("base", "adapted")
        }
        parts.append(
            _bars(
                f"error types: {name} (share of each system's errors)",
                {
                    k: {
                        s: (data[s][k] / total[s] if total[s] else 0.0) for s in ("base", "adapted")
                    }
                    for k in ("substitutions", "deletions", "insertions")
                },
            )
        )
    return "\n".join(parts)


def utterance_table(utterances: list[dict], set_name: str = "") -> str:
    """Every utterance: reference, base and adapted, errors coloured (S, D, I); and the
    teacher's transcript with its WER where the report has a teacher."""
    teacher = any("teacher" in u for u in utterances)
    parts = [
        "<table class='wb-utterances'><tr><th>id</th><th>status</th><th>reference</th><th>base</th><th>adapted</th>"
        + ("<th>teacher</th>" if teacher else "")
        + "</tr>"
    ]
    for u in utterances:
        told = (
            f"<td>{escape(u.get('teacher', ''))} <span class='muted'>({_pct(u.get('teacher_wer'))})</span></td>"
            if teacher
            else ""
        )
        parts.append(
            f"<tr><td>{escape((set_name + ': ') if set_name else '')}{escape(u['id'])}</td><td class='{u['status']}'>{u['status']}</td>"
            f"<td>{_aligned(u['adapted_alignment'], 'ref')}</td>"
            f"<td>{_aligned(u['base_alignment'], 'hyp')} <span class='muted'>({_pct(u['base_wer'])})</span></td>"
            f"<td>{_aligned(u['adapted_alignment'], 'hyp')} <span class='muted'>({_pct(u['adapted_wer'])})</span></td>{told}</tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def _dependence_notes(report: dict) -> list[str]:
    """A warning per set kept with ``data.allow_dependent_general``, and why it is dependent."""
    out = []
    for name, data in report["sets"].items():
        if data.get("independent") is False:
            reasons = "".join(
                f"<li>{escape(r)}</li>" for r in data.get("not_independent_because", [])
            )
            out.append(
                f"<p class='broken'><b>{escape(name)}: not independent.</b> This set shares "
                "recordings, speakers or source collections with the training or replay data "
                "(kept by <code>data.allow_dependent_general</code>): its figures measure what "
                f"training saw, not forgetting on unseen speech.</p><ul>{reasons}</ul>"
            )
    return out


def teacher_paragraph(report: dict) -> str:
    """The teacher beside the student (:func:`teacher_lines`); empty without a teacher."""
    lines = teacher_lines(report)
    if not lines:
        return ""
    return "<div class='wb-teacher'>" + "".join(f"<p>{escape(x)}</p>" for x in lines) + "</div>"


GENERATOR = "<meta name='generator' content='whisper-domain-workbench'>"


def is_report_page(head: str) -> bool:
    """Whether the start of an HTML file is a report page the workbench wrote."""
    return GENERATOR in head or (
        head.startswith("<!doctype html>") and ": base vs adapted</title>" in head
    )


def render_report(report: dict) -> str:
    """The whole report as one self-contained HTML page."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'>{GENERATOR}<title>{escape(report['recipe'])}: "
        f"base vs adapted</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(report['recipe'])}: base vs adapted</h1>",
        f"<p class='muted'>base model {escape(report['base_model'])} · adapter {escape(report['adapter'])} · "
        f"{escape(decoding_line(report))}</p>",
        parts_table(report),
        figures_table(report),
        teacher_paragraph(report),
        *_dependence_notes(report),
        groups_table(report),
        decoding_table(report),
        charts(report),
    ]
    for view in views(report):
        utts = in_view(report["sets"][view["set"]]["utterances"], view["part"])
        parts.append(f"<h2>{escape(view['label'])}: every utterance</h2>")
        parts.append(utterance_table(utts))
    parts.append("</body></html>")
    return "\n".join(parts)
