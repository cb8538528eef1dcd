"""torchtitan jobs -> Primus experiments: the fixtures, the emitted overrides, parity, the CLI.

The end-to-end judge (`test_differential_end_to_end`) needs no code of ours on either side of the
comparison: torchtitan's ConfigManager reads the job's argv, Primus's own code builds the JobConfig
from the emitted experiment, and the two must agree on every field but the documented exceptions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers_titan import FIXTURES, ROOT, flatten, primus_build, primus_tree, torchtitan_parse, torchtitan_tree
from migrate.diagnostics import MigrateError
from migrate.primus import get_profile
from migrate.shell import EvalOptions, evaluate_script
from migrate.torchtitan import is_torchtitan_entry
from migrate.torchtitan.convert import convert_plan, convert_toml
from migrate.torchtitan.parity import check_titan_parity
from migrate.torchtitan.release import EXCEPTIONS, resolve_titan_experiment

JOBS = {  # fixture folder -> launch script
    "llama3_8b": "run_train.sh",
    "deepseek_v3": "run_train.sh",
    "overrides_only": "run.sh",
}


def _plan(folder: str):
    script = FIXTURES / folder / JOBS[folder]
    return evaluate_script(script, {}, [], EvalOptions(cwd=str(FIXTURES / folder))), script


def _convert(folder: str, target: str = "primus-26.5"):
    plan, script = _plan(folder)
    return convert_plan(plan, script, target)


def _overrides(conversion) -> dict[str, tuple]:
    return {o.key: (o.value, o.comment) for o in conversion.overrides}


@pytest.mark.parametrize("folder", list(JOBS))
def test_fixtures_convert_with_static_parity(folder):
    conversion = _convert(folder)
    assert conversion.parity.ok, conversion.parity.format()
    assert conversion.parity.compared == 149
    assert {e[0] for e in conversion.parity.exceptions} <= set(EXCEPTIONS)


def test_llama_job_overrides():
    c = _convert("llama3_8b")
    assert c.preset == "llama3_8B-fp8"  # llama3 / 8B, float8 linears; description equals the job's
    o = _overrides(c)
    assert o["training.steps"] == (500, "run_train.sh:21")          # --training.steps ${STEPS}, STEPS=500
    assert o["metrics.log_freq"] == (1, "run_train.sh:22")          # argv beats the TOML's 10
    assert o["parallelism.tensor_parallel_degree"] == (2, "train_configs/llama3_8b.toml:43")
    assert o["activation_checkpoint.mode"] == ("selective", "train_configs/llama3_8b.toml:56")  # preset: none
    assert o["lr_scheduler.decay_type"] == ("cosine", "train_configs/llama3_8b.toml:30")
    assert o["compile.enable"] == (False, "train_configs/llama3_8b.toml:60")                     # preset: true
    assert o["model.converters"][0] == ["quantize.linear.float8"]   # preset adds primus_turbo
    assert o["training.mock_data"][0] is False and o["primus_turbo.enable_primus_turbo"][0] is False
    # equal to the preset already: not written (minimal overrides)
    for key in ("training.dataset", "job.description", "lr_scheduler.warmup_steps", "checkpoint.interval"):
        assert key not in o
    assert "job.config_file" not in o and "experimental.custom_args_module" not in o


def test_deepseek_job_relies_on_a_default_the_preset_changes():
    c = _convert("deepseek_v3")
    assert c.preset == "deepseek_v3_16b"
    o = _overrides(c)
    assert o["model.converters"] == ([], "torchtitan default")       # preset: [primus_turbo]
    assert o["parallelism.expert_parallel_degree"] == (4, "run_train.sh:10")   # EP=4 beats the TOML's 8
    assert o["debug.moe_force_load_balance"] == (True, "run_train.sh:11")
    assert o["training.local_batch_size"] == (4, "run_train.sh:12")           # --training.local-batch-size


def test_overrides_only_launch_maps_the_old_float8_converter():
    c = _convert("overrides_only")
    assert c.job.toml_path is None
    o = _overrides(c)
    assert o["model.converters"] == (["quantize.linear.float8"], "run.sh:6")
    assert o["training.steps"] == (200, "run.sh:15")                 # last of two --training.steps
    assert o["job.description"] == ("default job", "torchtitan default")
    assert o["model.hf_assets_path"] == ("./tests/assets/tokenizer", "torchtitan default")
    assert "checkpoint.enable" not in o and "compile.enable" not in o  # --checkpoint.no-enable; --compile.enable
    assert any(d.code == "torchtitan-converter-renamed" for d in c.diagnostics)


def test_parity_catches_a_changed_value_and_a_behaviour_key(tmp_path):
    c = _convert("llama3_8b")
    text = c.files[c.experiment_path]
    for old, new, expect in (("steps: 500", "steps: 501", "training.steps"),
                             ("mock_data: false", "mock_data: true", "training.mock_data"),
                             ("enable: false  # train_configs/llama3_8b.toml:60", "enable: true", "compile.enable")):
        assert old in text
        path = tmp_path / "exp.yaml"
        path.write_text(text.replace(old, new))
        parity = check_titan_parity(c.expected, resolve_titan_experiment(path, get_profile("primus-26.5")))
        assert not parity.ok and expect in parity.format(), expect


def test_unmapped_converter_is_listed_and_left_out(tmp_path):
    toml = tmp_path / "job.toml"
    toml.write_text('[model]\nname = "llama3"\nflavor = "8B"\nconverters = ["quantize.linear.float8", "nvfp4"]\n')
    c = convert_toml(toml, [], "primus-26.5")
    assert [u["flag"] for u in c.unmapped] == ["model.converters nvfp4"]
    assert c.parity.ok and c.parity.unmapped_converters == ["nvfp4"]
    assert _overrides(c)["model.converters"][0] == ["quantize.linear.float8"]


@pytest.mark.parametrize("line,message", [('dump_folder = "${HOME}/out"', "substitutes from the environment"),
                                          ('description = "null"', "reads as None")])
def test_values_primus_would_rewrite_are_refused(tmp_path, line, message):
    toml = tmp_path / "job.toml"
    toml.write_text(f"[job]\n{line}\n")
    with pytest.raises(MigrateError, match=message) as err:
        convert_toml(toml, [], "primus-26.5")
    assert err.value.exit_code == 3 and err.value.origin.line == 2


def test_cli_strict_refuses_unmapped(tmp_path):
    toml = tmp_path / "job.toml"
    toml.write_text('[model]\nconverters = ["nvfp4"]\n')
    r = _cli(str(toml), "-o", str(tmp_path / "o"), "--strict", cwd=tmp_path)
    assert r.returncode == 2 and "--strict" in r.stderr and not (tmp_path / "o").exists()


def test_presets_that_change_the_model_args_are_never_chosen(tmp_path):
    """The llama3.1_405B presets carry `model.n_layers: 126`, which Primus's model_override patch applies
    to the flavor: another llama3 preset with `flavor: 405B` overridden is chosen instead."""
    toml = tmp_path / "job.toml"
    toml.write_text('[model]\nname = "llama3"\nflavor = "405B"\n')
    c = convert_toml(toml, [], "primus-26.5")
    assert not c.preset.startswith("llama3.1_405B") and c.parity.ok
    assert _overrides(c)["model.flavor"] == ("405B", "job.toml:3")
    path = tmp_path / "exp.yaml"
    path.write_text(c.files[c.experiment_path].replace(f"model: {c.preset}.yaml", "model: llama3.1_405B.yaml"))
    parity = check_titan_parity(c.expected, resolve_titan_experiment(path, get_profile("primus-26.5")))
    assert not parity.ok and "model.n_layers" in parity.format()


def test_run_time_values_in_the_argv_are_listed_as_unmapped(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("torchrun --nproc_per_node 8 -m torchtitan.train --job.dump_folder ./out_$(date +%Y%m%d)\n")
    plan = evaluate_script(script, {}, [], EvalOptions(cwd=str(tmp_path)))
    c = convert_plan(plan, script, "primus-26.5")
    assert c.parity.ok and [u["flag"] for u in c.unmapped] == ["$(date +%Y%m%d)"]
    assert "computed when the script runs" in c.unmapped[0]["why"]
    assert json.loads(c.files["report.json"])["unmapped"] == c.unmapped


def test_toml_alone_and_its_overrides(tmp_path):
    c = convert_toml(FIXTURES / "llama3_8b" / "train_configs" / "llama3_8b.toml", ["--training.steps", "7"],
                     "primus-26.5", name="alone")
    assert c.experiment_path == "alone-pretrain.yaml" and c.parity.ok
    assert _overrides(c)["training.steps"] == (7, "<command line>")
    assert _overrides(c)["training.local_batch_size"] == (1, "llama3_8b.toml:34")


def test_launch_detection():
    assert is_torchtitan_entry("torchtitan.train") and is_torchtitan_entry("./torchtitan/train.py")
    assert not is_torchtitan_entry("pretrain_gpt.py") and not is_torchtitan_entry("train.py")
    plan, _ = _plan("deepseek_v3")
    assert plan.entry == "torchtitan.train" and plan.launcher.kind == "torch.distributed.run"
    plan, _ = _plan("overrides_only")
    assert plan.entry == "torchtitan/train.py" and plan.launcher.kind == "torchrun"


@pytest.mark.parametrize("folder", list(JOBS))
def test_fixtures_convert_at_primus_26_5_0(folder):
    """v26.5.0 pins v26.5.1's torchtitan and builds its JobConfig with the same code."""
    conversion = _convert(folder, "primus-26.5.0")
    assert conversion.parity.ok, conversion.parity.format()
    assert conversion.parity.compared == 149


@pytest.mark.parametrize("tag,target", [("v26.5.1", "primus-26.5"), ("v26.5.0", "primus-26.5.0")])
@pytest.mark.parametrize("folder", list(JOBS))
def test_differential_end_to_end(folder, tmp_path, tmp_path_factory, tag, target):
    """torchtitan's ConfigManager on the job == Primus's own build of the emitted experiment."""
    root = tmp_path_factory.getbasetemp() / "upstream"
    titan, primus = torchtitan_tree(root), primus_tree(root, tag)
    plan, _ = _plan(folder)
    c = _convert(folder, target)
    job = flatten(torchtitan_parse(titan, plan.argv_values(), FIXTURES / folder))
    exp = tmp_path / c.experiment_path
    exp.write_text(c.files[c.experiment_path])
    built = primus_build(primus, titan, exp, tmp_path / "work")
    theirs = {k: v for k, v in flatten(built["job_config"]).items() if not k.startswith("primus_turbo.")}
    job["model.converters"] = c.expected["model.converters"]  # the one mapping we apply (float8 renamed)
    differing = {k for k in job if job[k] != theirs[k]}
    assert differing <= set(EXCEPTIONS), {k: (job[k], theirs[k]) for k in differing}
    assert built["job_config"]["primus_turbo"]["enable_primus_turbo"] is False


# -- CLI ------------------------------------------------------------------------------------------

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "migrate", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_convert_writes_the_experiment_and_reports(tmp_path):
    out = tmp_path / "out"
    r = _cli("run_train.sh", "-o", str(out), cwd=FIXTURES / "llama3_8b")
    assert r.returncode == 0, r.stderr
    assert "preset llama3_8B-fp8.yaml" in r.stdout and "static parity ok" in r.stdout
    exp = yaml.safe_load((out / "run_train-pretrain.yaml").read_text())
    assert exp["modules"]["pre_trainer"]["framework"] == "torchtitan"
    report = json.loads((out / "report.json").read_text())
    assert report["parity"]["ok"] and report["preset"] == "llama3_8B-fp8.yaml"
    assert sorted(p.name for p in out.iterdir()) == ["env.sh", "report.json", "report.md", "run.sh",
                                                     "run_train-pretrain.yaml"]
    # the prefix assignment on the torchrun line and the launcher's --nproc_per_node reach the Primus run
    assert "export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True" in (out / "env.sh").read_text()
    assert any("GPUS_PER_NODE" in line and "8" in line for line in (out / "run.sh").read_text().splitlines())
    assert _cli("run_train.sh", "-o", str(out), cwd=FIXTURES / "llama3_8b").returncode == 0  # same bytes: fine
    (out / "report.md").write_text("mine")
    again = _cli("run_train.sh", "-o", str(out), cwd=FIXTURES / "llama3_8b")
    assert again.returncode == 2 and "would be overwritten" in again.stderr  # no overwrite without --force
    assert (out / "report.md").read_text() == "mine"
    knob = _cli("run_train.sh", "STEPS=7", "-o", str(tmp_path / "o7"), cwd=FIXTURES / "llama3_8b")
    assert knob.returncode == 0, knob.stderr
    assert "steps: 7  # run_train.sh:21" in (tmp_path / "o7" / "run_train-STEPS7-pretrain.yaml").read_text()
    path_knob = _cli("run_train.sh", "CONFIG_FILE=train_configs/llama3_8b.toml", "-o", str(tmp_path / "oc"),
                     cwd=FIXTURES / "llama3_8b")
    assert (tmp_path / "oc" / "run_train-CONFIG_FILE-llama3_8b-pretrain.yaml").is_file(), path_knob.stderr
    resolved = _cli("resolve", str(out / "run_train-pretrain.yaml"), "--json", cwd=tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    assert json.loads(resolved.stdout)["job_config"]["training.steps"] == 500


def test_cli_toml_alone_with_overrides_and_unmapped(tmp_path):
    toml = tmp_path / "job.toml"
    toml.write_text('[model]\nname = "llama3"\nflavor = "8B"\nconverters = ["nvfp4"]\n')
    r = _cli(str(toml), "-o", str(tmp_path / "o"), "--", "--training.steps", "9", cwd=tmp_path)
    assert r.returncode == 4, r.stderr
    assert "nvfp4" in r.stderr
    assert "steps: 9  # <command line>" in (tmp_path / "o" / "job-pretrain.yaml").read_text()


@pytest.mark.parametrize("path,line,message", [
    ("bad/unknown_section.toml", 4, "unknown section [trainer]"),
    ("bad/unknown_field.toml", 6, "unknown field 'local_batchsize' in [training]"),
    ("bad/wrong_type.toml", 2, "'training.steps' must be int"),
    ("bad/missing_toml.sh", 2, "job config file not found"),
    ("bad/bad_override.sh", 2, "expected an integer"),
])
def test_cli_bad_input_is_a_located_error(tmp_path, path, line, message):
    r = _cli(path, "-o", str(tmp_path / "o"), cwd=FIXTURES)
    assert r.returncode == 2, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"{Path(path).name if path.endswith('.toml') else path}:{line}: error:"), first
    assert message in first and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_cli_parity_static_inspect_args_and_schema(tmp_path):
    r = _cli("parity", "--static", "run_train.sh", cwd=FIXTURES / "deepseek_v3")
    assert r.returncode == 0 and "static parity ok" in r.stdout, r.stderr
    r = _cli("parity", "run_train.sh", cwd=FIXTURES / "deepseek_v3")
    assert r.returncode == 2 and "dynamic parity is not available for torchtitan" in r.stderr
    r = _cli("inspect", "run_train.sh", "--args", "--json", cwd=FIXTURES / "deepseek_v3")
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    assert view["job_config"]["parallelism.expert_parallel_degree"] == 4
    assert view["explicit"]["parallelism.expert_parallel_degree"].endswith("run_train.sh:10")
    checkout = tmp_path / "tt" / "torchtitan" / "config"
    checkout.mkdir(parents=True)
    (checkout / "job_config.py").write_text(
        "from dataclasses import dataclass, field\n@dataclass\nclass T:\n    steps: int = 5\n"
        "@dataclass\nclass JobConfig:\n    training: T = field(default_factory=T)\n")
    r = _cli("schema", "--torchtitan-path", str(tmp_path / "tt"), "-o", str(tmp_path / "s.json"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "s.json").read_text())["fields"]["training.steps"]["default"] == 5


def test_megatron_pipeline_refuses_a_torchtitan_launch_clearly():
    from migrate.pipeline import convert_script
    from migrate.torchtitan.cli import TorchtitanLaunch

    with pytest.raises(TorchtitanLaunch) as err:
        convert_script(FIXTURES / "deepseek_v3" / "run_train.sh")
    assert isinstance(err.value, MigrateError) and err.value.exit_code == 2


# -- jobs written for an older torchtitan --------------------------------------------------------

def test_legacy_job_is_read_with_its_own_schema_and_translated():
    plan = evaluate_script(FIXTURES / "rocm_legacy" / "train.sh", {}, [], EvalOptions(cwd=str(FIXTURES)))
    c = convert_plan(plan, FIXTURES / "rocm_legacy" / "train.sh", "primus-26.5")
    assert c.parity.ok, c.parity.format()
    e = c.expected
    # renamed fields keep the old run's values (4c4388f6 -> 73a0e697, see migrate.torchtitan.translate)
    assert e["training.local_batch_size"] == 2                 # --training.batch_size 2 beats the TOML's 4
    assert e["compile.enable"] is True                          # training.compile = true
    assert e["debug.seed"] == 42 and e["lr_scheduler.min_lr_factor"] == 0.1
    assert e["quantize.linear.float8.filter_fqns"] == ["output"]
    assert e["checkpoint.last_save_model_only"] is False        # old model_weights_only default False; new True
    assert e["model.converters"] == ["quantize.linear.float8"]
    assert e["model.tokenizer_path"] is None
    flags = sorted(u["flag"].split(" ")[0] for u in c.unmapped)
    assert flags == ["model.tokenizer_path", "parallelism.enable_compiled_autograd"]
    assert _overrides(c)["checkpoint.last_save_model_only"] == (False, "torchtitan 4c4388f6 default")
    assert any(d.code == "torchtitan-translated" for d in c.diagnostics)


def test_legacy_job_differential(tmp_path, tmp_path_factory):
    """torchtitan 4c4388f6's own ConfigManager reads the legacy job as we do; Primus's own build of the
    emitted experiment equals our translated JobConfig."""
    from helpers_titan import TORCHTITAN_PIN_01

    root = tmp_path_factory.getbasetemp() / "upstream"
    old_tree, titan, primus = torchtitan_tree(root, TORCHTITAN_PIN_01), torchtitan_tree(root), primus_tree(root)
    folder = FIXTURES / "rocm_legacy"
    plan = evaluate_script(folder / "train.sh", {}, [], EvalOptions(cwd=str(folder)))
    theirs = flatten(torchtitan_parse(old_tree, plan.argv_values(), folder))
    c = convert_plan(plan, folder / "train.sh", "primus-26.5")
    from migrate.torchtitan.jobconfig import parse_job
    from migrate.torchtitan.schema import load_schema

    assert parse_job(load_schema("4c4388f6"), plan.argv, folder).values == theirs
    exp = tmp_path / c.experiment_path
    exp.write_text(c.files[c.experiment_path])
    built = flatten(primus_build(primus, titan, exp, tmp_path / "work")["job_config"])
    differing = {k for k in c.expected if c.expected[k] != built[k]}
    assert differing <= set(EXCEPTIONS), {k: (c.expected[k], built[k]) for k in differing}


def test_cli_legacy_job_exits_4_with_the_unmapped_settings(tmp_path):
    r = _cli("rocm_legacy/train.sh", "-o", str(tmp_path / "o"), cwd=FIXTURES)
    assert r.returncode == 4, r.stderr
    assert "model.tokenizer_path" in r.stderr and "hf_assets_path" in r.stderr
    assert "parallelism.enable_compiled_autograd" in r.stderr


@pytest.mark.slow
def test_batch_converts_torchtitan_scripts_with_static_parity(tmp_path):
    import shutil

    for folder in ("deepseek_v3", "rocm_legacy", "llama3_8b"):
        shutil.copytree(FIXTURES / folder, tmp_path / "repo" / folder)
    r = _cli("batch", str(tmp_path / "repo"), "-o", str(tmp_path / "out"), "--jobs", "1", cwd=tmp_path)
    report = json.loads((tmp_path / "out" / "batch_report.json").read_text())
    rows = {s["script"]: s for s in report["scripts"]}
    assert rows["deepseek_v3/run_train.sh"]["status"] == "converted", r.stderr
    assert rows["rocm_legacy/train.sh"]["status"] == "converted_with_warnings"  # tokenizer_path unmapped
    assert all(v["parity_ok"] for k in ("deepseek_v3/run_train.sh", "rocm_legacy/train.sh")
               for v in rows[k]["variants"])
    # run from the batch root, as bash would be: its relative ./train_configs/... is not there
    assert rows["llama3_8b/run_train.sh"]["status"] == "rejected"
    assert "job config file not found" in rows["llama3_8b/run_train.sh"]["reason"]
    exp = yaml.safe_load((tmp_path / "out" / "exp" / "deepseek_v3" / "run_train" / "default.yaml").read_text())
    assert exp["modules"]["pre_trainer"]["overrides"]["parallelism"]["expert_parallel_degree"] == 4



# -- primus-0.1 (Primus v0.1.0-rc1, torchtitan 4c4388f6) ------------------------------------------

def _convert_v01(folder: str, script: str, target: str = "primus-0.1"):
    plan = evaluate_script(FIXTURES / folder / script, {}, [], EvalOptions(cwd=str(FIXTURES / folder)))
    return plan, convert_plan(plan, FIXTURES / folder / script, target)


def test_v01_conversion():
    plan, c = _convert_v01("primus01", "train.sh")
    assert c.parity.ok, c.parity.format()
    assert c.parity.compared == 93 and c.preset == "llama3.1_8B"
    o = _overrides(c)
    assert o["training.batch_size"] == (2, "llama3_8b.toml:13") and o["training.steps"] == (40, "train.sh:4")
    assert o["float8.enable_fsdp_float8_all_gather"] == (True, "llama3_8b.toml:26")
    assert "float8.filter_fqns" not in o  # --float8.filter_fqns output: the preset's value already
    assert o["primus_turbo.enable_primus_turbo"][0] is False
    assert o["job.dump_folder"] == ("./torchtitan/outputs", "torchtitan default")  # preset: ./outputs
    assert "model.converters" not in o and not c.unmapped


def test_v01_refusals():
    # cosine decay, lr_min, seed: keys v0.1.0-rc1's presets do not define, so no override can set them
    with pytest.raises(MigrateError, match="cannot express") as err:
        _convert_v01("rocm_legacy", "train.sh")
    assert err.value.exit_code == 3 and "lr_scheduler.decay_type" in err.value.message
    # a job for torchtitan 73a0e697 ([quantize...], local_batch_size, hf_assets_path) is not translated back;
    # 5fb7cc2e (v0.4.0 .. v26.4.0's pin) already has those fields too, so both are named
    with pytest.raises(MigrateError, match="written for torchtitan 5fb7cc2e or 73a0e697 "):
        _convert_v01("llama3_8b", "run_train.sh")


# v0.2.0 and v0.3.0 pin v0.1.0-rc1's torchtitan (4c4388f6); their own build is the judge
@pytest.mark.parametrize("tag,target", [("v0.1.0-rc1", "primus-0.1"), ("v0.2.0", "primus-0.2.0"),
                                        ("v0.3.0", "primus-0.3.0")])
def test_differential_v01_end_to_end(tmp_path, tmp_path_factory, tag, target):
    from helpers_titan import TORCHTITAN_PIN_01

    root = tmp_path_factory.getbasetemp() / "upstream"
    titan, primus = torchtitan_tree(root, TORCHTITAN_PIN_01), primus_tree(root, tag)
    plan, c = _convert_v01("primus01", "train.sh", target)
    assert c.parity.ok, c.parity.format()
    job = flatten(torchtitan_parse(titan, plan.argv_values(), FIXTURES / "primus01"))
    exp = tmp_path / c.experiment_path
    exp.write_text(c.files[c.experiment_path])
    built = flatten(primus_build(primus, titan, exp, tmp_path / "work")["job_config"])
    differing = {k for k in job if job[k] != built[k]}
    assert differing <= set(EXCEPTIONS), {k: (job[k], built[k]) for k in differing}
    assert built["primus_turbo.enable_primus_turbo"] is False


def test_a_job_is_read_with_a_table_that_translates_to_the_target_first(monkeypatch, tmp_path):
    """With a third table bundled that also reads the old job but cannot be translated to the target
    (named so that it sorts first), the old job is still read with 4c4388f6 and translated; a job no
    translatable table reads names every table that reads it."""
    import shutil

    from migrate.torchtitan import schema as schema_mod
    from migrate.torchtitan.jobconfig import TitanJob
    from migrate.torchtitan.translate import parse_for_target

    for name in ("4c4388f6", "73a0e697"):
        shutil.copy(schema_mod.SCHEMA_DIR / f"{name}.json", tmp_path / f"{name}.json")
    data = json.loads((tmp_path / "4c4388f6.json").read_text())
    data["name"] = "0aaaaaaa"  # a copy of the old table under a name that sorts first, no renames to 73a0e697
    (tmp_path / "0aaaaaaa.json").write_text(json.dumps(data))
    monkeypatch.setattr(schema_mod, "SCHEMA_DIR", tmp_path)
    target = schema_mod.load_schema("73a0e697")

    def parse(schema):
        if "training.batch_size" not in schema.fields:
            raise MigrateError("unknown option --training.batch_size")
        return TitanJob(schema=schema, values={}, origins={})

    assert parse_for_target(target, parse).schema.name == "4c4388f6"

    def parse_only_0a(schema):
        if schema.name != "0aaaaaaa":
            raise MigrateError("unknown option --x.y")
        return TitanJob(schema=schema, values={}, origins={})

    with pytest.raises(MigrateError, match="written for torchtitan 0aaaaaaa "):
        parse_for_target(target, parse_only_0a)


@pytest.mark.parametrize("target", ["primus-0.4.0", "primus-0.7.0", "primus-26.2", "primus-26.4.0"])
def test_releases_pinning_torchtitan_5fb7cc2e_refuse_with_the_reason(target):
    """v0.4.0 .. v26.4.0 pin torchtitan 5fb7cc2e (third_party/torchtitan), whose table is not bundled."""
    with pytest.raises(MigrateError) as err:
        _convert("llama3_8b", target)
    assert err.value.exit_code == 2 and "5fb7cc2e" in err.value.message and target in err.value.message


@pytest.mark.parametrize("target", ["primus-0.2.0", "primus-0.3.0"])
def test_releases_pinning_4c4388f6_convert_the_old_job(target):
    conversion = _convert_v01("primus01", "train.sh", target)[1]
    assert conversion.parity.ok and conversion.parity.compared == 93
