"""Generated run.sh / env.sh run nothing of the input, and carry every value exactly.

The judge is real bash: the generated files are sourced in a sandbox (own HOME, TMPDIR and
working directory, a stub Primus checkout whose run script records what it was given), over
arbitrary strings from hypothesis plus hand-picked injection payloads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from migrate.primus.emit.runenv import plan_environment
from migrate.primus.emit.runscript import env_sh, run_sh

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")

# What a bash variable can hold: any text but NUL. Surrogates cannot be written as UTF-8 at all.
VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
INJECTIONS = ["x\ntouch PWNED", "$(touch PWNED)", "`touch PWNED`", "a}b", "'; touch PWNED; '", "}",
              "${HOME}", "\\", "a\"b", "x\r\ntouch PWNED\n#", "$((1+1))", "~", "!!", "*"]

# The stub run script: writes EXP and the chosen variables NUL-separated to $OUT.
RECORDER = 'printf "%s\\0" "$EXP" "${DATA_PATH-<unset>}" "${NNODES-<unset>}" "${FOO-<unset>}" > "$OUT"\n'


def _facts(target):
    """The target release's run script facts (what run.sh calls, what it reads and forces)."""
    from migrate.primus import get_profile

    return get_profile(target).rules.run


def _sandbox() -> Path:
    root = Path(tempfile.mkdtemp(prefix="gen-shell-"))
    for sub in ("home", "tmp", "cwd", "out", "primus/examples", "primus/primus/configs/models/megatron"):
        (root / sub).mkdir(parents=True)
    (root / "primus/examples/run_pretrain.sh").write_text(RECORDER)
    return root


def _run(root: Path, env_extra: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home"), "TMPDIR": str(root / "tmp"),
           "PRIMUS_PATH": str(root / "primus"), "OUT": str(root / "record"), **(env_extra or {})}
    proc = subprocess.run([BASH, str(root / "out" / "run.sh")], cwd=root / "cwd", env=env, capture_output=True,
                          timeout=30)
    record = (root / "record").read_bytes().decode("utf-8").split("\0")[:-1] if (root / "record").exists() else []
    return proc, record


def _nothing_ran(root: Path) -> None:
    leftovers = [p for p in root.rglob("*") if "PWNED" in p.name]
    assert not leftovers, leftovers


@settings(max_examples=40)
@given(value=VALUES, script=VALUES, experiment=VALUES)
@example(value="a}b", script="x\necho PWNED > PWNED.txt\n.sh", experiment="e.yaml")
@example(value="$(touch PWNED)", script="$(touch PWNED).sh", experiment="`touch PWNED`")
def test_sourcing_the_generated_files_runs_nothing_and_keeps_every_value(value, script, experiment):
    root = _sandbox()
    try:
        out = root / "out"
        (out / "env.sh").write_text(env_sh({"FOO": value}, script), encoding="utf-8")
        (out / "model.yaml").write_text("x: 1\n")
        (out / "run.sh").write_text(run_sh("primus-26.5", "v26.5.1", _facts("primus-26.5"), script, experiment,
                                           "model.yaml",
                                           {"DATA_PATH": value, "NNODES": "2"}, True), encoding="utf-8")
        proc, record = _run(root)
        assert proc.returncode == 0, proc.stderr
        assert record == [f"{out}/{experiment}", value, "2", value]
        _nothing_ran(root)
        # A value already in the environment wins over the script's (run_pretrain.sh reads it the same way).
        proc, record = _run(root, {"DATA_PATH": "from-env", "NNODES": "16"})
        assert record[1:3] == ["from-env", "16"], proc.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_payloads_come_back_verbatim(payload):
    test_sourcing_the_generated_files_runs_nothing_and_keeps_every_value.hypothesis.inner_test(
        value=payload, script=payload + ".sh", experiment=payload)


def test_header_comment_of_a_script_named_with_a_newline_stays_one_line():
    name = "x\necho PWNED.sh"
    for text in (env_sh({"A": "1"}, name), run_sh("primus-0.1", "", _facts("primus-0.1"), name, "e.yaml", None, {}, False)):
        assert not any(line.startswith("echo PWNED") for line in text.splitlines())
        assert "x\\necho PWNED.sh" in text


def test_names_that_are_not_variables_are_not_exported():
    text = env_sh({"A;touch PWNED": "1", "OK": "2"}, "t.sh")
    assert "export OK=2" in text and "\nexport A" not in text and "# not exported" in text


class _Var:
    def __init__(self, value: str) -> None:
        self.value, self.origin = value, "t.sh:1"


@pytest.mark.parametrize("name, value, secret", [
    ("HF_TOKEN", "hf_abc", True), ("WANDB_API_KEY", "k", True), ("DB_PASSWORD", "p", True),
    ("CLIENT_SECRET", "s", True), ("AWS_SECRET_ACCESS_KEY", "s", True), ("HUGGING_FACE_HUB_TOKEN", "t", True),
    ("MY_VAR", "hf_" + "a" * 34, True),  # a Hugging Face token by its shape
    ("TOKENIZERS_PARALLELISM", "false", False), ("MAX_TOKENS", "4096", False), ("KEY_SIZE", "8", False),
    ("TOKEN_DROP_POLICY", "probs", False), ("NCCL_PROTO", "Simple", False),
])
def test_secrets_are_recognised_by_what_they_are(name, value, secret):
    out = plan_environment(_facts("primus-26.5"), {name: _Var(value)}, {}, {})
    assert (name in out.secrets) is secret
    assert out.env_file == ({} if secret else {name: value})


def test_batch_per_variant_env_files_are_escaped_too(cli, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    value = "a}b $(touch PWNED) `touch PWNED`\nx'y"
    (repo / "train\n$(touch PWNED).sh").write_text(
        f"export FOO={shlex_quote(value)}\n"
        "torchrun pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 128 "
        "--max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 --train-iters 10 --lr 1e-4 "
        "--mock-data --tokenizer-type NullTokenizer --vocab-size 1000\n")
    result = cli("batch", repo, "-o", tmp_path / "out")
    assert result.code == 0, result.err
    (env_file,) = list((tmp_path / "out").rglob("*.env.sh"))
    root = _sandbox()
    try:
        proc = subprocess.run([BASH, "-c", 'source "$1" && printf "%s" "$FOO"', "bash", str(env_file)],
                              cwd=root / "cwd", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                     "HOME": str(root / "home"), "TMPDIR": str(root / "tmp")},
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0 and proc.stdout == value, proc.stderr
        _nothing_ran(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert not [p for p in tmp_path.rglob("PWNED")]


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def test_a_script_name_that_is_not_utf8_converts_and_its_files_read_back(cli, tmp_path):
    import yaml

    name = os.fsdecode(b"bad\xffname.sh")
    (tmp_path / name).write_text(
        "export FOO=1\ntorchrun pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
        "--seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 8 "
        "--train-iters 10 --lr 1e-4 --mock-data --tokenizer-type NullTokenizer --vocab-size 1000\n")
    result = cli("convert", tmp_path / name, "-o", tmp_path / "out")
    assert result.code == 0, result.err
    for path in (tmp_path / "out").rglob("*.yaml"):
        assert yaml.load(path.read_text(), Loader=yaml.SafeLoader)  # noqa: S506 - a SafeLoader
    for path in (tmp_path / "out").glob("*.sh"):
        assert subprocess.run([BASH, "-n", str(path)]).returncode == 0
