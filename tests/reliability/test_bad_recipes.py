"""Generated bad recipes and lexicons: precise errors, never a crash, nothing executed.

A shipped recipe is mutated at random (a value of the wrong type, an unknown key, a number
out of range, a path to nothing) and random text is thrown at both parsers; every outcome is
a loaded recipe or a ``RecipeError`` whose problems name the file and the key.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.cli import main
from workbench.lexicon import LexiconError, load_lexicon
from workbench.recipe import load_recipe, read_recipe_data
from workbench.schema import RecipeError

pytestmark = pytest.mark.reliability

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = read_recipe_data(PROJECT / "data_recipes" / "medical_tiny-en_lora.yaml")
RUNS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def key_paths(data, prefix=()) -> list[tuple]:
    """Every key path of nested dicts and lists."""
    out = []
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        out.append((*prefix, key))
        if isinstance(value, (dict, list)) and value:
            out += key_paths(value, (*prefix, key))
    return out


PATHS = [*key_paths(SHIPPED), ("lora", "rank"), ("train", "learning_rate"), ("eval", "batch_size")]
WRONG = st.one_of(
    st.sampled_from(
        [None, True, "ten", -1, 0, 10**12, -0.5, 1e308, math.inf, math.nan, [], {}, [1, "a"]]
    ),
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=2),
    st.text(max_size=12),
)


@st.composite
def mutated(draw) -> tuple[dict, str]:
    data = copy.deepcopy(SHIPPED)
    path = draw(st.sampled_from(PATHS))
    kind = draw(st.sampled_from(["replace", "unknown", "delete", "missing-file"]))
    parent = data
    for part in path[:-1]:
        parent = parent.setdefault(part, {}) if isinstance(parent, dict) else parent[part]
    last = path[-1]
    if kind == "replace":
        parent[last] = draw(WRONG)
    elif kind == "unknown" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["colour", "lr", "rnak", "steps", "x"]))] = draw(WRONG)
    elif kind == "delete" and isinstance(parent, dict):
        parent.pop(last, None)
    else:
        data.setdefault("lexicon", {})["path"] = "no/such/lexicon.tsv"
    return data, f"{kind} {'.'.join(map(str, path))}"


def check_outcome(path: Path) -> RecipeError | None:
    """Load; a RecipeError must name the file and a key for each problem."""
    try:
        load_recipe(path, check_model=False)
    except RecipeError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file in (str(path), "command line") or problem.file.endswith(
                "domain.yaml"
            ), problem
            assert problem.message and "\n" not in problem.message, problem
        return exc
    return None


@RUNS
@given(mutated())
def test_mutated_recipes_load_or_say_where(tmp_path, case):
    data, what = case
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    error = check_outcome(path)
    if what.startswith("missing-file"):
        assert error is not None and any(p.key == "lexicon.path" for p in error.problems)


@RUNS
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_random_text_is_a_recipe_error(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    check_outcome(path)


HOSTILE = [
    "!!python/object/apply:os.system ['touch {mark}']",
    "name: x\nbase_model: !!python/object/apply:os.system ['touch {mark}']",
    "name: !!python/name:os.system x",
    "name: x\ntrain: !!python/object/new:builtins.open ['{mark}', 'w']",
    "name: x\nlexicon: {{path: !!binary aGVsbG8=}}",
    "name: &a x\n<<: *a",
    # "billion laughs": nested aliases that would expand to a billion strings
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    + "name: laughs\n",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_yaml_tags_and_alias_bombs_are_refused_and_nothing_runs(tmp_path, text, capsys):
    mark = tmp_path / "executed"
    path = tmp_path / "recipe.yaml"
    path.write_text(text.format(mark=mark))
    start = time.perf_counter()
    assert main(["recipe", "validate", str(path)]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err
    assert not mark.exists()


# --- lexicons ----------------------------------------------------------------------------

CELLS = st.one_of(
    st.sampled_from(["statin", "Statin", "", " ", "drug", "abbr", "a|b", "x\u00a0y", "é"]),
    st.text(
        alphabet=st.characters(exclude_characters="\t\n\r", exclude_categories=("Cs",)), max_size=8
    ),
)


@st.composite
def lexicon_bytes(draw) -> bytes:
    header = draw(
        st.sampled_from(
            [
                "term\tspoken_forms\tcategory\tmisrecognitions",
                "term\tcategory",
                "term\tkind",
                "",
                "TERM\tCATEGORY",
            ]
        )
    )
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=6), max_size=8))
    text = header + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    raw = bytearray(text.encode("utf-8"))
    if draw(st.booleans()) and raw:  # a stray byte that is not UTF-8
        raw.insert(draw(st.integers(0, len(raw))), 0xFF)
    return bytes(raw)


@RUNS
@given(lexicon_bytes())
def test_generated_lexicons_load_or_name_file_and_line(tmp_path, raw):
    path = tmp_path / "lexicon.tsv"
    path.write_bytes(raw)
    try:
        lexicon = load_lexicon(path)
    except LexiconError as exc:
        lines = str(exc).splitlines()
        assert lines and all(str(path) in line for line in lines if line.strip()), str(exc)
        return
    terms = [t.term.casefold() for t in lexicon]
    assert len(terms) == len(set(terms))  # duplicates never pass
    assert all(t.strip() for t in terms)
