"""Everyday CLI behaviour (issue #18): --version, typo'd subcommands, synopses, the run line,
`train --mock-data`."""

from __future__ import annotations

import argparse
import json
import re
import shlex

import pytest

from migrate import __version__
from migrate.cli import build_parser
from tests.conftest import FIXTURES, REPO

LLAMA3 = FIXTURES / "scripts" / "rocm" / "train_llama3.sh"
SMALL = """#!/bin/bash
ARGS="--num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 32 \\
  --max-position-embeddings 32 --micro-batch-size 2 --global-batch-size 4 \\
  --lr 3e-4 --train-iters 4 --tokenizer-type NullTokenizer --vocab-size 128 \\
  --data-path /nowhere/corpus_text_document"
torchrun --nproc_per_node 1 pretrain_gpt.py $ARGS
"""


def test_version_prints_the_package_version(cli, capsys):
    with pytest.raises(SystemExit) as stop:
        cli("--version")
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"primus-migrate {__version__}"


@pytest.mark.parametrize("argv, meant", [
    (["insepct", "x.sh"], "inspect"),
    (["conver"], "convert"),
    (["parrity", "x.sh", "--proxy"], "parity"),
    (["compare-log", "a.log", "b.log"], "compare-logs"),
])
def test_mistyped_subcommand_names_the_closest_one(cli, tmp_path, monkeypatch, argv, meant):
    monkeypatch.chdir(tmp_path)  # no file of that name here
    result = cli(*argv)
    assert result.code == 2
    assert f"unknown command '{argv[0]}'" in result.err and f"primus-migrate {meant}`" in result.err
    assert "-o" not in result.err and "script not found" not in result.err


def test_a_script_named_like_a_subcommand_is_still_a_script(cli, tmp_path, monkeypatch):
    """A real file wins: `primus-migrate conver -o out` converts the file `conver`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conver").write_text(SMALL)
    result = cli("conver", "-o", tmp_path / "out")
    assert "unknown command" not in result.err
    assert result.code == 0, result.err


def test_an_unrelated_missing_name_is_a_missing_script(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for word in ("train_llama.sh", "train_llama", "convert_llama", "zzzz"):
        result = cli(word, "-o", tmp_path / "out")
        assert result.code == 2 and "unknown command" not in result.err


def test_the_default_command_builds_only_the_convert_parser(tmp_path):
    """`primus-migrate SCRIPT -o OUT` needs convert's parser alone: no other command's module is
    imported (building all of them was ~5 ms of a cold convert); a typo still gets the full parser
    (which names the closest command, above)."""
    import ast
    import subprocess
    import sys

    script = tmp_path / "small.sh"
    script.write_text(SMALL)
    code = ("import sys; from migrate.cli import main; code = main(sys.argv[1:]);"
            "print(sorted(m for m in sys.modules if m.startswith('migrate.cli.'))); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code, str(script), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    loaded = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert "migrate.cli.convert" in loaded
    assert not {"migrate.cli.batch_cmd", "migrate.cli.parity_cmd", "migrate.cli.inspect_cmd"} & set(loaded)


def _options(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    """Each option's spellings (`-o`, `--output`); any one of them documents it."""
    return [tuple(a.option_strings) for a in parser._actions if a.option_strings and "--help" not in a.option_strings]


def _mentioned(spellings: tuple[str, ...], text: str) -> bool:
    return any(re.search(re.escape(s) + r"(?![\w-])", text) for s in spellings)


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser(only=name)
    return parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]


def _synopsis(readme: str, command: str) -> str:
    """The fenced block that starts with `primus-migrate [convert]` / `primus-migrate COMMAND`."""
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", readme, re.S | re.M):
        first = block.lstrip()
        if command == "convert" and first.startswith("primus-migrate [convert] SCRIPT"):
            return block
        if first.startswith(f"primus-migrate {command} "):
            return block
    raise AssertionError(f"README has no synopsis block for {command}")


@pytest.mark.parametrize("command", ["convert", "train", "batch", "parity", "verify"])
def test_readme_synopsis_lists_every_option(command):
    """The README is checked against the parser itself, not against a list kept here."""
    block = _synopsis((REPO / "README.md").read_text(), command)
    missing = sorted(o[-1] for o in _options(_subparser(command)) if not _mentioned(o, block))
    assert not missing, f"README's {command} synopsis lacks {missing}"


def test_convert_help_shows_script_arguments_and_every_option(cli, capsys):
    with pytest.raises(SystemExit):
        cli("convert", "--help")
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert "[-- SCRIPT_ARGS ...]" in usage
    assert all(_mentioned(o, usage) for o in _options(_subparser("convert"))), usage


def test_readme_documents_exit_codes_per_command():
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("| command | 0 | 2 | 3 | 4 | 5 |"):]
    for command in ("convert", "train", "parity", "compare-logs", "batch", "verify"):
        assert f"| `{command}`" in table


def test_run_line_names_the_experiment_by_absolute_path(cli, tmp_path, monkeypatch):
    """The printed line starts with `cd <Primus>`: a relative EXP= would point into the Primus tree."""
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "train_small.sh"
    script.write_text(SMALL)
    result = cli(script.name, "-o", "out")
    assert result.code == 0, result.err
    line = next(li for li in result.out.splitlines() if li.strip().startswith("run:"))
    words = shlex.split(line.split("&&", 1)[1])
    exp = words[0].split("=", 1)[1]
    assert exp == str(tmp_path / "out" / "train_small-pretrain.yaml")
    assert (tmp_path / "out" / "train_small-pretrain.yaml").is_file()


def test_train_missing_dataset_error_offers_mock_data(cli, tmp_path):
    script = tmp_path / "train_small.sh"
    script.write_text(SMALL)
    assert cli(script, "-o", tmp_path / "out").code == 0
    result = cli("train", tmp_path / "out" / "train_small-pretrain.yaml", "--proxy", "--iters", "1")
    assert result.code == 2
    assert "data file not found: /nowhere/corpus_text_document.bin" in result.err
    assert "--mock-data" in result.err


def test_mock_data_swaps_the_dataset_for_synthetic_tokens_and_says_so():
    from migrate.cli.train_cmd import _synthetic_tokens

    ns = {"mock_data": False, "data_path": ["1.0", "/d/a_text_document"], "train_data_path": None, "seed": 7}
    out, said = _synthetic_tokens(ns)
    assert out["mock_data"] is True and out["data_path"] is None and out["seed"] == 7
    assert ns["mock_data"] is False  # the caller's namespace is not changed
    assert "synthetic tokens (--mock-data)" in said and "/d/a_text_document" in said


@pytest.mark.slow
def test_train_mock_data_trains_the_quick_start_output(cli, tmp_path):
    """The quick start's own output trains with --proxy --mock-data (its dataset is on a cluster)."""
    out = tmp_path / "out"
    assert cli(LLAMA3, "MODEL_SIZE=8", "TP=1", "-o", out).code == 0
    exp = next(out.glob("*.yaml"))
    assert cli("train", exp, "--proxy", "--iters", "1").code == 2
    result = cli("train", exp, "--proxy", "--iters", "2", "--mock-data", "--out", tmp_path / "run")
    assert result.code == 0, result.err
    assert " > data: synthetic tokens (--mock-data)" in result.out
    log = (tmp_path / "run" / "train.log").read_text().splitlines()
    assert log[0].startswith(" > data: synthetic tokens (--mock-data) instead of the config's dataset")
    rows = [json.loads(li) for li in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2]


# ---- messages --------------------------------------------------------------------------------

def _small_with(tmp_path, extra: str, name: str = "train_small.sh"):
    path = tmp_path / name
    path.write_text(SMALL.replace("pretrain_gpt.py $ARGS", f"pretrain_gpt.py $ARGS {extra}"))
    return path


def test_an_unmapped_flag_is_said_once_on_stderr_and_once_in_the_report(cli, tmp_path):
    script = _small_with(tmp_path, "--standalone-embedding-stage")
    out = tmp_path / "out"
    result = cli(script, "-o", out)
    assert result.code == 4, result.err
    reason = "has no equivalent in Megatron-LM"  # the reason's text, wherever it is repeated
    assert result.err.count(reason) == 1
    assert len([li for li in result.err.splitlines() if "--standalone-embedding-stage" in li]) == 1
    report = (out / "report.md").read_text()
    assert report.count(reason) == 1
    row = next(li for li in report.splitlines() if li.startswith("| `--standalone-embedding-stage`"))
    assert "no Primus equivalent (see above)" in row
    # report.json keeps every detail for machines
    data = json.loads((out / "report.json").read_text())
    assert [u["flag"] for u in data["unmapped"]] == ["--standalone-embedding-stage"]


def test_flag_table_shows_what_the_script_wrote(cli, tmp_path):
    script = _small_with(tmp_path, "--disable-bias-linear --min-lr 1e-5")
    out = tmp_path / "out"
    assert cli(script, "-o", out).code == 0
    rows = {li.split("|")[1].strip(" `"): li.split("|")[2].strip()
            for li in (out / "report.md").read_text().splitlines() if li.startswith("| `--")}
    assert rows["--disable-bias-linear"] == "(switch)"  # not "false", the value of add_bias_linear
    assert rows["--min-lr"] == "1e-5" and rows["--lr"] == "3e-4"
    flags = {f["flag"]: f for f in json.loads((out / "report.json").read_text())["flags"]}
    assert flags["--disable-bias-linear"]["value"] is False and flags["--disable-bias-linear"]["written"] == ""


def test_expects_a_value_names_the_unset_variable(cli, tmp_path):
    script = _small_with(tmp_path, "--tensorboard-dir $TB_DIR --log-interval 1")
    result = cli(script, "-o", tmp_path / "out")
    assert result.code == 2
    assert "option --tensorboard-dir expects a value" in result.err
    assert "$TB_DIR is unset" in result.err and "TB_DIR=" in result.err
    assert cli(script, "TB_DIR=/tb", "-o", tmp_path / "out").code == 0


def test_a_choice_the_script_does_not_offer_lists_the_supported_values(cli, tmp_path):
    result = cli(LLAMA3, "MODEL_SIZE=9", "-o", tmp_path / "out")
    assert result.code == 2
    assert "MODEL_SIZE=9 (supported values: 8, 70)" in result.err
    assert "no training launch found" not in result.err
    assert not (tmp_path / "out").exists()


def test_a_knob_compared_with_one_literal_is_a_switch_not_a_list_of_choices():
    from migrate.shell.choices import unsupported_choices
    from migrate.shell.plan import Knob

    knobs = [Knob("TP", "8", "2", "env", ["1"]), Knob("MODEL_SIZE", "70", "8", "env", ["8", "70"]),
             Knob("PRECISION", "bf16", "fp8", "default", ["bf16", "fp16"])]
    assert unsupported_choices(knobs) == []  # TP=2 is fine; PRECISION was not set by the user
    assert [k.name for k in unsupported_choices([Knob("MODEL_SIZE", "70", "9", "arg", ["8", "70"])])] == ["MODEL_SIZE"]


@pytest.mark.parametrize("typed, meant", [
    ("--use-torch-compile", []),  # shares letters with --use-pytorch-profiler, not meaning
    ("--micro-batch-sise", ["--micro-batch-size"]),
    ("--seq-lenght", ["--seq-length"]),
    ("--tensor-model-paralel-size", ["--tensor-model-parallel-size"]),
    ("--use-flash-attention", ["--use-flash-attn"]),
    ("--tensorboard_dir", ["--tensorboard-dir"]),
    ("--global-batchsize", ["--global-batch-size"]),
    ("--disable-bias", ["--disable-bias-linear"]),
    ("--no-bias-linear", ["--disable-bias-linear"]),
])
def test_option_suggestions_compare_words(typed, meant):
    from migrate.megatron import load_schema
    from migrate.megatron.argv import similar_options

    assert similar_options(typed, load_schema("rocm_dev").by_option) == meant


def test_a_path_the_script_prepares_is_not_a_hub_model_id(cli, tmp_path):
    from migrate.conversion.tokenizer_policy import is_hub_model_id

    assert is_hub_model_id("meta-llama/Llama-3.1-8B", None)
    assert not is_hub_model_id("experiment/tokenizer.model", None)  # a file
    assert not is_hub_model_id("data/tok/llama", None)  # two slashes: a path
    out = tmp_path / "out"
    script = FIXTURES / "scripts" / "rocm" / "train_llama2.sh"
    assert cli(script, "DATA_DIR=experiment", "--target", "primus-0.1", "-o", out).code == 0
    notes = (out / "report.md").read_text()
    assert "local path experiment/tokenizer_llama2" in notes  # the script tests for it and downloads into it
    assert "is a Hugging Face model id" not in notes
