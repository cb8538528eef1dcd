"""The emitter on a small hand-built Primus world (tests/helpers_emit.py): preset choice,
model file, overrides, origins, minimality, and the loader as the final judge."""

from __future__ import annotations

import yaml

from helpers_emit import (MODULE_PRESET, SCHEMA_DEFAULTS, FakeProfile, derive, fake_parity, fake_resolver,
                          run_of)
from migrate.primus.emit.architecture import rank_presets
from migrate.primus.emit.emitter import EmitRequest, emit
from migrate.primus.emit.overrides import MEGATRON_DEFAULT, build_overrides, needed_overrides

DESTS = set(SCHEMA_DEFAULTS)

LLAMA_8B = dict(num_layers=32, hidden_size=4096, ffn_hidden_size=14336, num_attention_heads=32,
                normalization="RMSNorm", swiglu=True, rotary_base=500000, tokenizer_type="HuggingFaceTokenizer",
                tokenizer_model="org/tiny-8B")


def _emit(tmp_path, values, explicit, **kw):
    profile = FakeProfile(tmp_path)
    request = EmitRequest("exp", values, derive(values), explicit, **kw)
    return emit(request, profile, fake_resolver(profile), derive, fake_parity(profile), DESTS, SCHEMA_DEFAULTS)


def _overrides(result):
    return yaml.safe_load(result.files[result.experiment_path])["modules"]["pre_trainer"]["overrides"]


# ---- needed_overrides on plain dicts ---------------------------------------------------------

def test_key_never_set_but_changed_by_preset_is_overridden_back_to_megatron_default():
    run, explicit = run_of(micro_batch_size=2)
    baseline = {**SCHEMA_DEFAULTS, **MODULE_PRESET}
    changes = needed_overrides(baseline, run, derive(run), DESTS, derive)
    # weight_decay: Megatron 0.01, preset 0.0, script silent -> must come back
    assert changes["weight_decay"] == 0.01
    assert changes["lr_warmup_iters"] == 0
    overrides = {o.key: o for o in build_overrides(changes, explicit)}
    assert overrides["weight_decay"].origin == MEGATRON_DEFAULT
    assert overrides["micro_batch_size"].origin == "train.sh:10"


def test_key_equal_in_both_is_not_overridden():
    run, _ = run_of(tensor_model_parallel_size=1, norm_epsilon=1e-5)
    baseline = {**SCHEMA_DEFAULTS, **MODULE_PRESET}
    changes = needed_overrides(baseline, run, derive(run), DESTS, derive)
    assert "tensor_model_parallel_size" not in changes  # script set it, preset equal
    assert "norm_epsilon" not in changes  # neither changed it


def test_null_that_derives_to_the_same_value_is_not_written():
    run, _ = run_of(hidden_size=4096, num_attention_heads=32)  # ffn_hidden_size None -> 16384
    baseline = {**SCHEMA_DEFAULTS, "hidden_size": 4096, "num_attention_heads": 32, "ffn_hidden_size": 16384,
                "kv_channels": 128}
    changes = needed_overrides(baseline, run, derive(run), DESTS, derive)
    assert "ffn_hidden_size" not in changes and "kv_channels" not in changes


def test_null_that_derives_differently_is_written():
    run, _ = run_of(hidden_size=4096, num_attention_heads=32)
    baseline = {**SCHEMA_DEFAULTS, "hidden_size": 4096, "num_attention_heads": 32, "ffn_hidden_size": 14336}
    changes = needed_overrides(baseline, run, derive(run), DESTS, derive)
    assert "ffn_hidden_size" in changes


def test_keep_forces_a_redundant_key():
    run, _ = run_of(tensor_model_parallel_size=1)
    baseline = {**SCHEMA_DEFAULTS, **MODULE_PRESET}
    assert "tensor_model_parallel_size" in needed_overrides(baseline, run, derive(run), DESTS, derive,
                                                              keep=["tensor_model_parallel_size"])


def test_overrides_are_ordered_script_lines_first_then_defaults():
    explicit = {"lr": None, "micro_batch_size": run_of(micro_batch_size=1)[1]["micro_batch_size"]}
    records = build_overrides({"weight_decay": 0.01, "lr": 1e-4, "micro_batch_size": 2}, explicit)
    assert [r.key for r in records] == ["micro_batch_size", "lr", "weight_decay"]
    assert records[1].origin == "command line"


# ---- preset ranking -----------------------------------------------------------------------

def test_ranking_prefers_the_exact_preset_over_a_tokenizer_match():
    run, _ = run_of(**{**LLAMA_8B, "tokenizer_model": "org/tiny-70B"})
    presets = {
        "a_8B": ({**SCHEMA_DEFAULTS, **{k: v for k, v in LLAMA_8B.items()}}, None),
        "b_70B": ({**SCHEMA_DEFAULTS, **LLAMA_8B, "num_layers": 80, "tokenizer_model": "org/tiny-70B"}, None),
    }
    ranking = rank_presets(presets, run, derive(run))
    assert ranking[0].name == "a_8B" and ranking[0].exact and ranking[0].tokenizer_diff == ["tokenizer_model"]
    assert ranking[1].structure_diff == ["num_layers"]


# ---- the whole emitter ------------------------------------------------------------------

def test_exact_architecture_references_the_preset_and_writes_no_model_file(tmp_path):
    run, explicit = run_of(**LLAMA_8B, micro_batch_size=2)
    result = _emit(tmp_path, run, explicit)
    assert result.parity.ok, result.parity.format()
    assert result.model_path is None and result.preset.name == "tiny_8B"
    assert yaml.safe_load(result.files[result.experiment_path])["modules"]["pre_trainer"]["model"] == "tiny_8B.yaml"
    overrides = _overrides(result)
    assert not set(overrides) & {"num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads"}
    assert overrides["micro_batch_size"] == 2 and overrides["weight_decay"] == 0.01
    assert "tensor_model_parallel_size" not in overrides


def test_different_architecture_writes_a_model_file_with_only_the_differences(tmp_path):
    run, explicit = run_of(**{**LLAMA_8B, "num_layers": 16})
    result = _emit(tmp_path, run, explicit)
    assert result.parity.ok, result.parity.format()
    # named after what it is: the preset it extends and the one key it changes, with its value
    assert result.model_path == "models/megatron/tiny_8B-num_layers-16.yaml"
    model = yaml.safe_load(result.files[result.model_path])
    assert model == {"extends": ["tiny_8B.yaml"], "num_layers": 16}
    assert yaml.safe_load(result.files[result.experiment_path])["modules"]["pre_trainer"]["model"] == \
        "tiny_8B-num_layers-16.yaml"
    assert "num_layers" not in _overrides(result)


def test_architecture_key_owned_by_the_module_preset_goes_to_overrides(tmp_path, monkeypatch):
    # a model file cannot change a key the module preset sets (26.5 keeps the module's value)
    monkeypatch.setitem(MODULE_PRESET, "rotary_base", 500000)
    run, explicit = run_of(**{**LLAMA_8B, "rotary_base": 10000})
    result = _emit(tmp_path, run, explicit)
    assert result.parity.ok, result.parity.format()
    assert result.model_path is None
    assert _overrides(result)["rotary_base"] == 10000


def test_every_override_is_needed_mutation(tmp_path):
    run, explicit = run_of(**{**LLAMA_8B, "num_layers": 16}, micro_batch_size=2, lr=3e-4, bf16=True)
    profile = FakeProfile(tmp_path)
    result = _emit(tmp_path, run, explicit)
    resolve, check = fake_resolver(profile), fake_parity(profile)
    exp = yaml.safe_load(result.files[result.experiment_path])
    keys = list(exp["modules"]["pre_trainer"]["overrides"])
    assert keys
    for key in keys:
        lines = result.files[result.experiment_path].splitlines()
        mutated = "\n".join(line for line in lines if not line.strip().startswith(f"{key}:")) + "\n"
        files = {**result.files, result.experiment_path: mutated}
        parity = check(derive(run), resolve(files, result.experiment_path))
        assert not parity.ok and key in [d for d, _, _ in parity.differences], key


def test_placeholders_are_written_raw_and_kept(tmp_path):
    run, explicit = run_of(**LLAMA_8B, tensor_model_parallel_size=1)
    result = _emit(tmp_path, run, explicit, knob_of={"tensor_model_parallel_size": "TP"},
                   placeholders={"tensor_model_parallel_size": "${TP:1}"})
    text = result.files[result.experiment_path]
    assert "tensor_model_parallel_size: ${TP:1}" in text


def test_script_silent_architecture_difference_is_an_override_not_a_model_file(tmp_path, monkeypatch):
    # the preset changes a Megatron default the script never set (like rotary_scaling_factor in
    # Primus's llama presets): same model, so the preset is referenced and the key overridden.
    run, explicit = run_of(**LLAMA_8B)
    explicit.pop("rotary_base")
    result = _emit(tmp_path, {**run, "rotary_base": 10000}, explicit)
    assert result.parity.ok, result.parity.format()
    assert result.model_path is None and result.preset.name == "tiny_8B"
    overrides = {o.key: o for o in result.overrides}
    assert overrides["rotary_base"].value == 10000 and overrides["rotary_base"].origin == MEGATRON_DEFAULT
    assert "      # model architecture\n      rotary_base: 10000" in result.files[result.experiment_path]


def test_runtime_evaluated_value_is_never_written(tmp_path):
    run, explicit = run_of(**LLAMA_8B)
    run["eval_iters"] = {"unevaluated": "int(os.getenv('X', '0'))"}
    result = _emit(tmp_path, run, explicit)
    assert "eval_iters" not in _overrides(result)


def test_among_equally_distant_bases_the_more_generic_one_wins():
    run, _ = run_of(num_layers=4, hidden_size=256)
    values = {**SCHEMA_DEFAULTS}
    ranking = rank_presets({"z_generic_base": (values, None), "a_special_base": (values, None)}, run, derive(run),
                           sizes={"z_generic_base": 10, "a_special_base": 30})
    assert [m.name for m in ranking] == ["z_generic_base", "a_special_base"]


def test_staged_resolver_never_reads_an_earlier_text_of_a_file():
    """One folder serves a whole emit, files rewritten in place: the loader's parse cache is keyed by
    (path, mtime, size), so two texts of one size written within the clock's tick would share a key
    unless each write gets its own mtime."""
    from migrate.primus.emit.emitter import stage_and_resolve
    from migrate.primus.yamlio import load_yaml_file

    seen = []
    resolver = stage_and_resolve(None, lambda path, profile, env: seen.append(load_yaml_file(path)) or path.parent)
    with resolver.session():
        folders = {resolver({"e.yaml": f"k: {i}\n"}, "e.yaml") for i in range(5)}  # same size, same path
        resolver({"other.yaml": "k: 9\n"}, "other.yaml")
        assert not (next(iter(folders)) / "e.yaml").exists()  # a file the next resolve does not name is gone
    assert seen == [{"k": i} for i in range(5)] + [{"k": 9}]
    assert len(folders) == 1 and not next(iter(folders)).exists()  # one folder, removed with the session
