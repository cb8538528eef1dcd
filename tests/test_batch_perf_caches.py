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
    from migrate.primus.releases import release

    load_v26 = release("v26.5.1").load_file

    write_tree(tmp_path, {"base.yaml": "a: 1\n", "child.yaml": "extends: [base.yaml]\nb: 2\n"})
    assert load_v26(tmp_path / "child.yaml", {}).values == {"a": 1, "b": 2}
    (tmp_path / "base.yaml").unlink()
    with pytest.raises(MigrateError, match="not found"):
        load_v26(tmp_path / "child.yaml", {})


def test_a_folder_appearing_where_extends_found_nothing_keeps_the_cached_layer(tmp_path):
    # `locate` only takes files: a directory of that name changes nothing, a file does.
    from helpers_primus import write_tree
    from migrate.primus.releases import release

    load_v26 = release("v26.5.1").load_file

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


# ---- needed_overrides: what the result must satisfy, and worked examples ----------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from migrate.primus.emit.overrides import needed_overrides  # noqa: E402
from migrate.values import same_value  # noqa: E402

_KEYS = [f"k{i}" for i in range(8)]
_MISS = object()


def _merged(defaults, baseline, overrides):
    return {**defaults, **baseline, **overrides}


def _wrong(derived, expected, dests):
    return {d for d in dests if d in expected and not same_value(derived.get(d, _MISS), expected[d])}


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
def test_needed_overrides_writes_run_values_and_keeps_every_dest_right(defaults, baseline, run, keep):
    """The contract, checked from its definition: the overrides are run values; kept knobs are
    written; every dest that writing *all* differing values gets right is still right with only the
    overrides written; and when writing all of them is refused by derive(), so is the call."""
    run_values = {**defaults, **run}
    try:
        expected = _derive(dict(run_values))
    except ValueError:
        return
    differing = {d: v for d, v in run_values.items()
                 if not same_value(_merged(defaults, baseline, {}).get(d, _MISS), v)}
    every = {**differing, **{d: run_values[d] for d in keep if d in run_values}}
    try:
        right_with_all = set(_KEYS) - _wrong(_derive(_merged(defaults, baseline, every)), expected, _KEYS)
    except ValueError:
        with pytest.raises(ValueError, match="refused combination"):
            needed_overrides(baseline, run_values, expected, list(_KEYS), _derive, defaults, keep)
        return
    got = needed_overrides(baseline, run_values, expected, list(_KEYS), _derive, defaults, keep)
    assert set(got) <= set(every) and all(got[d] is run_values[d] for d in got)
    assert {d for d in keep if d in run_values} <= set(got)
    assert not _wrong(_derive(_merged(defaults, baseline, got)), expected, right_with_all)


@pytest.mark.parametrize("baseline, defaults, run, keep, want", [
    # k2 and k3 switch each other on (see _derive): either override alone gives k2=k3=1 and k5=1.
    # Candidates are tried in dest order, so k2 goes first (k3 alone still derives it) and k3 stays.
    ({}, {}, {"k2": 1, "k3": 1}, (), {"k3": 1}),
    # k1=None is filled in as 2*k0: the baseline's k0=3 would derive k1=6, so k0=2 must be written,
    # and k1 itself (None both in the run and by default) is no difference at all.
    ({"k0": 3}, {"k1": None}, {"k0": 2, "k1": None}, (), {"k0": 2}),
    # the same value as the baseline is not an override ... unless the knob is kept as a parameter.
    ({"k4": 1, "k6": False}, {}, {"k4": 1}, (), {}),
    ({"k4": 1, "k6": False}, {}, {"k4": 1}, ("k4",), {"k4": 1}),
    # k4=1 switches k6 off: writing k6=False as well is redundant once k4=1 is written (k4 first
    # in dest order is kept, k6 is derived)
    ({"k6": True}, {}, {"k4": 1, "k6": False}, (), {"k4": 1}),
    # 1 and 1.0 are one value (same_value), True and 1 are not
    ({"k0": 1.0, "k7": 1}, {}, {"k0": 1, "k7": True}, (), {"k7": True}),
])
def test_needed_overrides_worked_examples(baseline, defaults, run, keep, want):
    run_values = {**defaults, **run}
    expected = _derive(dict(run_values))
    got = needed_overrides(baseline, run_values, expected, list(_KEYS), _derive, defaults, keep)
    assert got == want


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


# ---- threshold literals: recorded cases ------------------------------------------------------

@pytest.mark.parametrize("text, want", [
    ('[ "$X" -gt 8 ]', {"8"}),  # test(1) ordering operator, knob first
    ('[ 8 -lt "$X" ]', {"8"}),  # literal first
    ("(( X >= 70 ))", {"70"}),  # arithmetic: the bare name
    ("[[ ${X} -le 4096 ]]", {"4096"}),  # braced expansion
    ("(( 2 < X && X < 16 ))", {"2", "16"}),  # a range: both bounds
    ("[[ $X < 1.5 ]]", {"1.5"}),  # [[ string ordering ]] bounds too
    ("if [ $X -ge -1 ]; then :; fi", {"-1"}),  # a signed literal
    ("[ \"$X\" -gt '7b' ]", {"7b"}),  # a quoted literal, quotes dropped
    ('[ "$X" -eq 8 ]', set()),  # equality picks a variant; it is no bound
    ('[ "$XY" -gt 8 ]', set()),  # another variable whose name starts with X
    ('[ "$Y" -gt 8 ] && [ "$X" = 8 ]', set()),  # the bound belongs to Y
    ("", set()),
])
def test_ordering_literals_recorded_cases(text, want):
    from migrate.batch.variants import _ordering_literals

    assert set(_ordering_literals(text, "X")) == want


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


# ---- static parity: built so that the answer is known ----------------------------------------

def _fake_profile(target, defaults):
    class Schema:
        def defaults(self):
            return dict(defaults)

    from migrate.primus import get_profile

    class Profile:
        name = target
        rules = get_profile(target).rules

        def schema(self):
            return Schema()

    return Profile()


def _resolved(values, rewrites=None):
    from migrate.primus.resolved import ResolvedConfig

    return ResolvedConfig(values, {}, {}, "fake", trainer_rewrites=rewrites or {})


def _tp1_turns_flag_off(values):
    out = dict(values)
    if out.get("tp") == 1:
        out["flag"] = False
    return out


def test_static_parity_recorded_cases():
    from migrate.conversion.static_parity import check_static_parity

    nan = float("nan")
    defaults = {"lr": 0.1, "tp": 2, "flag": True, "rampup_batch_size": None, "logging_level": None,
                "seq": 4096, "opt": {"unevaluated": "os.getenv()"}}
    expected = {"lr": nan, "tp": 1, "flag": False, "rampup_batch_size": [16, 8, 100], "logging_level": None,
                "seq": 4096, "opt": {"unevaluated": "os.getenv()"}}
    resolved = _resolved({"lr": nan, "tp": 1, "rampup_batch_size": ["16", "8", "100"], "logging_level": 20},
                         {"seq": (4096, 2048, "a test rewrite")})
    got = check_static_parity(expected, resolved, _fake_profile("primus-0.1", defaults), derive=_tp1_turns_flag_off)
    # lr: NaN == NaN under same_value; flag: derived False from tp=1 on both sides; rampup: Megatron
    # int()s the strings; logging_level: primus-0.1's trainer sets it (PRIMUS_ONLY); opt: a runtime
    # value; seq: the trainer's rewrite (2048) is what trains, and the legacy run wants 4096.
    assert [(d, e, r) for d, e, r in got.differences] == [("seq", 4096, 2048)] and not got.ok
    assert got.ignored == ["logging_level", "opt"]
    assert got.absent == ["flag", "opt"]  # taken at their defaults; seq is set, by the trainer rewrite
    # at 26.5 logging_level is compared: the run's 20 is not Megatron's None
    got = check_static_parity(expected, _resolved({**resolved.values, "seq": 4096}),
                              _fake_profile("primus-26.5", defaults), derive=_tp1_turns_flag_off)
    assert [(d, e, r) for d, e, r in got.differences] == [("logging_level", None, 20)]


_PARITY_KEYS = ["logging_level", "rampup_batch_size", "lr", "seq", "tp", "flag", "opt", "zz"]
_pvalue = st.sampled_from([None, 0, 1, 1.0, True, "x", float("nan"), [16, 8]]) | st.integers(-2, 2) | st.text(max_size=2)


@settings(max_examples=300, deadline=None)
@given(defaults=st.dictionaries(st.sampled_from(_PARITY_KEYS), _pvalue, min_size=1),
       resolved=st.dictionaries(st.sampled_from(_PARITY_KEYS), _pvalue),
       changed=st.sets(st.sampled_from(_PARITY_KEYS)),
       target=st.sampled_from(["primus-0.1", "primus-26.5"]))
def test_static_parity_finds_exactly_the_dests_made_different(defaults, resolved, changed, target):
    """The legacy side is built from the Primus side: equal everywhere (often the very same
    objects, as argparse defaults are), then a marker no value equals is put on the `changed`
    dests. Exactly those are differences, unless the release does not compare them."""
    from migrate.conversion.static_parity import check_static_parity
    from migrate.primus import get_profile

    derived = {**defaults, **resolved}
    expected = dict(derived)
    changed &= defaults.keys()
    for dest in changed:
        expected[dest] = ("legacy only", dest)
    got = check_static_parity(expected, _resolved(dict(resolved)), _fake_profile(target, defaults),
                              derive=lambda values: dict(values))
    ignored = get_profile(target).rules.ignored_dests  # logging_level at v0.1.0-rc1, nothing at v26.5.1
    compared = changed - ignored.keys()
    assert {d for d, _, _ in got.differences} == compared and got.ok == (not compared)
    assert set(got.ignored) == ignored.keys() & defaults.keys()
    assert got.absent == sorted(defaults.keys() - resolved.keys())
