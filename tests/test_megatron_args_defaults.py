"""Entry scripts' `args_defaults`: extracted per entry, applied where validate_args applies them.

Megatron's validate_args(args, defaults) sets each key of the entry script's `args_defaults`
whose parsed value is None and leaves a value the run set alone. The expectations below are
that rule worked by hand, and the upstream dicts read from the sources with Python's own `ast`
(not our libcst extractor) when the Megatron-LM / Primus git dirs are at hand.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import textwrap
from pathlib import Path

import pytest

from migrate.diagnostics import Diagnostics
from migrate.megatron import derive, load_schema, parse_argv
from migrate.megatron.extract import extract_schema
from migrate.megatron.schema import Schema

GPT2 = {"tokenizer_type": "GPT2BPETokenizer"}
BASE = "--num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 128 --max-position-embeddings 128 --micro-batch-size 1"


# ---- extraction from a synthetic checkout

ARGUMENTS = """
    import argparse

    def parse_args(extra_args_provider=None, ignore_unknown_args=False):
        parser = argparse.ArgumentParser(allow_abbrev=False)
        group = parser.add_argument_group(title='base')
        group.add_argument('--tokenizer-type', type=str, default=None)
        group.add_argument('--dataloader-type', type=str, default=None)
        return parser
"""


def _checkout(root: Path, entries: dict[str, str]) -> Path:
    for rel, text in {"megatron/training/arguments.py": ARGUMENTS, **entries}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_literal_args_defaults_are_recorded_per_entry(tmp_path):
    schema = extract_schema(_checkout(tmp_path, {
        "pretrain_gpt.py": "from megatron.training import pretrain\n"
                           "pretrain(None, None, None, None, args_defaults={'tokenizer_type': 'GPT2BPETokenizer'})\n",
        "tools/serve.py": "from megatron.training.initialize import initialize_megatron\n"
                          "initialize_megatron(args_defaults={'no_load_rng': True, 'micro_batch_size': 1})\n",
        "pretrain_plain.py": "from megatron.training import pretrain\npretrain(None, None, None, None)\n",
        "other.py": "def f(args_defaults=None):\n    return args_defaults\n",
    }), name="synthetic")
    assert schema.args_defaults == {"pretrain_gpt.py": GPT2,
                                    "tools/serve.py": {"no_load_rng": True, "micro_batch_size": 1}}
    assert schema.entry_args_defaults("/opt/Megatron-LM/pretrain_gpt.py") == GPT2
    assert schema.entry_args_defaults("pretrain_plain.py") == {}
    assert schema.entry_args_defaults(None) == {}
    assert schema.notes == []


def test_computed_or_conflicting_args_defaults_are_notes_not_guesses(tmp_path):
    schema = extract_schema(_checkout(tmp_path, {
        "pretrain_computed.py": "import os\nfrom megatron.training import pretrain\n"
                                "pretrain(None, None, None, None, args_defaults={'tokenizer_type': os.getenv('T')})\n",
        "pretrain_two.py": "from megatron.training import pretrain\n"
                           "if X:\n    pretrain(1, args_defaults={'tokenizer_type': 'A'})\n"
                           "else:\n    pretrain(2, args_defaults={'tokenizer_type': 'B'})\n",
    }), name="synthetic")
    assert schema.args_defaults == {}
    assert any(n.startswith("pretrain_computed.py: args_defaults=") for n in schema.notes)
    assert any(n.startswith("pretrain_two.py: calls pass different args_defaults") for n in schema.notes)


def test_args_defaults_survive_json_and_old_files_still_load(tmp_path):
    schema = extract_schema(_checkout(tmp_path, {
        "pretrain_gpt.py": "from megatron.training import pretrain\npretrain(1, args_defaults={'tokenizer_type': 'X'})\n",
    }), name="synthetic")
    again = Schema.from_json(json.loads(json.dumps(schema.to_json())))
    assert again.args_defaults == {"pretrain_gpt.py": {"tokenizer_type": "X"}}
    old = {k: v for k, v in schema.to_json().items() if k != "args_defaults"}  # an earlier version's file
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    loaded = load_schema(str(path))
    assert loaded.args_defaults == {} and loaded.entry_args_defaults("pretrain_gpt.py") == {}


# ---- the bundled schemas: hand-written expectations (the upstream entry scripts' text)

@pytest.mark.parametrize("name", ["rocm_dev", "5a676b36", "84778176", "3bec9aa9", "d3528a21"])
def test_bundled_pretrain_gpt_passes_gpt2_bpe(name):
    schema = load_schema(name)
    assert schema.entry_args_defaults("pretrain_gpt.py") == GPT2
    assert schema.entry_args_defaults("pretrain_bert.py") == {"tokenizer_type": "BertWordPieceLowerCase"}
    assert schema.entry_args_defaults("pretrain_mamba.py") == GPT2


def test_bundled_rocm_deepseek_entry_passes_none():
    schema = load_schema("rocm_dev")
    assert schema.entry_providers("pretrain_deepseek.py") == ["get_patch_args"]
    assert schema.entry_args_defaults("pretrain_deepseek.py") == {}
    assert schema.args_defaults["pretrain_vision_classify.py"] == {"dataloader_type": "cyclic",
                                                                   "vision_pretraining": True}


# ---- the bundled schemas against the mirrors' text, read with ast

def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def _ast_args_defaults(source: str) -> list[dict]:
    out = []
    try:
        tree = ast.parse(source)
    except SyntaxError:  # newer Python syntax (a 3.12 f-string at 84778176): the literal itself, by its text
        return [ast.literal_eval(m.group(1)) for m in re.finditer(r"args_defaults=(\{[^{}]*\})", source)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("pretrain", "initialize_megatron"):
                out += [ast.literal_eval(k.value) for k in node.keywords if k.arg == "args_defaults"]
    return out


MIRRORS = [("rocm_dev", "MEGATRON_ROCM_GIT", "rocm_dev"), ("5a676b36", "MEGATRON_NVIDIA_GIT", "5a676b36"),
           ("84778176", "MEGATRON_NVIDIA_GIT", "84778176"), ("3bec9aa9", "MEGATRON_NVIDIA_GIT", "3bec9aa9"),
           ("d3528a21", "MEGATRON_NVIDIA_GIT", "d3528a21")]


@pytest.mark.parametrize("name,env,rev", MIRRORS)
def test_bundled_args_defaults_match_the_sources(name, env, rev):
    repo = os.environ.get(env)
    if not repo or not Path(repo).exists():
        pytest.skip(f"set {env} to a Megatron-LM git dir to read the entry scripts")
    files = [f for f in _git(repo, "grep", "-l", "args_defaults", rev, "--", "*.py").splitlines()]
    expected = {}
    for item in files:
        rel = item.split(":", 1)[1]
        if rel.split("/")[0] in ("megatron", "tests", "test", "docs"):
            continue
        found = _ast_args_defaults(_git(repo, "show", f"{rev}:{rel}"))
        if found:
            expected[rel] = found[0]
    assert expected["pretrain_gpt.py"] == GPT2
    assert load_schema(name).args_defaults == expected


# ---- derivation: the rule and its place in validate_args

def _args(extra: str = "", schema: str = "rocm_dev") -> dict:
    return parse_argv(load_schema(schema), shlex.split(BASE + " " + extra), Diagnostics()).args


@pytest.mark.parametrize("schema", ["rocm_dev", "5a676b36", "84778176", "3bec9aa9", "d3528a21"])
def test_none_takes_the_entry_default(schema):
    args = _args(schema=schema)
    assert args["tokenizer_type"] is None
    assert derive(args, schema, args_defaults=GPT2)["tokenizer_type"] == "GPT2BPETokenizer"
    assert derive(args, schema)["tokenizer_type"] is None  # no entry defaults: nothing filled


def test_a_script_passing_tokenizer_type_keeps_it():
    args = _args("--tokenizer-type HuggingFaceTokenizer --tokenizer-model m")
    assert derive(args, "rocm_dev", args_defaults=GPT2)["tokenizer_type"] == "HuggingFaceTokenizer"


def test_a_false_flag_is_not_none_so_its_default_does_not_apply():
    # `getattr(args, key, None) is not None`: --exit-on-missing-checkpoint defaults to False, which is
    # "set"; --no-load-rng is a store_true whose parser default is None, so the entry's True applies
    out = derive(_args(), "rocm_dev", args_defaults={"exit_on_missing_checkpoint": True, "no_load_rng": True})
    assert out["exit_on_missing_checkpoint"] is False and out["no_load_rng"] is True


def test_entry_default_comes_before_the_dataloader_default():
    # validate_args sets args_defaults, then `dataloader_type = 'single'` when still None
    out = derive(_args(), "rocm_dev", args_defaults={"dataloader_type": "cyclic"})
    assert out["dataloader_type"] == "cyclic"
    assert derive(_args("--dataloader-type external"), "rocm_dev",
                  args_defaults={"dataloader_type": "cyclic"})["dataloader_type"] == "external"
    assert derive(_args(), "rocm_dev")["dataloader_type"] == "single"


# ---- inspect --args and the NVIDIA fixture conversion (pretrain_gpt.py, no --tokenizer-type)

REPO = Path(__file__).resolve().parent.parent
GPT3 = REPO / "fixtures" / "scripts" / "nvidia" / "train_gpt3_distributed.sh"
GPT3_ARGS = ["ck", "ten", "vocab.json", "merges.txt", "data"]


def test_inspect_args_shows_the_entry_default_with_its_reason():
    from migrate.megatron.view import args_view, view_rows
    from migrate.shell import evaluate_script

    view = args_view(evaluate_script(GPT3, {}, GPT3_ARGS))
    assert view["entry_script"] == "pretrain_gpt.py" and view["args_defaults"] == GPT2
    assert view["args"]["tokenizer_type"] is None and view["derived"]["tokenizer_type"] == "GPT2BPETokenizer"
    row = next(r for r in view_rows(view) if r[0] == "tokenizer_type")
    assert row == ("tokenizer_type", "'GPT2BPETokenizer'", "derived from args_defaults of pretrain_gpt.py (default None)")


def _convert(target: str, tmp_path: Path):
    from migrate.pipeline import ConvertOptions, convert_script
    from migrate.primus import get_profile, resolve_experiment

    conversion = convert_script(GPT3, {}, GPT3_ARGS, ConvertOptions(target=target))
    for rel, text in conversion.files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    resolved = resolve_experiment(tmp_path / conversion.experiment_path, get_profile(target), {}, trainer_rewrites=True)
    return conversion, resolved


def test_nvidia_fixture_at_primus_01_writes_the_entry_default(tmp_path):
    conversion, resolved = _convert("primus-0.1", tmp_path)
    assert conversion.expected["tokenizer_type"] == "GPT2BPETokenizer" and conversion.parity.ok
    # v0.1's language_model.yaml leaves tokenizer_type null and its trainer passes no args_defaults
    override = next(o for o in conversion.report["overrides"] if o["key"] == "tokenizer_type")
    assert (override["value"], override["origin"], override["preset_value"]) == \
        ("GPT2BPETokenizer", "pretrain_gpt.py args_defaults", None)
    line = next(t for t in conversion.files[conversion.experiment_path].splitlines() if "tokenizer_type:" in t)
    assert line.split("#")[0].split() == ["tokenizer_type:", "GPT2BPETokenizer"]
    assert line.split("#", 1)[1].strip() == "pretrain_gpt.py args_defaults"
    assert resolved.values["tokenizer_type"] == "GPT2BPETokenizer" and "tokenizer_type" not in resolved.trainer_rewrites


def test_nvidia_fixture_at_primus_26_5_needs_no_override(tmp_path):
    conversion, resolved = _convert("primus-26.5", tmp_path)
    assert conversion.expected["tokenizer_type"] == "GPT2BPETokenizer" and conversion.parity.ok
    assert "tokenizer_type" not in {o["key"] for o in conversion.report["overrides"]}
    assert "tokenizer_type:" not in conversion.files[conversion.experiment_path]
    # the 26.5 trainer's own args_defaults give the same tokenizer
    assert resolved.values["tokenizer_type"] == "GPT2BPETokenizer"
    assert resolved.trainer_rewrites["tokenizer_type"] == (None, "GPT2BPETokenizer", "trainer_args_defaults")
    assert "tokenizer_type" not in conversion.files["report.md"].split("## Script flags")[0]


def test_mock_data_script_without_tokenizer_is_accepted_as_gpt2_bpe_at_26_5(tmp_path):
    # the legacy run trained GPT2BPETokenizer (50257 tokens, a fact of the GPT-2 vocabulary), so the
    # NullTokenizer needs vocab_size 50256 (it reports vocab_size + 1)
    from migrate.pipeline import ConvertOptions, convert_script

    script = tmp_path / "train_mock_gpt2.sh"
    script.write_text("#!/bin/bash\ntorchrun --nproc_per_node 1 pretrain_gpt.py " + BASE +
                      " --global-batch-size 4 --lr 1e-4 --train-iters 10 --mock-data"
                      " --vocab-file v.json --merge-file m.txt\n")
    refused = convert_script(script, {}, [], ConvertOptions(target="primus-26.5"))
    assert not refused.parity.ok and "replaces tokenizer_type GPT2BPETokenizer" in refused.hint
    accepted = convert_script(script, {}, [], ConvertOptions(target="primus-26.5", accept_null_tokenizer=True))
    assert accepted.parity.ok
    assert (accepted.accepted.legacy_tokenizer, accepted.accepted.legacy_vocab) == ("GPT2BPETokenizer", 50257)
    assert next(o["value"] for o in accepted.report["overrides"] if o["key"] == "vocab_size") == 50256
