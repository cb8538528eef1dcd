"""Per-process caches added for batch speed: each must give what the uncached computation gives,
and be keyed by everything its result depends on (a stale hit would be a wrong conversion)."""

from __future__ import annotations

import pytest

from migrate.megatron.schema import OptionSpec, Schema, load_schema
from migrate.primus import get_profile
from migrate.primus.emit import emitter


# ---- Schema.defaults ----------------------------------------------------------------------

def _schema(*specs: tuple[str, str, object]) -> Schema:
    return Schema("t", "test", [OptionSpec(option_strings=(opt,), dest=dest, default=default)
                                for opt, dest, default in specs])


def test_defaults_first_registration_wins_and_each_call_is_a_fresh_dict():
    schema = _schema(("--a", "a", 1), ("--b", "b", None), ("--a2", "a", 2))
    first = schema.defaults()
    assert first == {"a": 1, "b": None}
    first["a"] = 99
    first["c"] = 3
    assert schema.defaults() == {"a": 1, "b": None}


def test_defaults_follow_a_replaced_option_list():
    schema = _schema(("--a", "a", 1))
    assert schema.defaults() == {"a": 1}
    schema.options = [OptionSpec(option_strings=("--z",), dest="z", default="x")]
    assert schema.defaults() == {"z": "x"}


def test_defaults_of_an_entry_schema_include_its_providers():
    base = load_schema("rocm_dev")
    for entry in base.entries:
        derived = base.for_entry(entry)
        if derived is not base and set(derived.defaults()) != set(base.defaults()):
            assert set(base.defaults()) < set(derived.defaults())
            return
    pytest.skip("no entry script of rocm_dev adds options")


# ---- preset shortlist ---------------------------------------------------------------------

def _run_like(profile, preset: str) -> tuple[dict, dict]:
    defaults = profile.schema().defaults()
    run = dict(defaults)
    run.update({k: v for k, v in profile.load_model_preset(preset).items() if k in defaults})
    return defaults, run


def _uncached(profile, defaults, run):
    emitter._SHORTLISTS.clear()
    try:
        return emitter.shortlist(profile, defaults, run, run)
    finally:
        emitter._SHORTLISTS.clear()


def test_shortlist_cache_is_keyed_by_the_run_architecture():
    profile = get_profile("primus-26.5")
    defaults, small = _run_like(profile, "llama3.1_8B")
    _, large = _run_like(profile, "llama3.1_70B")
    want_small, want_large = _uncached(profile, defaults, small), _uncached(profile, defaults, large)
    assert want_small[0] == "llama3.1_8B" and want_large[0] != "llama3.1_8B"
    # warm cache, alternating: each run gets its own answer
    assert emitter.shortlist(profile, defaults, small, small) == want_small
    assert emitter.shortlist(profile, defaults, large, large) == want_large
    assert emitter.shortlist(profile, defaults, small, small) == want_small
    # a changed architecture key (not a batch size) is a different question
    wider = {**small, "num_layers": large["num_layers"], "hidden_size": large["hidden_size"]}
    assert emitter.shortlist(profile, defaults, wider, wider) == _uncached(profile, defaults, wider)


def test_shortlist_cache_ignores_non_architecture_keys_only():
    profile = get_profile("primus-26.5")
    defaults, run = _run_like(profile, "llama3.1_8B")
    want = _uncached(profile, defaults, run)
    emitter.shortlist(profile, defaults, run, run)
    other_batch = {**run, "micro_batch_size": 7, "global_batch_size": 448}
    assert emitter.shortlist(profile, defaults, other_batch, other_batch) == want


def test_frozen_items_tell_apart_values_equal_in_python():
    keys = frozenset({"k"})
    pictures = {emitter.frozen_items({"k": v}, keys) for v in (1, 1.0, True, [1], (1,), "1", None)}
    assert len(pictures) == 7
    assert emitter.frozen_items({}, keys) == ()


# ---- facts about a cached preset baseline -------------------------------------------------

def test_baseline_facts_are_per_baseline_object(tmp_path):
    from migrate.diagnostics import Origin

    models = tmp_path / "models"
    (models / "megatron").mkdir(parents=True)
    inside = Origin(str(models / "megatron" / "language_model.yaml"), 1)
    outside = Origin(str(tmp_path / "modules" / "pre_trainer.yaml"), 1)
    one = ({"num_layers": 2}, None, {"num_layers": inside, "lr": outside}, {"model_type": "gpt"})
    two = ({"lr": 1.0}, None, {"lr": outside}, {"model_type": "mamba"})
    f1, f2 = emitter._baseline_facts(one, models), emitter._baseline_facts(two, models)
    assert (f1.family, f1.describes_a_model, f1.language_model_rooted, f1.size) == ("gpt", True, True, 1)
    assert (f2.family, f2.describes_a_model, f2.language_model_rooted, f2.size) == ("mamba", False, False, 0)
    assert emitter._baseline_facts(one, models) is f1
    # same content, another object: computed for that object (never confused by a reused id)
    assert emitter._baseline_facts(tuple(one), models) == f1


# ---- composed-layer freshness and YAML tree copies ------------------------------------------

def test_deleted_base_is_not_served_from_the_layer_cache(tmp_path):
    from helpers_primus import write_tree
    from migrate.diagnostics import MigrateError
    from migrate.primus.inherit import load_v26

    write_tree(tmp_path, {"base.yaml": "a: 1\n", "child.yaml": "extends: [base.yaml]\nb: 2\n"})
    assert load_v26(tmp_path / "child.yaml", {}).values == {"a": 1, "b": 2}
    (tmp_path / "base.yaml").unlink()
    with pytest.raises(MigrateError, match="not found"):
        load_v26(tmp_path / "child.yaml", {})


def test_a_folder_appearing_where_extends_found_nothing_keeps_the_cached_layer(tmp_path):
    # `locate` only takes files: a directory of that name changes nothing, a file does.
    from helpers_primus import write_tree
    from migrate.primus.inherit import load_v26

    write_tree(tmp_path, {"presets/base.yaml": "a: 1\n", "exp/child.yaml": "extends: [base.yaml]\nb: 2\n"})
    child, fallbacks = tmp_path / "exp" / "child.yaml", (tmp_path / "presets",)
    assert load_v26(child, {}, fallbacks).values == {"a": 1, "b": 2}
    (tmp_path / "exp" / "base.yaml").mkdir()
    assert load_v26(child, {}, fallbacks).values == {"a": 1, "b": 2}
    (tmp_path / "exp" / "base.yaml").rmdir()
    write_tree(tmp_path, {"exp/base.yaml": "a: 7\n"})
    assert load_v26(child, {}, fallbacks).values == {"a": 7, "b": 2}


def test_copy_tree_copies_key_lines_independently():
    from migrate.primus.yamlio import copy_tree, key_line, load_yaml_text

    data = load_yaml_text("a: 1\nnested:\n  x: [1, 2]\n  y: 3\n", "t.yaml")
    copy = copy_tree(data)
    assert copy == data and key_line(copy, "nested") == 2 and key_line(copy["nested"], "y") == 4
    copy.lines["a"] = 40
    copy["nested"].lines["y"] = 99
    copy["nested"]["x"].append(3)
    assert key_line(data, "a") == 1 and key_line(data["nested"], "y") == 4 and data["nested"]["x"] == [1, 2]


# ---- needed_overrides: same decisions as the plain algorithm ----------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from migrate.primus.emit.overrides import needed_overrides  # noqa: E402
from migrate.values import same_value  # noqa: E402

_KEYS = [f"k{i}" for i in range(8)]
_MISS = object()


def _plain_needed_overrides(baseline, run_values, expected, dests, derive, defaults, keep=()):
    """The algorithm written out directly (every trial rebuilt and compared on every dest)."""
    dests = [d for d in dests if d in run_values]
    keep = set(keep)
    changes = {d: run_values[d] for d in dests if not same_value(baseline.get(d, defaults.get(d, _MISS)), run_values[d])}
    for d in keep:
        if d in run_values:
            changes[d] = run_values[d]
    checked = [d for d in dests if d in expected]

    def values_with(ch):
        out = dict(defaults)
        out.update(baseline)
        out.update(ch)
        return out

    ref_derived = derive(values_with(changes))
    reference = {d for d in checked if not same_value(ref_derived.get(d, _MISS), expected[d])}
    for key in list(changes):
        if key in keep:
            continue
        trial = {k: v for k, v in changes.items() if k != key}
        try:
            derived = derive(values_with(trial))
        except Exception:  # noqa: BLE001 - as the emitter: a refused combination is no removal
            continue
        if not any(not same_value(derived.get(d, _MISS), expected[d]) for d in checked if d not in reference):
            del changes[key]
    return changes


def _derive(values):
    """Cross-key rules like Megatron's: a filled-in None, a product, a flag switched off, a refusal,
    and two keys that switch each other on (so either override alone suffices, not neither)."""
    out = dict(values)
    if out.get("k2") == 1 or out.get("k3") == 1:
        out["k2"] = out["k3"] = 1
    if out.get("k1") is None and type(out.get("k0")) is int:
        out["k1"] = out["k0"] * 2
    if type(out.get("k2")) is int and type(out.get("k3")) is int:
        out["k5"] = out["k2"] * out["k3"]
    if out.get("k4") == 1:
        out["k6"] = False
    if out.get("k7") == -1 and out.get("k0") == 3:
        raise ValueError("refused combination")
    values.clear()  # a derive that consumes its input must not disturb the caller
    return out


_value = st.one_of(st.none(), st.integers(-1, 3), st.booleans(), st.sampled_from([1.0, "a"]))
_partial = st.dictionaries(st.sampled_from(_KEYS), _value, max_size=8)


@settings(max_examples=300, deadline=None)
@given(defaults=_partial, baseline=_partial, run=_partial, keep=st.sets(st.sampled_from(_KEYS), max_size=2))
def test_needed_overrides_matches_the_plain_algorithm(defaults, baseline, run, keep):
    run_values = {**defaults, **run}
    try:
        expected = _derive(dict(run_values))
    except ValueError:
        return
    dests = list(_KEYS)
    try:
        want = _plain_needed_overrides(baseline, run_values, expected, dests, _derive, defaults, keep)
    except ValueError:  # the baseline with every change is itself refused: both must say so
        with pytest.raises(ValueError, match="refused combination"):
            needed_overrides(baseline, run_values, expected, dests, _derive, defaults, keep)
        return
    got = needed_overrides(baseline, run_values, expected, dests, _derive, defaults, keep)
    assert list(got.items()) == list(want.items())


def test_deep_merge_of_an_owned_base_builds_the_same_tree_and_changes_no_input():
    import copy

    from migrate.primus.inherit import deep_merge
    from migrate.primus.yamlio import load_yaml_text

    base = load_yaml_text("a: 1\nn:\n  x: 1\n  deep: {p: 1, q: [1]}\nkeep: {z: 0}\n", "base.yaml")
    top = {"a": 2, "n": {"deep": {"q": [2]}, "y": "null"}, "new": {"k": 1}}
    before_base, before_top = copy.deepcopy(base), copy.deepcopy(top)
    plain = deep_merge(base, top)
    owned = deep_merge(base, top, owned=True)
    assert owned == plain == {"a": 2, "n": {"x": 1, "deep": {"p": 1, "q": [2]}, "y": "null"}, "keep": {"z": 0},
                              "new": {"k": 1}}
    assert type(owned) is type(plain) is dict and type(owned["n"]) is type(plain["n"]) is dict
    assert base == before_base and top == before_top and base["n"].lines == before_base["n"].lines
    assert plain["keep"] is not base["keep"]  # copied unless owned


def test_warm_up_reads_every_model_preset_of_the_target_before_the_workers_fork():
    from migrate.batch.backend import ConvertSettings, PipelineBackend

    for target in ("primus-0.1", "primus-26.5"):
        PipelineBackend().warm_up(ConvertSettings(target=target))
        profile = get_profile(target)
        names = set(profile.model_presets())
        cached = {key[2] for key in emitter._RAW_PRESETS if key[:2] == (profile.name, str(profile.configs_dir))}
        assert names and names <= cached


# ---- threshold literals: the prefiltered search finds what the two plain patterns find --------

def _plain_ordering_literals(text: str, name: str) -> set[str]:
    import re

    var = rf"(?:\$\{{?{re.escape(name)}\}}?|\b{re.escape(name)}\b)"
    found = {m.group(1) for m in re.finditer(rf'"?{var}"?\s*(?:-gt|-lt|-ge|-le|<=?|>=?)\s*["\']?([\w.+-]+)', text)}
    found |= {m.group(1) for m in re.finditer(rf'["\']?([\w.+-]+)["\']?\s*(?:-gt|-lt|-ge|-le|<=?|>=?)\s*"?{var}', text)}
    return found


_FRAGMENTS = ["$X", "${X}", "X", "XY", "8", "70", "'7b'", '"', " ", "\n", "-gt", "-le", "<", ">=", "((", "))",
              "[[", "]]", "if", "then", "echo", "2>&1", "a.b", "-", "+"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=14))
def test_ordering_literals_match_the_plain_patterns(parts):
    from migrate.batch.variants import _ordering_literals

    text = "".join(parts)
    assert set(_ordering_literals(text, "X")) == _plain_ordering_literals(text, "X")


def test_ordering_literals_on_both_sides():
    from migrate.batch.variants import ordering_literals

    text = 'if [ "$SEQ" -gt 4096 ]; then :; fi\nif (( 8 < SEQ )); then :; fi\n[[ 16 -le ${SEQ} ]] && x=1\n'
    assert ordering_literals(text, "SEQ") == {"4096", "8", "16"}


def test_conversion_without_reports_has_the_same_files_otherwise():
    from pathlib import Path

    from migrate.pipeline import ConvertOptions, convert_script

    script = Path(__file__).resolve().parent.parent / "fixtures" / "batch_repo" / "llama" / "train_llama3.sh"
    full = convert_script(script, {}, (), ConvertOptions())
    bare = convert_script(script, {}, (), ConvertOptions(render_reports=False))
    assert {"report.json", "report.md"} <= set(full.files)
    assert bare.files == {k: v for k, v in full.files.items() if k not in ("report.json", "report.md")}
    assert bare.report == full.report and bare.parity.ok and full.parity.ok


def test_same_value_shortcut_for_one_object_keeps_the_rules():
    nan = float("nan")
    for value in (nan, 0, 1.5, "x", True, None, [nan], {"a": nan}):
        assert same_value(value, value)
    assert not same_value(True, 1) and not same_value(1, True) and not same_value(None, 0)
    assert same_value(1, 1.0) and same_value(nan, float("nan"))


# ---- static parity: the C-level prefilter reports what the plain comparison reports -----------

def _plain_parity(expected, resolved, profile, derive):
    """The comparison written out directly, dest by dest (no shortcut)."""
    from migrate.parity.static import INT_LISTS, PRIMUS_ONLY, _as_ints, is_runtime_value

    defaults = profile.schema().defaults()
    values = dict(resolved.values)
    for key, (_, after, _) in (resolved.trainer_rewrites or {}).items():
        values[key] = after
    derived = derive({**defaults, **values})
    table = PRIMUS_ONLY.get(profile.name, {})
    differences, ignored = [], []
    for dest in sorted(defaults):
        if dest not in expected:
            continue
        if dest in table or is_runtime_value(expected[dest]):
            ignored.append(dest)
            continue
        got = derived.get(dest, _MISS)
        if dest in INT_LISTS and _as_ints(got) is not None and _as_ints(got) == _as_ints(expected[dest]):
            continue
        if got is _MISS or not same_value(got, expected[dest]):
            differences.append((dest, expected[dest], None if got is _MISS else got))
    return differences, ignored, sorted(d for d in defaults if d not in values)


_PARITY_KEYS = ["logging_level", "rampup_batch_size", "lr", "seq", "tp", "flag", "opt", "zz"]
_shared = [None, 0, 1, 1.0, True, "x", float("nan"), [16, 8], ["16", "8"], {"unevaluated": "os.getenv()"}]
_pvalue = st.sampled_from(_shared) | st.integers(-2, 2) | st.text(max_size=2)


@settings(max_examples=300, deadline=None)
@given(defaults=st.dictionaries(st.sampled_from(_PARITY_KEYS), _pvalue, min_size=1),
       resolved=st.dictionaries(st.sampled_from(_PARITY_KEYS), _pvalue),
       expected=st.dictionaries(st.sampled_from(_PARITY_KEYS), _pvalue),
       same_from_defaults=st.sets(st.sampled_from(_PARITY_KEYS)),
       target=st.sampled_from(["primus-0.1", "primus-26.5"]))
def test_static_parity_matches_the_plain_comparison(defaults, resolved, expected, same_from_defaults, target):
    from dataclasses import dataclass, field

    from migrate.parity.static import _MISSING, check_static_parity

    # share value objects between the sides, as real runs do (both keep argparse defaults)
    for key in same_from_defaults & defaults.keys():
        expected[key] = defaults[key]
        resolved.pop(key, None)

    @dataclass
    class Resolved:
        values: dict
        trainer_rewrites: dict = field(default_factory=dict)

    class Schema:
        def defaults(self):
            return dict(defaults)

    class Profile:
        name = target

        def schema(self):
            return Schema()

    def derive(values):
        out = dict(values)
        if out.get("tp") == 1:
            out["flag"] = False
        return out

    res = Resolved(resolved)
    got = check_static_parity(expected, res, Profile(), derive=derive)
    differences, ignored, absent = _plain_parity(expected, res, Profile(), derive)
    assert [(d, e, None if r is _MISSING else r) for d, e, r in got.differences] == differences
    assert got.ignored == ignored and got.absent == absent and got.ok == (not differences)
