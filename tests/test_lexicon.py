"""lexicon.tsv: precise errors for bad files; term matching as term recall needs it."""

from __future__ import annotations

import pytest

from workbench.evaluate.normalize import get_normalizer
from workbench.lexicon import Lexicon, LexiconError, Term, load_lexicon

HEADER = "term\tspoken\tcategory\tmisrecognitions\n"


def write(tmp_path, text: str | bytes):
    path = tmp_path / "lexicon.tsv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_reads_terms_spoken_forms_and_misrecognitions(tmp_path):
    path = write(
        tmp_path,
        "# comment\n"
        + HEADER
        + "metoprolol\tmeh TOE pro lol|meto\tdrug\tmeta prolol\nCOPD\t\tabbr\t\n",
    )
    lex = load_lexicon(path)
    assert len(lex) == 2
    term = lex.get("Metoprolol")
    assert term.spoken == ("meh TOE pro lol", "meto")
    assert term.misrecognitions == ("meta prolol",)
    assert term.line == 3
    assert lex.get("copd").spoken_forms == ("COPD",)
    assert lex.categories() == ["drug", "abbr"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEADER + "a\t\tdrug\t\nA\t\tdrug\t\n",
            "lexicon.tsv:3: duplicate term 'A' (first on line 2)",
        ),
        (HEADER + "\tx\tdrug\t\n", "lexicon.tsv:2: empty term"),
        (HEADER + "aspirin\t\t\t\n", "lexicon.tsv:2: term 'aspirin' has no category"),
        (HEADER + "a\tb\tc\td\te\n", "lexicon.tsv:2: 5 tab-separated cells, the header has 4"),
        ("term\tkind\n", "lexicon.tsv:1: header must name"),
        ("", "empty; expected a header row"),
        (b"term\tcategory\ncaf\xe9\tx\n", "lexicon.tsv:2: not UTF-8 text"),
    ],
)
def test_bad_lexicons(tmp_path, text, expected):
    with pytest.raises(LexiconError) as err:
        load_lexicon(write(tmp_path, text))
    assert expected in str(err.value)


def test_every_problem_is_listed(tmp_path):
    path = write(tmp_path, HEADER + "\t\tdrug\t\nx\t\t\t\nx\t\tdrug\t\nx\t\tdrug\t\n")
    with pytest.raises(LexiconError) as err:
        load_lexicon(path)
    assert len(err.value.problems) == 3  # empty term, no category, one duplicate


LEX = Lexicon(
    [
        Term("metoprolol", "drug"),
        Term("atrial fibrillation", "diagnosis"),
        Term("statin", "drug"),
        Term("HbA1c", "abbreviation"),
        Term("北京", "place"),
    ]
)

# (text, terms expected to be found)
MATCHES = [
    ("Start Metoprolol, 25 mg.", {"metoprolol"}),
    ("known atrial fibrillation", {"atrial fibrillation"}),
    ("atrial flutter, not fibrillation", set()),
    ("on atorvastatin", set()),  # whole words only
    ("a statin was added", {"statin"}),
    ("check the HbA1c today", {"HbA1c"}),
    ("meta prolol", set()),
]


@pytest.mark.parametrize(("text", "expected"), MATCHES)
def test_find_terms_golden(text, expected):
    found = {t.term for t in LEX.find_terms(text, get_normalizer("en"))}
    assert found == expected


# (text, the spans' text): where a term is written, for the training loss's term weight
SPANS = [
    ("Start Metoprolol, 25 mg.", ["Metoprolol"]),
    ("known atrial  fibrillation and a statin", ["atrial  fibrillation", "statin"]),
    ("on atorvastatin", []),  # whole words only
    ("metoprolol-induced", ["metoprolol"]),
    ("HbA1c and hba1c", ["HbA1c", "hba1c"]),
    ("meta prolol", []),
]


@pytest.mark.parametrize(("text", "expected"), SPANS)
def test_spans_golden(text, expected):
    assert [text[a:b] for a, b in LEX.spans(text)] == expected


def test_spans_prefer_the_longer_term_and_unspaced_runs():
    lex = Lexicon([Term("insulin", "drug"), Term("insulin glargine", "drug")])
    assert lex.spans("insulin glargine, then insulin") == [(0, 16), (23, 30)]
    assert [("我明天要去北京。"[a:b]) for a, b in LEX.spans("我明天要去北京。", spaced=False)] == [
        "北京"
    ]
    assert LEX.spans("我明天要去北京。") == []


def test_find_terms_in_unspaced_scripts():
    normalize = get_normalizer("zh")
    assert [t.term for t in LEX.find_terms("我明天要去北京。", normalize, spaced=False)] == ["北京"]
    assert LEX.find_terms("我明天要去北京。", normalize) == []  # as words it is not there


def test_prompt_text_is_cut_to_its_budget():
    assert LEX.prompt_text() == "metoprolol, atrial fibrillation, statin, HbA1c, 北京"
    assert LEX.prompt_text(max_chars=25) == "metoprolol"
    assert LEX.prompt_text(categories=["drug"]) == "metoprolol, statin"


def test_a_plain_list_one_term_a_line(tmp_path):
    path = tmp_path / "drugs.txt"
    path.write_text("# cardiology\napixaban\n\nsacubitril/valsartan\r\nInsulin glargine\n")
    lex = load_lexicon(path)
    assert [(t.term, t.category, t.line) for t in lex] == [
        ("apixaban", "term", 2),
        ("sacubitril/valsartan", "term", 4),
        ("Insulin glargine", "term", 5),
    ]
    assert lex.get("apixaban").spoken_forms == ("apixaban",)
    path.write_text("apixaban\nwarfarin\nApixaban\n")
    with pytest.raises(LexiconError, match=r"drugs.txt:3: duplicate term 'Apixaban'"):
        load_lexicon(path)


def test_a_csv_or_tsv_with_named_columns(tmp_path):
    path = tmp_path / "terms.csv"
    path.write_text(
        'Term,Spoken\nmetoprolol,meh TOE pro lol\n"amlodipine, besylate",\n# a comment\n'
    )
    lex = load_lexicon(path)
    assert [(t.term, t.category, t.spoken) for t in lex] == [
        ("metoprolol", "term", ("meh TOE pro lol",)),
        ("amlodipine, besylate", "term", ()),
    ]
    tsv = write(tmp_path, "term\tmisrecognitions\nHbA1c\tH B A 1 C|hba one c\n")
    assert load_lexicon(tsv).get("hba1c").misrecognitions == ("H B A 1 C", "hba one c")
    path.write_text("term,category,notes\nx,drug,\n")
    with pytest.raises(LexiconError, match=r"terms.csv:1: header must name the comma-separated"):
        load_lexicon(path)


def test_a_table_without_a_term_column_says_so(tmp_path):
    path = tmp_path / "terms.csv"
    path.write_text("name,kind\naspirin,drug\n")
    with pytest.raises(LexiconError) as err:
        load_lexicon(path)
    assert str(err.value) == (
        f"{path}:1: a comma-separated table needs a header row naming its columns from term, "
        "spoken, category, misrecognitions, weight (term required); got 'name,kind'. "
        "A plain list has one term a line and no header"
    )
