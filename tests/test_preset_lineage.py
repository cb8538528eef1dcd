"""The preset is chosen by the run's model line first (Llama 2, Llama 3, Mistral, Qwen, DeepSeek),
then by the fewest differing keys; generated model files are named after what they are.

Facts the expectations come from (not from the code under test):
- Primus names its model presets by line and size: configs/<target>/models/megatron/llama2_70B.yaml,
  llama3.1_70B.yaml, mixtral_8x7B_v0.1.yaml, qwen2.5_7B.yaml, deepseek_v3.yaml, ...;
  llama3.1_70B and llama3.3_70B set max_position_embeddings 131072, llama2_base 4096, and the llama3
  chain rotary_base 500000 (Meta's Llama 3 RoPE theta), llama2_base 10000 (Megatron's default too).
- fixtures/scripts/presets/pretrain_long_context.sh (ours) trains with a Llama 3 tokenizer folder,
  keeps Megatron's rotary base and opens 131072 positions: by differing keys alone Llama 2 70B
  (max_position_embeddings differs) and Llama 3.1 70B (rotary_base differs) tie; its line is Llama 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers_convert import SCRIPTS, TARGETS, compare, legacy_expected, resolve_written
from migrate.primus.emit.architecture import preset_lineage, rank_presets, run_lineage

LONG_CONTEXT = SCRIPTS / "presets" / "pretrain_long_context.sh"
LLAMA3_70B_LINE = {"llama3.1_70B", "llama3.3_70B"}  # the Llama 3 70B presets with 131072 positions


@pytest.mark.parametrize("name,line", [
    ("llama2_7B", "llama2"), ("llama2_base", "llama2"), ("llama3_8B", "llama3"), ("llama3.1_405B", "llama3"),
    ("llama3.3_70B", "llama3"), ("llama3.2_1B", "llama3"), ("mixtral_8x22B_v0.1", "mistral"),
    ("qwen2.5_72B", "qwen"), ("qwen3_30B_A3B", "qwen"), ("deepseek_r1_distill_qwen_1.5B", "qwen"),
    ("deepseek_v2_lite", "deepseek"), ("deepseek_v3", "deepseek"),
    ("llama4_17B16E", None), ("llama_base", None), ("gpt_oss_20B", None), ("language_model", None),
])
def test_a_preset_is_of_the_line_its_file_name_says(name, line):
    assert preset_lineage(name) == line


@pytest.mark.parametrize("run,line", [
    ({"tokenizer_type": "HuggingFaceTokenizer", "tokenizer_model": "/data/tokenizer_llama3"}, "llama3"),
    ({"tokenizer_type": "HuggingFaceTokenizer", "tokenizer_model": "meta-llama/Llama-3.1-8B"}, "llama3"),
    ({"tokenizer_type": "Llama2Tokenizer", "tokenizer_model": "meta-llama/Llama-2-7b-hf"}, "llama2"),
    ({"tokenizer_model": "mistralai/Mixtral-8x7B-v0.1", "num_experts": 8}, "mistral"),
    ({"tokenizer_model": "Qwen/Qwen2.5-7B"}, "qwen"),
    ({"tokenizer_type": "GPT2BPETokenizer"}, "gpt"),
    # multi-latent attention is DeepSeek's, whatever the tokenizer
    ({"multi_latent_attention": True, "tokenizer_model": "meta-llama/Llama-3.1-8B"}, "deepseek"),
    # a Llama tokenizer on a mixture of experts is no Llama 2/3 network: unknown
    ({"tokenizer_model": "meta-llama/Llama-3.1-8B", "num_experts": 16}, None),
    # no known tokenizer: a dense network with Llama 3's rotary base is Llama 3, anything else unknown
    ({"tokenizer_type": "NullTokenizer", "rotary_base": 500000}, "llama3"),
    ({"tokenizer_type": "NullTokenizer", "rotary_base": 500000, "num_experts": 8}, None),
    ({"tokenizer_type": "NullTokenizer", "rotary_base": 10000}, None),
    ({"tokenizer_model": "/data/my_tokenizer", "rotary_base": 10000}, None),
    # LLaMA-1 30B's name is not Llama 3's
    ({"tokenizer_model": "huggyllama/llama-30b"}, None),
])
def test_a_run_is_of_the_line_its_facts_say(run, line):
    assert run_lineage(run) == line


def _presets() -> dict:
    # two presets, each one key away from the run below: llama2_x by its positions, llama3_x by its
    # rotary base; llama3_x also differs by a second key (two keys against one)
    common = {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4}
    return {
        "llama2_x": ({**common, "rotary_base": 10000, "max_position_embeddings": 4096}, None),
        "llama3_x": ({**common, "rotary_base": 500000, "max_position_embeddings": 8192, "num_layers": 3}, None),
    }


def test_the_runs_line_ranks_before_fewer_differences():
    run = {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "rotary_base": 10000,
           "max_position_embeddings": 8192, "tokenizer_model": "meta-llama/Meta-Llama-3-8B"}
    ranking = rank_presets(_presets(), run, run)
    assert [m.name for m in ranking] == ["llama3_x", "llama2_x"]
    assert ranking[0].structure_diff == ["num_layers", "rotary_base"] and ranking[1].off_lineage


def test_an_unknown_line_ranks_by_differences_alone():
    run = {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "rotary_base": 10000,
           "max_position_embeddings": 8192, "tokenizer_model": "/data/my_tokenizer"}
    ranking = rank_presets(_presets(), run, run)
    assert [m.name for m in ranking] == ["llama2_x", "llama3_x"]
    assert not any(m.off_lineage for m in ranking)


def _convert(env: dict, target: str, tmp_path: Path, **options):
    from migrate.output import OutputTree
    from migrate.pipeline import ConvertOptions, convert_script

    conversion = convert_script(LONG_CONTEXT, env, [], ConvertOptions(target=target, **options))
    out = tmp_path / "out"
    tree = OutputTree(out)
    for rel, text in conversion.files.items():
        tree.add(rel, text)
    tree.commit()
    return conversion, out


def _independent_parity(conversion, out: Path, env: dict, target: str) -> None:
    assert conversion.parity.ok, conversion.parity.format()
    derived = resolve_written(out, conversion.experiment_path, conversion.model_path, target)
    assert compare(legacy_expected(LONG_CONTEXT, env, target), derived, target) == []


@pytest.mark.parametrize("target", TARGETS)
def test_a_llama3_run_gets_a_llama3_preset_and_keeps_parity(target, tmp_path):
    env = {"MODEL_SIZE": "70", "MOCK": "0"}
    conversion, out = _convert(env, target, tmp_path)
    assert conversion.report["preset"] in LLAMA3_70B_LINE
    assert conversion.report["preset_match"]["model_line"] == "llama3"
    assert "Model line of the run: llama3" in conversion.files["report.md"]
    # the positions match the preset; the rotary base the script left at Megatron's default is an
    # override, so the architecture needs no model file
    assert conversion.model_path is None
    module = yaml.safe_load((out / conversion.experiment_path).read_text())["modules"]["pre_trainer"]
    assert Path(module["model"]).stem == conversion.report["preset"]
    assert module["overrides"]["rotary_base"] == 10000
    _independent_parity(conversion, out, env, target)


def test_mock_data_at_26_5_gets_the_same_preset(tmp_path):
    conversion, _ = _convert({"MODEL_SIZE": "70"}, "primus-26.5", tmp_path, accept_null_tokenizer=True)
    assert conversion.report["preset"] in LLAMA3_70B_LINE
    assert conversion.parity.ok, conversion.parity.format()


@pytest.mark.parametrize("target", TARGETS)
def test_a_changed_architecture_is_named_after_its_preset_and_change(target, tmp_path):
    env = {"MODEL_SIZE": "70", "MOCK": "0", "CONTEXT": "32768"}
    conversion, out = _convert(env, target, tmp_path)
    preset = conversion.report["preset"]
    assert preset in LLAMA3_70B_LINE
    assert conversion.model_path == f"models/megatron/{preset}-max_position_embeddings-32768.yaml"
    model = yaml.safe_load((out / conversion.model_path).read_text())
    assert model["max_position_embeddings"] == 32768
    _independent_parity(conversion, out, env, target)


def test_batch_names_keep_the_description_and_share_by_content():
    from migrate.batch import layout

    content = "extends:\n- llama3.1_70B.yaml\nmax_position_embeddings: 32768\n"
    named = layout.model_file_name(content, "llama3.1_70B-max_position_embeddings-32768")
    assert named.startswith("models/megatron/llama3.1_70B-max_position_embeddings-32768-")
    # a name that does not describe this content's preset falls back to the preset: same content,
    # same file whichever script produced it
    assert layout.model_file_name(content, "train_x-MODEL_SIZE70").startswith("models/megatron/llama3.1_70B-")
    assert layout.model_file_name(content, "a") == layout.model_file_name(content, "b")
