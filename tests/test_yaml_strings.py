"""Any string survives the emitted YAML: loaded back with PyYAML's SafeLoader, as Primus reads it."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from migrate.primus.emit.files import experiment_yaml, model_yaml, raw_text
from migrate.primus.emit.overrides import Override
from migrate.primus.emit.yamltext import render_value

ANY_TEXT = st.text(max_size=30)  # every code point, surrogates included (written as escapes)
HOSTILE = [": x", "? x", "- x", "a: b", "x #y", "#", "\x85", "\u2028", "\ufeff", "\0", "null", "~", "1e-5", "yes",
           "'", '"', "\\", "{a", "[a", "*a", "&a", "!x", "%x", "@x", "`x", "|", ">", "---", "...", " a", "a ", "\t"]


def _load(text: str):
    return yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - a SafeLoader, as Primus uses


@settings(max_examples=300)
@given(value=ANY_TEXT)
@example(value=": x")
def test_any_string_reads_back_from_its_rendering(value):
    assert _load(f"k: {render_value(value)}\n") == {"k": value}


@settings(max_examples=150)
@given(values=st.lists(ANY_TEXT, max_size=4))
def test_any_list_of_strings_reads_back(values):
    assert _load(f"k: {render_value(values)}\n") == {"k": values}


@settings(max_examples=150)
@given(value=ANY_TEXT, comment=ANY_TEXT, header=ANY_TEXT)
@example(value=": x", comment="x\necho\x85y", header="a\u2028b\0c")
def test_whole_experiment_and_model_files_read_back(value, comment, header):
    exp = experiment_yaml("e", "m.yaml", [Override("save", value, comment)], header=header)
    data = _load(exp)
    assert data["modules"]["pre_trainer"]["overrides"] == {"save": value}
    model = model_yaml("extends", "llama3_8B", {"tokenizer_model": value}, {"tokenizer_model": comment}, header)
    assert _load(model) == {"extends": ["llama3_8B.yaml"], "tokenizer_model": value}


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings(value):
    test_any_string_reads_back_from_its_rendering.hypothesis.inner_test(value=value)


@pytest.mark.parametrize("raw", ["${X:a #b}", "${X:a: b}", "${TP:8}", "${X:}"])
def test_kept_knob_parameters_are_written_so_yaml_keeps_the_text(raw):
    assert _load(f"k: {raw_text(raw)}\n") == {"k": raw}


def test_a_flag_value_starting_with_colon_space_converts(cli, tmp_path):
    script = tmp_path / "t.sh"
    script.write_text(
        "torchrun pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 128 "
        "--max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 --train-iters 10 --lr 1e-4 "
        "--mock-data --tokenizer-type NullTokenizer --vocab-size 1000 --save ': x' --load '? y #z' "
        "--save-interval 5\n")  # Megatron's validate_args asserts save_interval whenever save is set
    result = cli("convert", script, "-o", tmp_path / "out")
    assert result.code in (0, 4), result.err
    assert "/tmp" not in result.err and "primus-migrate-" not in result.err
    exp = _load((tmp_path / "out" / "t-pretrain.yaml").read_text())
    assert exp["modules"]["pre_trainer"]["overrides"]["save"] == ": x"
    assert exp["modules"]["pre_trainer"]["overrides"]["load"] == "? y #z"


WORDS = st.text(alphabet="abcXYZ019_./+=,@%~-", min_size=1, max_size=12)


@settings(max_examples=300)
@given(value=st.one_of(WORDS, st.lists(WORDS, max_size=4), st.sampled_from(
    ["true", "True", "null", "Null", "no", "off", "on", "y", "n", "_", "/", "a-1", "data/x_0", "0o17", "1_000",
     "nan", "inf", "NaN", "Inf", "x.", "e1", "E5", "o", "yes", "Yes", "NULL", "FALSE", "abc=d", "a,b", "/a@b%c~d"])))
def test_plain_words_are_written_as_ruamel_writes_them(value):
    """`_simple_text` skips ruamel for plain words and flat lists of them: where it answers, it must
    answer what ruamel (with our 1.1-safe representer) writes, and that must read back."""
    from migrate.primus.emit.yamltext import _render_with_ruamel, _simple_text

    simple = _simple_text(value)
    if simple is not None:
        assert simple == _render_with_ruamel(value)
        assert _load(f"k: {simple}\n") == {"k": value}
