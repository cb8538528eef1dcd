"""libyaml parses only what our emitter wrote, and builds exactly what PyYAML's Python parser builds.

The reference is `yaml.load(text, SafeLoader)` (what Primus runs) through our line-marking
loader; the check is strict: same types (1 vs 1.0 vs True vs "1"), same key order, same
key lines. Texts are collected from `yamlio._EMITTED`, i.e. exactly the set that the fast
path is allowed to parse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers_convert import SCRIPTS, TARGETS, fixture_scripts, knob_variants, script_args
from migrate.diagnostics import MigrateError
from migrate.primus import yamlio

REPO = Path(__file__).resolve().parent.parent
needs_libyaml = pytest.mark.skipif(yamlio._CLoader is None, reason="PyYAML built without libyaml")


def _same_tree(a: Any, b: Any, where: str = "") -> list[str]:
    if type(a) is not type(b):
        return [f"{where}: {type(a).__name__} {a!r} != {type(b).__name__} {b!r}"]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{where}: keys {list(a)} != {list(b)}"]
        if getattr(a, "lines", None) != getattr(b, "lines", None):
            return [f"{where}: lines {getattr(a, 'lines', None)} != {getattr(b, 'lines', None)}"]
        return [d for k in a for d in _same_tree(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _same_tree(x, y, f"{where}[{i}]")]
    return [] if a == b or (a != a and b != b) else [f"{where}: {a!r} != {b!r}"]  # NaN == NaN here


def _check_all_emitted() -> int:
    texts = sorted(yamlio._EMITTED)
    for text in texts:
        python = yamlio.load_yaml_text(text, "emitted.yaml")
        c = yaml.load(text, Loader=yamlio._CLoader)  # noqa: S506 - a CSafeLoader subclass
        assert _same_tree(python, c) == [], text
    return len(texts)


def _convert(script: Path, env: dict[str, str], target: str) -> None:
    from migrate.pipeline import ConvertOptions, convert_script

    try:
        convert_script(script, env, script_args(script), ConvertOptions(target=target))
    except MigrateError:
        pass


def test_strict_comparison_tells_types_lines_and_order_apart():
    one = yamlio.load_yaml_text("a: 1\nb: x\n", "t.yaml")
    assert _same_tree(one, yamlio.load_yaml_text("a: 1.0\nb: x\n", "t.yaml"))
    assert _same_tree(one, yamlio.load_yaml_text("b: x\na: 1\n", "t.yaml"))
    assert _same_tree(one, yamlio.load_yaml_text("\na: 1\nb: x\n", "t.yaml"))
    assert _same_tree(one, yamlio.load_yaml_text("a: 1\nb: x\n", "t.yaml")) == []


@needs_libyaml
def test_only_marked_text_takes_the_libyaml_path(tmp_path, monkeypatch):
    calls: list[str] = []
    real = yaml.load

    def spy(text, Loader):  # noqa: N803 - yaml.load's own name
        calls.append(Loader.__name__)
        return real(text, Loader=Loader)

    monkeypatch.setattr(yamlio.yaml, "load", spy)
    user = tmp_path / "user.yaml"
    user.write_text("lr: 1.0e-05\nseq: 2048\n")
    assert yamlio.load_yaml_file(user) == {"lr": 1.0e-05, "seq": 2048}
    assert calls == ["_MarkedLoader"]
    emitted = tmp_path / "emitted.yaml"
    emitted.write_text(yamlio.mark_emitted("lr: 2.0e-05\nflag: on\n"))
    value = yamlio.load_yaml_file(emitted)
    assert value == {"lr": 2.0e-05, "flag": True} and value.lines == {"lr": 1, "flag": 2}
    assert calls == ["_MarkedLoader", "_MarkedCLoader"]


@needs_libyaml
def test_malformed_marked_text_reports_the_python_parsers_error(tmp_path):
    text = "a: 1\n  b: [2\n"
    plain, marked = tmp_path / "plain.yaml", tmp_path / "marked.yaml"
    plain.write_text(text)
    marked.write_text(yamlio.mark_emitted(text + "# marked\n"))
    errors = []
    for path in (plain, marked):
        with pytest.raises(MigrateError) as info:
            yamlio.load_yaml_file(path)
        errors.append((info.value.message, info.value.origin.line))
    assert errors[0] == errors[1]


@needs_libyaml
@pytest.mark.parametrize("target", TARGETS)
def test_llama3_emitted_files_parse_the_same_with_libyaml(target):
    yamlio._EMITTED.clear()
    _convert(SCRIPTS / "rocm" / "train_llama3.sh", {"MODEL_SIZE": "70", "TP": "4"}, target)
    assert _check_all_emitted() > 2


@pytest.mark.slow
@needs_libyaml
@pytest.mark.parametrize("target", TARGETS)
def test_every_fixture_and_batch_emitted_file_parses_the_same_with_libyaml(target):
    from migrate.batch.backend import ConvertSettings, PipelineBackend
    from migrate.batch.discover import discover
    from migrate.batch.worker import ScriptJob, process_script

    yamlio._EMITTED.clear()
    for script in fixture_scripts():
        for env in knob_variants(script):
            _convert(script, env, target)
    root = REPO / "fixtures" / "batch_repo"
    backend = PipelineBackend()
    for cand in discover(root):
        if cand.skip_reason is None:
            process_script(ScriptJob(str(root), cand.relpath, ConvertSettings(target=target)), backend)
    assert _check_all_emitted() > 20
