"""A torchtitan job's TOML + argv, read as torchtitan's ConfigManager (and tyro) read them.

Expected values come from reading torchtitan/config/manager.py at 73a0e697 (see the module
docstring of migrate.torchtitan.jobconfig); `test_differential_*` checks the same cases against
torchtitan's own ConfigManager when TORCHTITAN_GIT is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers_titan import FIXTURES, flatten, torchtitan_parse, torchtitan_tree
from migrate.diagnostics import MigrateError, Origin
from migrate.torchtitan.jobconfig import parse_job, toml_lines
from migrate.torchtitan.schema import load_schema

SCHEMA = load_schema("73a0e697")
LLAMA_TOML = FIXTURES / "llama3_8b" / "train_configs" / "llama3_8b.toml"


def _job(argv, cwd: Path, toml: Path | None = None):
    return parse_job(SCHEMA, argv, cwd, toml=toml)


def _write(tmp_path: Path, text: str, name: str = "job.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# cases: argv (relative TOML names inside tmp_path) -> {field: expected} (reasoned from manager.py / tyro)
CASES = [
    (["--training.steps", "3", "--training.steps=4"], {"training.steps": 4}),                 # last wins
    (["--training.local-batch-size", "3"], {"training.local_batch_size": 3}),                 # - and _ alike
    (["--checkpoint.enable", "--checkpoint.no-enable"], {"checkpoint.enable": False}),       # flags, last wins
    (["--checkpoint.no_enable"], {"checkpoint.enable": False}),
    (["--model.converters", "float8,mx"], {"model.converters": ["float8", "mx"]}),           # list[str]: a,b
    (["--lr_scheduler.total_steps", "None"], {"lr_scheduler.total_steps": None}),
    (["--training.max_norm", "1"], {"training.max_norm": 1.0}),                               # float | int
    (["--training.dataset_path", "None"], {"training.dataset_path": None}),                   # str | None
    (["--quantize.grouped_mm.float8.fqns", "experts"], {"quantize.grouped_mm.float8.fqns": ["experts"]}),
    (["--training.dataloader.num_workers", "2"], {"training.dataloader.num_workers": 2}),
    (["--job.config_file", "a.toml"], {"training.steps": 7, "checkpoint.enable": True}),
    (["--job.config-file=a.toml", "--training.steps", "5"], {"training.steps": 5, "job.config_file": "a.toml"}),
    # the FIRST config file is loaded, the LAST is recorded
    (["--job.config_file", "a.toml", "--job.config_file", "c.toml"],
     {"training.steps": 7, "job.config_file": "c.toml"}),
    (["--model.tokenizer_path", "tok/"], {"model.hf_assets_path": "tok/"}),                   # _validate_config
]
REFUSED = [
    ["--model.converters", "float8", "mx"],   # one comma-separated word, not nargs
    ["--checkpoint.enable", "True"],          # a flag takes no value
    ["--no-checkpoint.enable"],               # tyro's negative form is on the last segment
    ["--training.bogus", "3"],
    ["--training.steps", "1.5"],
    ["--activation_checkpoint.mode", "some"],
    ["--job.config_file", "missing.toml"],
    ["--job.config_file", "bad_field.toml"],
    ["--job.config_file", "bad_section.toml"],
    ["positional"],
]


@pytest.fixture
def job_dir(tmp_path):
    _write(tmp_path, "[training]\nsteps = 7\n[checkpoint]\nenable = true\n", "a.toml")
    _write(tmp_path, "[training]\nsteps = 9\n", "c.toml")
    _write(tmp_path, "[training]\nstepz = 3\n", "bad_field.toml")
    _write(tmp_path, "[trainer]\nsteps = 3\n", "bad_section.toml")
    return tmp_path


@pytest.mark.parametrize("argv,expected", CASES)
def test_argv_cases(job_dir, argv, expected):
    job = _job(argv, job_dir)
    for key, value in expected.items():
        assert job.values[key] == value and type(job.values[key]) is type(value), key


@pytest.mark.parametrize("argv", REFUSED)
def test_refused(job_dir, argv):
    with pytest.raises(MigrateError):
        _job(argv, job_dir)


def test_differential_against_torchtitans_config_manager(job_dir, tmp_path_factory):
    """Every case above, parsed by torchtitan's own ConfigManager at the pin (run in job_dir)."""
    tree = torchtitan_tree(tmp_path_factory.mktemp("tt"))
    for argv, _ in CASES:
        theirs = torchtitan_parse(tree, argv, job_dir)
        assert "error" not in theirs, (argv, theirs)
        theirs = flatten(theirs)
        ours = _job(argv, job_dir).values
        if argv[:1] == ["--model.tokenizer_path"]:
            theirs["model.hf_assets_path"] = ours["model.hf_assets_path"]  # theirs also checks the path exists
        assert ours == theirs, argv
    for argv in REFUSED:
        if argv[-1] in ("bad_field.toml", "bad_section.toml", "missing.toml"):
            continue  # errors raised while loading: checked one by one below
        assert "error" in torchtitan_parse(tree, argv, job_dir), argv
    for name in ("bad_field.toml", "bad_section.toml", "missing.toml"):
        assert "error" in torchtitan_parse(tree, ["--job.config_file", name], job_dir), name


def test_differential_fixture_jobs(tmp_path_factory):
    tree = torchtitan_tree(tmp_path_factory.mktemp("tt"))
    for folder, toml in (("llama3_8b", "train_configs/llama3_8b.toml"),
                         ("deepseek_v3", "train_configs/deepseek_v3_16b.toml")):
        argv = ["--job.config_file", toml, "--training.steps", "20", "--debug.moe_force_load_balance"]
        theirs = flatten(torchtitan_parse(tree, argv, FIXTURES / folder))
        assert _job(argv, FIXTURES / folder).values == theirs, folder


def test_origins_name_the_toml_line_and_the_argv_word(tmp_path):
    shutil.copy(LLAMA_TOML, tmp_path / "job.toml")
    job = parse_job(SCHEMA, ["--job.config_file", "job.toml", "--training.steps", "20"], tmp_path,
                    toml_display_root=tmp_path)
    assert job.origins["lr_scheduler.decay_type"] == Origin("job.toml", 30)  # line 30: `decay_type = "cosine"`
    assert job.origins["quantize.linear.float8.filter_fqns"] == Origin("job.toml", 66)  # line 66
    assert job.origins["training.steps"].file == "<command line>"
    assert job.values["training.steps"] == 20 and "training.dtype" not in job.origins


def test_toml_errors_are_located(tmp_path):
    cases = {
        "[training]\nsteps = 3\nlocal_batchsize = 4\n": (3, "unknown field 'local_batchsize' in [training]"),
        "[model]\nname = 'x'\n\n[trainer]\nsteps = 1\n": (4, "unknown section [trainer]"),
        "[training]\nsteps = \"1000\"\n": (2, "'training.steps' must be int"),
        "[lr_scheduler]\ndecay_type = \"cos\"\n": (2, "must be one of 'linear', 'sqrt', 'cosine'"),
        "training = 3\n": (1, "'training' is a section"),
        "[training]\nsteps = \n": (2, "invalid TOML"),
        "[quantize.linear.float8]\nfilter_fqns = \"output\"\n": (2, "must be list[str]"),
    }
    for text, (line, message) in cases.items():
        path = _write(tmp_path, text)
        with pytest.raises(MigrateError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
            _job([], tmp_path, toml=path)
        assert err.value.origin.line == line, text


def test_refuses_unknown_shell_values_and_extension_modules(tmp_path):
    from migrate.shell.plan import Token

    with pytest.raises(MigrateError, match="not known before the run"):
        _job([Token("--training.steps", Origin("run.sh", 3)), Token("$(nproc)", Origin("run.sh", 3), True)], tmp_path)
    with pytest.raises(MigrateError, match="extends JobConfig with its own module"):
        _job(["--job.custom_config_module", "my.ext"], tmp_path)


def test_extension_modules_are_refused_before_their_sections(tmp_path):
    toml = _write(tmp_path, '[job]\ncustom_config_module = "my.ext"\n\n[my_section]\nx = 1\n')
    with pytest.raises(MigrateError, match="does not model JobConfig extensions") as err:
        _job([], tmp_path, toml=toml)
    assert err.value.origin.line == 2  # not the unknown [my_section] below it
    with pytest.raises(MigrateError, match="does not model JobConfig extensions"):
        _job(["--experimental.custom-args-module=my.ext"], tmp_path)


def test_toml_lines_handles_dotted_headers_and_quotes():
    lines = toml_lines('[a]\nx = 1\n[ "b" . c ]\n"y" = 2\n  z.w = 3\n')
    assert lines == {"a": 1, "a.x": 2, "b.c": 3, "b.c.y": 4, "b.c.z.w": 5}


def _word_strategy(descriptor):
    """Text tyro accepts for a field type (flags handled by the caller)."""
    from hypothesis import strategies as st

    text = st.text(alphabet="abcxyz_./0123456789", min_size=1, max_size=8).filter(lambda s: s != "None")
    if isinstance(descriptor, dict) and "union" in descriptor:
        return st.one_of([_word_strategy(o) for o in descriptor["union"]])
    if isinstance(descriptor, dict) and "literal" in descriptor:
        return st.sampled_from([str(v) for v in descriptor["literal"]])
    if isinstance(descriptor, dict):  # list[str]
        return st.lists(text, min_size=1, max_size=3).map(",".join)
    return {"int": st.integers(-5, 10**6).map(str), "float": st.floats(-1e3, 1e3, allow_nan=False).map(repr),
            "str": text, "none": st.just("None")}[descriptor]


def test_differential_random_argv(tmp_path_factory):
    """Random option sequences over every JobConfig field (repeats included), torchtitan vs us."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    tree = torchtitan_tree(tmp_path_factory.mktemp("tt"))
    work = tmp_path_factory.mktemp("work")
    fields = [f for f in SCHEMA.fields.values() if f.type != {"union": [{"list": {"list": "str"}}, "none"]}
              and not f.path.startswith(("job.custom_config_module", "experimental.custom_args_module",
                                         "job.config_file", "model.tokenizer_path"))]

    @st.composite
    def option(draw):
        spec = draw(st.sampled_from(fields))
        name = spec.path if draw(st.booleans()) else spec.path.replace("_", "-")
        if spec.type == "bool":
            head, _, leaf = name.rpartition(".")
            return ["--" + (name if draw(st.booleans()) else f"{head}.no-{leaf}")]
        word = draw(_word_strategy(spec.type))
        return [f"--{name}={word}"] if draw(st.booleans()) else [f"--{name}", word]

    @settings(max_examples=int(os.environ.get("TITAN_ORACLE_EXAMPLES", "12")), deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(option(), min_size=1, max_size=12))
    def check(options):
        argv = [w for o in options for w in o]
        theirs = torchtitan_parse(tree, argv, work)
        if "error" in theirs:  # torchtitan refuses the job (its dataclasses' checks): so must we
            with pytest.raises(MigrateError):
                _job(argv, work)
            return
        assert _job(argv, work).values == flatten(theirs), argv

    check()


# JobConfig's __post_init__ checks at 73a0e697 (torchtitan/config/job_config.py): `Validation.steps`
# must be positive or -1, and `Parallelism.context_parallel_load_balancer` may not be "" (None turns it
# off); torchtitan stops before training, so the job is refused with the line that set the value.
@pytest.mark.parametrize("steps, refused", [(0, True), (-2, True), (-1, False), (5, False)])
def test_validation_steps_checked_as_torchtitan_does(tmp_path, steps, refused):
    argv = ["--validation.steps", str(steps)]
    if refused:
        with pytest.raises(MigrateError, match="validation.steps"):
            _job(argv, tmp_path)
    else:
        assert _job(argv, tmp_path).values["validation.steps"] == steps


def test_empty_context_parallel_load_balancer_is_refused_at_its_line(tmp_path):
    toml = _write(tmp_path, '[parallelism]\ncontext_parallel_load_balancer = ""\n')
    with pytest.raises(MigrateError, match="load_balancer") as err:
        _job([], tmp_path, toml=toml)
    assert err.value.origin.line == 2
