"""Which Megatron-LM option table reads a script: the one named, the checkout's own, or the first bundled that accepts it.

Facts behind the expectations: `--grad-reduce-in-bf16` and `--use-megatron-fsdp` are options of
upstream Megatron-LM d3528a21 and not of the ROCm fork's rocm_dev (the bundled tables, extracted
from those commits, say so and the first test checks it). A fork checkout is simulated by an
arguments.py written here from the rocm_dev table plus one option only that fork has.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from migrate.megatron.schema import load_schema
from migrate.megatron.schema_choice import find_checkout

from helpers_megatron import write_tree

REPO = Path(__file__).resolve().parent.parent
NEWER_OPTION = "--grad-reduce-in-bf16"

SCRIPT = """#!/bin/bash
ARGS="--num-layers 4 --hidden-size 256 --num-attention-heads 8 --seq-length 128 \\
  --max-position-embeddings 128 --micro-batch-size 2 --global-batch-size 16 \\
  --lr 3e-4 --min-lr 1e-5 --train-iters 20 --bf16 --tokenizer-type GPT2BPETokenizer \\
  --vocab-file vocab.json --merge-file merges.txt --data-path data_text_document {extra}"
torchrun --nproc_per_node 8 pretrain_gpt.py $ARGS
"""


def write_script(folder: Path, extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train_small.sh"
    path.write_text(SCRIPT.format(extra=extra))
    return path


def test_the_bundled_tables_disagree_on_the_option_used_here():
    assert NEWER_OPTION not in load_schema("rocm_dev").by_option
    assert NEWER_OPTION in load_schema("d3528a21").by_option


def test_a_newer_upstream_option_is_read_with_the_first_bundled_table_that_knows_it(cli, tmp_path):
    script = write_script(tmp_path / "s", NEWER_OPTION)
    out = tmp_path / "out"
    result = cli("convert", script, "-o", out)  # primus-26.5 pins d3528a21 itself
    assert result.code in (0, 4), result.err
    assert "d3528a21 option table" in result.err and "rocm_dev: unknown Megatron-LM option" in result.err
    report = json.loads((out / "report.json").read_text())
    assert report["legacy_schema"] == "d3528a21"


def test_the_named_table_is_used_as_is(cli, tmp_path):
    script = write_script(tmp_path / "s", NEWER_OPTION)
    result = cli("convert", script, "-o", tmp_path / "out", "--legacy-schema", "rocm_dev")
    assert result.code == 2
    assert f"unknown Megatron-LM option '{NEWER_OPTION}' (schema rocm_dev)" in result.err


def test_a_script_every_table_rejects_gets_the_default_tables_error(cli, tmp_path):
    script = write_script(tmp_path / "s", "--no-such-option-anywhere")
    result = cli("convert", script, "-o", tmp_path / "out")
    assert result.code == 2
    assert "unknown Megatron-LM option '--no-such-option-anywhere' (schema rocm_dev)" in result.err


def test_a_script_the_default_accepts_says_nothing_about_tables(cli, tmp_path):
    script = write_script(tmp_path / "s", "")
    out = tmp_path / "out"
    result = cli("convert", script, "-o", out, "--target", "primus-0.1")
    assert result.code in (0, 4), result.err
    assert "option table" not in result.err
    assert json.loads((out / "report.json").read_text())["legacy_schema"] == "rocm_dev"


FORK_OPTION = "--fork-only-knob"


def fork_arguments_py() -> str:
    """An arguments.py declaring the rocm_dev table's plain options, plus one option of this fork."""
    schema = json.loads((REPO / "migrate" / "megatron" / "schemas" / "rocm_dev.json").read_text())
    lines = ["import argparse", "", "def parse_args(extra_args_provider=None, ignore_unknown_args=False):",
             "    parser = argparse.ArgumentParser(allow_abbrev=False)", "    parser = _add_all(parser)",
             "    return parser.parse_args()", "", "def _add_all(parser):",
             "    group = parser.add_argument_group(title='all')",
             f"    group.add_argument('{FORK_OPTION}', type=int, default=3)"]
    for opt in schema["options"]:
        if isinstance(opt["default"], dict) or (opt["type"] not in (None, "int", "float", "str")):
            continue
        kwargs = [f"dest={opt['dest']!r}", f"action={opt['action']!r}"]
        if opt["action"] == "store":
            kwargs.append(f"default={opt['default']!r}")
            kwargs += [f"type={opt['type']}"] if opt["type"] else []
            kwargs += [f"nargs={opt['nargs']!r}"] if opt["nargs"] is not None else []
            kwargs += [f"choices={opt['choices']!r}"] if opt["choices"] is not None else []
        strings = ", ".join(repr(s) for s in opt["option_strings"])
        lines.append(f"    group.add_argument({strings}, {', '.join(kwargs)})")
    lines.append("    return parser")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fork_checkout(tmp_path_factory):
    root = tmp_path_factory.mktemp("fork") / "Megatron-LM-fork"
    write_tree(root, {"megatron/training/arguments.py": fork_arguments_py(),
                      "pretrain_gpt.py": "def main():\n    pass\n"})
    return root


def test_the_checkout_is_found_from_any_folder_inside_it(fork_checkout, tmp_path):
    deep = fork_checkout / "examples" / "team" / "llama"
    deep.mkdir(parents=True)
    assert find_checkout(deep) == fork_checkout
    assert find_checkout(write_script(deep, "")) == fork_checkout
    assert find_checkout(tmp_path) is None


def test_a_script_inside_a_fork_checkout_is_read_with_its_own_table(cli, fork_checkout, tmp_path):
    script = write_script(fork_checkout / "examples" / "mine", f"{FORK_OPTION} 5")
    out = tmp_path / "out"
    result = cli("convert", script, "-o", out, "--target", "primus-0.1")
    # the fork's option parses (Primus has no such key: an unmapped flag, exit 4), the checkout is named
    assert result.code == 4, result.err
    assert f"checkout it sits in ({fork_checkout})" in result.err
    assert FORK_OPTION in result.err
    assert json.loads((out / "report.json").read_text())["legacy_schema"] == str(fork_checkout)

    outside = tmp_path / "copy" / "train_small.sh"
    outside.parent.mkdir()
    shutil.copy(script, outside)
    refused = cli("convert", outside, "-o", tmp_path / "out2", "--target", "primus-0.1")
    assert refused.code == 2 and f"unknown Megatron-LM option '{FORK_OPTION}'" in refused.err


def test_batch_takes_the_same_choices(cli, fork_checkout, tmp_path):
    write_script(fork_checkout / "examples" / "batch_one", f"{FORK_OPTION} 5")
    out = tmp_path / "bout"
    result = cli("batch", fork_checkout / "examples" / "batch_one", "-o", out, "--jobs", "1", "--target", "primus-0.1")
    assert result.code == 4, result.err
    assert "inside the Megatron-LM checkout" in result.err
    report = json.loads((out / "batch_report.json").read_text())
    [variant] = report["scripts"][0]["variants"]
    assert variant["legacy_schema"] == "checkout"

    plain = tmp_path / "plain"
    write_script(plain, NEWER_OPTION)
    out2 = tmp_path / "bout2"
    result = cli("batch", plain, "-o", out2, "--jobs", "1")
    assert result.code in (0, 4), result.err
    [variant] = json.loads((out2 / "batch_report.json").read_text())["scripts"][0]["variants"]
    assert variant["legacy_schema"] == "d3528a21"
    assert "read with the d3528a21 option table" in (out2 / "batch_report.md").read_text()

    named = cli("batch", plain, "-o", tmp_path / "bout3", "--jobs", "1", "--legacy-schema", "rocm_dev")
    assert named.code == 2 and "unknown Megatron-LM option" in named.out + named.err


def test_a_checkout_whose_table_cannot_be_read_says_how_to_go_on(cli, tmp_path):
    root = write_tree(tmp_path / "odd-fork", {"megatron/training/arguments.py": "def unrelated():\n    pass\n"})
    script = write_script(root / "examples", "")
    result = cli("convert", script, "-o", tmp_path / "out")
    assert result.code == 2, result.err
    assert "--legacy-schema" in result.err and str(root) in result.err
    assert not (tmp_path / "out").exists()


def test_an_older_checkout_with_megatron_arguments_py_is_found_and_read(cli, tmp_path):
    """Before 2024 Megatron-LM (and Megatron-DeepSpeed, older ROCm branches) kept its parser in
    megatron/arguments.py: a script inside such a checkout is read with that file's table too."""
    root = write_tree(tmp_path / "Megatron-DeepSpeed-like", {"megatron/arguments.py": fork_arguments_py(),
                                                             "pretrain_gpt.py": "def main():\n    pass\n"})
    script = write_script(root / "examples", f"{FORK_OPTION} 5")
    assert find_checkout(script) == root
    out = tmp_path / "out"
    result = cli("convert", script, "-o", out, "--target", "primus-0.1")
    assert result.code == 4, result.err  # the fork's option parses; Primus has no key for it (unmapped)
    assert f"checkout it sits in ({root})" in result.err
    assert json.loads((out / "report.json").read_text())["legacy_schema"] == str(root)


def test_a_parser_built_by_a_builder_function_is_read(tmp_path):
    """epfLLM's Megatron-LLM: parse_args() takes its parser from build_base_parser()."""
    from migrate.megatron.extract import extract_schema

    built = fork_arguments_py().replace(
        "def parse_args(extra_args_provider=None, ignore_unknown_args=False):\n"
        "    parser = argparse.ArgumentParser(allow_abbrev=False)\n    parser = _add_all(parser)\n",
        "def build_base_parser():\n    parser = argparse.ArgumentParser(allow_abbrev=False)\n"
        "    parser = _add_all(parser)\n    return parser\n\n"
        "def parse_args(extra_args_provider=None):\n    parser = build_base_parser()\n")
    assert "build_base_parser()" in built
    root = write_tree(tmp_path / "Megatron-LLM", {"megatron/arguments.py": built})
    assert FORK_OPTION in extract_schema(root).by_option


def test_batch_names_a_checkout_inside_the_folder_by_its_relative_path(cli, fork_checkout, tmp_path):
    """Converting a folder that holds checkouts (a monorepo of forks): each row says whose table read it."""
    write_script(fork_checkout / "examples" / "inner", f"{FORK_OPTION} 5")
    out = tmp_path / "out"
    result = cli("batch", fork_checkout.parent, "-o", out, "--jobs", "1", "--target", "primus-0.1",
                 "--include", "Megatron-LM-fork/examples/inner/*")
    assert result.code == 4, result.out + result.err
    [script] = json.loads((out / "batch_report.json").read_text())["scripts"]
    assert [v["legacy_schema"] for v in script["variants"]] == ["checkout:Megatron-LM-fork"]
    assert str(tmp_path) not in (out / "batch_report.json").read_text()  # no machine path


def test_a_newer_table_script_converts_at_primus_0_1_with_its_flag_meaning_kept(cli, tmp_path):
    # the script is read with d3528a21 (NEWER_OPTION), whose --disable-mamba-mem-eff-path is a store_false
    # to use_mamba_mem_eff_path (default True); primus-0.1 pins 5a676b36, where the same flag is a
    # store_true to disable_mamba_mem_eff_path (default False): the truth value flips with the dest, so
    # the script's unset flag is disable_mamba_mem_eff_path False at primus-0.1
    script = write_script(tmp_path / "s", NEWER_OPTION)
    out = tmp_path / "out"
    result = cli("convert", script, "-o", out, "--target", "primus-0.1")
    assert result.code in (0, 4), result.err
    report = json.loads((out / "report.json").read_text())
    assert report["legacy_schema"] == "d3528a21"
    assert report["parity"]["ok"], report["parity"]


def test_a_checkouts_entry_args_defaults_supply_the_tokenizer_the_script_leaves_unset(cli, tmp_path):
    # Megatron-LM's (and Megatron-DeepSpeed's) pretrain_gpt.py pass args_defaults={'tokenizer_type':
    # 'GPT2BPETokenizer'} to pretrain(), which fills an unset --tokenizer-type before validate_args: such
    # a run trains with the GPT-2 tokenizer, as Primus's trainer does (the checkout's entry script is part
    # of its option table; without it the legacy side would read tokenizer_type None)
    root = tmp_path / "Megatron-DeepSpeed-like"
    write_tree(root, {"megatron/training/arguments.py": fork_arguments_py(),
                      "pretrain_gpt.py": "from megatron.training import pretrain\n\ndef main():\n"
                                         "    pretrain(None, None, None,\n"
                                         "             args_defaults={'tokenizer_type': 'GPT2BPETokenizer'})\n"})
    script = write_script(root / "examples", "")
    script.write_text(script.read_text().replace("--tokenizer-type GPT2BPETokenizer ", ""))
    out = tmp_path / "out"
    result = cli("convert", script, "-o", out, "--target", "primus-26.5")
    assert result.code in (0, 4), result.err
    report = json.loads((out / "report.json").read_text())
    assert report["legacy_schema"] == str(root) and report["parity"]["ok"], report["parity"]
