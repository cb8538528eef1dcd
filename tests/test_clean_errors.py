"""Bad input is exit 2 with a message, never exit 1 ("internal error"); references stay in their trees;
`resolve`, `to-megatron` and `train` refuse the same experiments."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers_primus import FIXTURES

TARGETS = ("primus-0.1", "primus-26.5")
COMMANDS = (("resolve",), ("to-megatron",), ("train", "--iters", "1"))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("PRIMUS_TEAM", "PRIMUS_USER", "PRIMUS_EXP_NAME", "TRAIN_ITERS"):
        monkeypatch.delenv(var, raising=False)


def _experiment(tmp_path: Path, target: str, extra: str = "", model: str | None = None) -> Path:
    text = (FIXTURES / "primus" / target / "llama3_8B-pretrain.yaml").read_text()
    if model is not None:
        text = text.replace("model: llama3_8B.yaml", f"model: {model}")
    text = text.replace("    overrides:\n", "    overrides:\n" + extra)
    path = tmp_path / "exp" / "x-pretrain.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _bad_input(result, *words: str) -> None:
    assert result.code == 2, (result.code, result.err)
    assert "internal error" not in result.err and "Traceback" not in result.err
    for word in words:
        assert word in result.err, result.err


def test_inspect_of_a_directory_says_it_is_a_directory(cli, tmp_path):
    result = cli("inspect", tmp_path)
    _bad_input(result, "this is a directory, not a script")
    assert "not found" not in result.err


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_keys_are_refused_by_every_command(cli, tmp_path, target, command):
    exp = _experiment(tmp_path, target, "      not_a_key_at_all: 3\n")
    _bad_input(cli(command[0], exp, "--target", target, *command[1:]), "key 'not_a_key_at_all'",
               "x-pretrain.yaml:13")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_word_where_megatron_takes_an_integer_is_refused(cli, tmp_path, target, command):
    exp = _experiment(tmp_path, target, '      num_layers: "abc"\n')
    _bad_input(cli(command[0], exp, "--target", target, *command[1:]), "num_layers: 'abc' is not an integer")


@pytest.mark.parametrize("target", TARGETS)
def test_numbers_written_as_text_are_still_accepted(cli, tmp_path, target):
    # YAML 1.1 reads `1e-4` as text; Megatron's parser would take it, so it is no error here
    exp = _experiment(tmp_path, target, '      clip_grad: "2"\n')
    assert cli("resolve", exp, "--target", target).code == 0


def test_a_5000_digit_integer_is_bad_input(cli, tmp_path):
    exp = _experiment(tmp_path, "primus-26.5", f"      num_layers: {'1' * 5000}\n")
    _bad_input(cli("resolve", exp), "digits")


def test_deeply_nested_yaml_is_bad_input(cli, tmp_path):
    exp = _experiment(tmp_path, "primus-26.5", f"      x: {'[' * 5000}{']' * 5000}\n")
    _bad_input(cli("resolve", exp), "nested too deeply")


def test_a_long_extends_chain_is_bad_input(cli, tmp_path):
    exp = _experiment(tmp_path, "primus-26.5", model="m0.yaml")
    models = exp.parent / "models" / "megatron"
    models.mkdir(parents=True)
    n = 3000
    for i in range(n):
        (models / f"m{i}.yaml").write_text(f"extends:\n  - {f'm{i + 1}' if i < n - 1 else 'llama3_8B'}.yaml\n")
    result = cli("resolve", exp)
    assert result.code == 2 and "internal error" not in result.err, result.err


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("ref", ["../../../../../../../../etc/passwd", "/etc/passwd", "../outside.yaml",
                                 "link.yaml"])
def test_model_references_cannot_leave_the_preset_and_experiment_folders(cli, tmp_path, target, ref):
    (tmp_path / "outside.yaml").write_text("extends:\n  - llama3_8B.yaml\nnum_layers: 3\n")
    exp = _experiment(tmp_path, target, model=ref)
    (exp.parent / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    _bad_input(cli("resolve", exp, "--target", target), ref)


def test_an_extends_reference_cannot_leave_them_either(cli, tmp_path):
    (tmp_path / "outside.yaml").write_text("extends:\n  - llama3_8B.yaml\nnum_layers: 3\n")
    exp = _experiment(tmp_path, "primus-26.5", model="mine.yaml")
    (exp.parent / "mine.yaml").write_text("extends:\n  - ../outside.yaml\n")
    _bad_input(cli("resolve", exp), "points outside")
    (exp.parent / "mine.yaml").write_text(f"extends:\n  - {tmp_path / 'outside.yaml'}\n")
    _bad_input(cli("resolve", exp), "absolute path")


def test_a_model_file_in_a_subfolder_of_the_experiment_is_fine(cli, tmp_path):
    exp = _experiment(tmp_path, "primus-26.5", model="sub/mine.yaml")
    (exp.parent / "sub").mkdir()
    (exp.parent / "sub" / "mine.yaml").write_text("extends:\n  - llama3_8B.yaml\nnum_layers: 3\n")
    result = cli("resolve", exp, "--json")
    assert result.code == 0, result.err


def test_an_experiment_that_is_a_directory_and_an_unreadable_yaml_are_bad_input(cli, tmp_path, monkeypatch):
    _bad_input(cli("resolve", tmp_path), "is a directory, not a YAML file")
    exp = _experiment(tmp_path, "primus-26.5")
    real = Path.read_text

    def denied(self, *args, **kwargs):
        if self.name == exp.name:
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    real_open = os.open

    def denied_open(path, *args, **kwargs):  # config files are read with os.open (limits.read_regular_file)
        if os.path.basename(os.fspath(path)) == exp.name:
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    monkeypatch.setattr(os, "open", denied_open)
    _bad_input(cli("resolve", exp), "Permission denied")


def test_an_unreadable_log_is_bad_input(cli, tmp_path, monkeypatch):
    logs = FIXTURES / "logs"
    real = Path.read_text

    def denied(self, *args, **kwargs):
        if self.name == "megatron_llama3_8b.log":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    _bad_input(cli("compare-logs", logs / "megatron_llama3_8b.log", logs / "primus_llama3_8b.log"),
               "Permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission")
def test_a_log_without_read_permission_is_bad_input(cli, tmp_path):
    log = tmp_path / "x.log"
    log.write_text((FIXTURES / "logs" / "megatron_llama3_8b.log").read_text())
    log.chmod(0)
    _bad_input(cli("compare-logs", log, FIXTURES / "logs" / "primus_llama3_8b.log"))
