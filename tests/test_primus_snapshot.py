"""`primus-migrate target` (migrate/primus/snapshot.py, values_yaml.py): a target folder from a Primus
checkout. The checkouts here are small fake ones written by the tests; what the snapshot must hold is
judged by PyYAML's SafeLoader reading the fake source (how every Primus release reads its presets)
and by the line numbers written beside the source text. The bundled targets themselves are checked
against the Primus tags when PRIMUS_GIT names a Primus git repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from migrate.diagnostics import MigrateError
from migrate.primus import preset_index, snapshot
from migrate.primus.profiles import get_profile
from migrate.primus.values_yaml import identical, render_values, values_text
from migrate.primus.yamlio import load_yaml_text

PIN = "d3528a21301db2d12e92912b3ec025dc8a2ed4d6"  # a commit with a bundled schema (d3528a21)
OTHER_PIN = "1234567812345678123456781234567812345678"

# line 1 is a comment, so `extends` is on line 2, `lr` on 5, `tokenizer_model` on 7, `data` on 9,
# `eps` on 15 (after a 3-line comment block), `flag` on 16, `mlp` on 17
TRAINER = """\
# PROSE-A: upstream text that must not be carried over
extends:
  - module_base.yaml

lr: 1.0e-5      # PROSE-B trailing comment
min_lr: 1e-5
tokenizer_model: ${TOKENIZER:meta-llama/Llama-3.1-8B}
train_iters: ${TRAIN_ITERS:10}
data:
  - a # PROSE-C
  - {path: "x", weight: 0.5}
# PROSE-D
# PROSE-E
# PROSE-F
eps: yes
flag: "yes"
mlp: {gate: [1, 2], act: swiglu}
"""
MODULE_BASE = "trainable: false\nsink_level: null\n"
PRE_TRAINER = "extends:\n  - trainer_base.yaml\n\n# PROSE-G\nglobal_batch_size: 16\n"
LLAMA = "# PROSE-H\nextends:\n  - llama_base.yaml\n\nnum_layers: 32\nhidden_size: 4096\n"
LLAMA_BASE = "extends: []\nmodel_type: gpt\nnum_layers: 1\nhidden_size: 8\nnum_attention_heads: 1\n"
TITAN = "job:\n  # PROSE-I\n  dump_folder: ./outputs\nmodel:\n  name: llama3\n"


def make_checkout(root: Path, extra: dict[str, str] | None = None) -> Path:
    files = {"modules/module_base.yaml": MODULE_BASE, "modules/megatron/trainer_base.yaml": TRAINER,
             "modules/megatron/pre_trainer.yaml": PRE_TRAINER, "models/megatron/llama_small.yaml": LLAMA,
             "models/megatron/llama_base.yaml": LLAMA_BASE, "models/torchtitan/llama3_8B.yaml": TITAN,
             "models/megatron/README.md": "not a preset\n", "platforms/platform_local.yaml": "x: 1\n",
             **(extra or {})}
    for rel, text in files.items():
        path = root / "primus" / "configs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run_target(cli, checkout: Path, out: Path, *extra: str):
    return cli("target", "--primus-path", checkout, "-o", out, *extra)


@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path / "Primus")


def test_snapshot_keeps_values_types_and_lines_and_nothing_else(cli, checkout, tmp_path):
    out = tmp_path / "primus-9.9"
    res = run_target(cli, checkout, out, "--release", "v9.9", "--megatron-pin", PIN)
    assert res.code == 0, res.err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["models/megatron/llama_base.yaml", "models/megatron/llama_small.yaml",
                       "models/torchtitan/llama3_8B.yaml", "modules/megatron/pre_trainer.yaml",
                       "modules/megatron/trainer_base.yaml", "modules/module_base.yaml",
                       "preset_index.json", "target.json"]  # no README, no platforms/
    for rel in written[:6]:
        source = (checkout / "primus" / "configs" / rel).read_text()
        text = (out / rel).read_text()
        assert "PROSE" not in text and "#" not in text, rel
        ours = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506
        assert identical(ours, yaml.load(source, Loader=yaml.SafeLoader)), rel  # noqa: S506
    trainer = load_yaml_text((out / "modules/megatron/trainer_base.yaml").read_text(), "t")
    assert trainer.lines == {"extends": 2, "lr": 5, "min_lr": 6, "tokenizer_model": 7, "train_iters": 8,
                             "data": 9, "eps": 15, "flag": 16, "mlp": 17}
    # YAML 1.1 as SafeLoader reads it: 1e-5 stays a string, yes is a bool, "yes" a string,
    # ${VAR:default} strings are kept for the loader to interpolate
    assert trainer["min_lr"] == "1e-5" and trainer["eps"] is True and trainer["flag"] == "yes"
    assert trainer["tokenizer_model"] == "${TOKENIZER:meta-llama/Llama-3.1-8B}"


def test_target_json_records_the_release_and_the_commits(cli, checkout, tmp_path):
    out = tmp_path / "t"
    res = run_target(cli, checkout, out, "--release", "v9.9", "--megatron-pin", PIN, "--name", "primus-x")
    assert res.code == 0, res.err
    assert json.loads((out / "target.json").read_text()) == {
        "target": "primus-x", "release": "v9.9", "primus_commit": None, "megatron_pin": PIN,
        "megatron_schema": "d3528a21", "torchtitan_pin": None,
        "generated_by": f"primus-migrate target --primus-path <Primus checkout> -o {out.name}"}


def test_a_pin_without_a_bundled_schema_is_recorded_and_said(cli, checkout, tmp_path):
    res = run_target(cli, checkout, tmp_path / "t", "--release", "v9.9", "--megatron-pin", OTHER_PIN)
    assert res.code == 0
    assert json.loads((tmp_path / "t" / "target.json").read_text())["megatron_schema"] is None
    assert "no bundled Megatron-LM schema for 12345678" in res.err and "--megatron-path" in res.err


def test_preset_index_is_read_by_the_loader(cli, checkout, tmp_path):
    """The index matches the snapshot it sits in, and indexes what the extends chain gives."""
    out = tmp_path / "t"
    assert run_target(cli, checkout, out, "--release", "v9.9", "--megatron-pin", PIN).code == 0
    profile = get_profile(None, primus_path=str(out))
    index = preset_index.load_index(profile)
    assert index is not None
    assert index["llama_small"]["num_layers"] == 32 and index["llama_small"]["num_attention_heads"] == 1


def test_facts_come_from_git_in_a_git_checkout(cli, checkout, tmp_path):
    def git(*args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path)}
        return subprocess.run(["git", "-C", str(checkout), *args], check=True, capture_output=True,
                              text=True, env=env).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("update-index", "--add", "--cacheinfo", f"160000,{PIN},third_party/Megatron-LM")
    git("update-index", "--add", "--cacheinfo", f"160000,{OTHER_PIN},third_party/torchtitan")
    git("commit", "-qm", "x")
    git("tag", "v9.9.1")
    head = git("rev-parse", "HEAD")
    out = tmp_path / "t"
    assert run_target(cli, checkout, out).code == 0
    record = json.loads((out / "target.json").read_text())
    assert (record["target"], record["release"], record["primus_commit"]) == ("primus-9.9.1", "v9.9.1", head)
    assert (record["megatron_pin"], record["torchtitan_pin"]) == (PIN, OTHER_PIN)


TINY_MEGATRON = """\
import argparse

def parse_args(extra_args_provider=None, ignore_unknown_args=False):
    parser = argparse.ArgumentParser(allow_abbrev=False)
    group = parser.add_argument_group(title='network size')
    group.add_argument('--num-layers', type=int, default=None)
    group.add_argument('--hidden-size', type=int, default=None)
    return parser.parse_args()
"""


def test_a_pin_without_a_bundled_schema_gets_its_table_from_megatron_path(cli, checkout, tmp_path):
    from migrate.megatron import load_schema, parse_argv

    megatron = tmp_path / "Megatron-LM"
    (megatron / "megatron" / "training").mkdir(parents=True)
    (megatron / "megatron" / "training" / "arguments.py").write_text(TINY_MEGATRON)
    out = tmp_path / "t"
    res = run_target(cli, checkout, out, "--release", "v9.9", "--megatron-pin", OTHER_PIN,
                     "--megatron-path", megatron)
    assert res.code == 0, res.err
    assert json.loads((out / "target.json").read_text())["megatron_schema"] == "megatron_schema.json"
    schema = load_schema(str(out / "megatron_schema.json"))
    assert schema.name == "12345678" and parse_argv(schema, ["--num-layers", "4"]).args["num_layers"] == 4
    # a bundled pin needs no table of its own
    assert run_target(cli, checkout, tmp_path / "u", "--release", "v9.9", "--megatron-pin", PIN,
                      "--megatron-path", megatron).code == 0
    assert not (tmp_path / "u" / "megatron_schema.json").exists()


def test_megatron_path_at_another_commit_is_refused(cli, checkout, tmp_path):
    megatron = tmp_path / "Megatron-LM"
    (megatron / "megatron" / "training").mkdir(parents=True)
    (megatron / "megatron" / "training" / "arguments.py").write_text(TINY_MEGATRON)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path)}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(megatron), *args], check=True, capture_output=True, env=env)
    res = run_target(cli, checkout, tmp_path / "t", "--release", "v9.9", "--megatron-pin", OTHER_PIN,
                     "--megatron-path", megatron)
    assert res.code == 2 and "but the release pins 12345678" in res.err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("args, message", [
    ((), "cannot tell which Primus release"),
    (("--release", "v9.9"), "cannot tell which Megatron-LM commit"),
    (("--release", "v9.9", "--megatron-pin", "d3528a21"), "must be a full commit id"),
])
def test_missing_facts_are_refused(cli, checkout, tmp_path, args, message):
    res = run_target(cli, checkout, tmp_path / "t", *args)
    assert res.code == 2 and message in res.err
    assert not (tmp_path / "t").exists()


def test_a_folder_that_is_not_a_primus_checkout_is_refused(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        res = run_target(cli, folder, tmp_path / "t", "--release", "v9.9", "--megatron-pin", PIN)
        assert res.code == 2 and "Traceback" not in res.err
        assert "is not a Primus checkout" in res.err or "is not a folder" in res.err
    assert not (tmp_path / "t").exists()


def test_a_preset_that_is_not_a_mapping_is_refused_and_nothing_written(cli, tmp_path):
    checkout = make_checkout(tmp_path / "Primus", {"models/megatron/bad.yaml": "- a\n- b\n"})
    res = run_target(cli, checkout, tmp_path / "t", "--release", "v9.9", "--megatron-pin", PIN)
    assert res.code == 2 and "models/megatron/bad.yaml:1" in res.err and "must be a YAML mapping" in res.err
    assert not (tmp_path / "t").exists()


def test_a_pipe_or_binary_named_like_a_preset_is_refused_without_hanging(cli, tmp_path):
    checkout = make_checkout(tmp_path / "Primus")
    os.mkfifo(checkout / "primus/configs/models/megatron/fifo.yaml")
    res = run_target(cli, checkout, tmp_path / "t", "--release", "v9.9", "--megatron-pin", PIN)
    assert res.code == 2 and "not a regular file" in res.err and not (tmp_path / "t").exists()
    (checkout / "primus/configs/models/megatron/fifo.yaml").unlink()
    (checkout / "primus/configs/models/megatron/bin.yaml").write_bytes(b"a: \xff\n")
    res = run_target(cli, checkout, tmp_path / "t", "--release", "v9.9", "--megatron-pin", PIN)
    assert res.code == 2 and "not UTF-8" in res.err and not (tmp_path / "t").exists()


def test_no_overwrite_without_force_and_force_removes_what_the_release_lost(cli, checkout, tmp_path):
    out = tmp_path / "t"
    facts = ("--release", "v9.9", "--megatron-pin", PIN)
    assert run_target(cli, checkout, out, *facts).code == 0
    assert run_target(cli, checkout, out, *facts).code == 0  # the same files: nothing to overwrite
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (checkout / "primus/configs/models/megatron/llama_small.yaml").write_text(LLAMA.replace("32", "33"))
    (checkout / "primus/configs/models/torchtitan/llama3_8B.yaml").unlink()
    res = run_target(cli, checkout, out, *facts)
    assert res.code == 2 and "would be overwritten" in res.err and "--force" in res.err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert run_target(cli, checkout, out, *facts, "--force").code == 0
    assert "num_layers: 33" in (out / "models/megatron/llama_small.yaml").read_text()
    assert not (out / "models/torchtitan/llama3_8B.yaml").exists()


def test_force_into_a_folder_that_is_not_a_target_removes_nothing(cli, checkout, tmp_path):
    out = tmp_path / "mine"
    (out / "models" / "megatron").mkdir(parents=True)
    (out / "models" / "megatron" / "my_model.yaml").write_text("num_layers: 2\n")
    (out / "notes.json").write_text("{}\n")
    res = run_target(cli, checkout, out, "--release", "v9.9", "--megatron-pin", PIN, "--force")
    assert res.code == 0, res.err
    assert (out / "models" / "megatron" / "my_model.yaml").is_file() and (out / "notes.json").is_file()
    # now it is a target folder: a preset the release no longer has goes, other files stay
    (checkout / "primus/configs/models/megatron/llama_small.yaml").unlink()
    assert run_target(cli, checkout, out, "--release", "v9.9", "--megatron-pin", PIN, "--force").code == 0
    assert not (out / "models" / "megatron" / "llama_small.yaml").exists()
    assert not (out / "models" / "megatron" / "my_model.yaml").exists()  # a preset of a target folder
    assert (out / "notes.json").is_file()


# ---- the writer


def test_a_nested_value_that_does_not_fit_before_the_next_key_goes_on_one_line():
    text = values_text("a: [1, 2]\nb: {c: 1}\nd: 1\n", "x.yaml")
    assert text == "a: [1, 2]\nb: {c: 1}\nd: 1\n"
    assert values_text("a:\n  - 1\n\n\nb: 2\n", "x.yaml") == "a:\n  - 1\n\n\nb: 2\n"


def test_a_repeated_key_keeps_the_value_safeloader_keeps():
    # SafeLoader: the last value, at the first key's place in the order; its line is the last one's
    text = values_text("a: 1\nb: 2\na: 3\n", "x.yaml")
    assert yaml.safe_load(text) == {"a": 3, "b": 2} and list(yaml.safe_load(text)) == ["a", "b"]


def test_empty_and_odd_files():
    assert values_text("# only a comment\n", "x.yaml") == ""
    with pytest.raises(MigrateError, match="must be a YAML mapping"):
        values_text("just text\n", "x.yaml")
    assert render_values({}) == ""
    weird = "k: '${A:1e-5}'\nt: 2001-01-01\nn: .nan\ns: 'a: b'\nu: \"caf\\u00e9\"\nq: \"line\\nbreak\"\n"
    assert identical(yaml.safe_load(values_text(weird, "x.yaml")), yaml.safe_load(weird))


# ---- the bundled targets are generated data

BUNDLED = sorted(snapshot.bundled_releases())


def test_fourteen_bundled_targets_with_the_names_of_the_contract():
    """MAP.md's names: the first two targets keep theirs, the others are primus-<tag without v>."""
    assert BUNDLED == sorted(["primus-0.1", "primus-26.5", "primus-0.2.0", "primus-0.3.0", "primus-0.4.0",
                              "primus-0.5.0", "primus-0.6.0", "primus-0.7.0", "primus-26.2", "primus-26.2.1",
                              "primus-26.3", "primus-26.3.1", "primus-26.4.0", "primus-26.5.0"])


# the Megatron-LM pin of each release (`git ls-tree TAG third_party/Megatron-LM`, listed in MAP.md)
PIN_OF = {"v0.1.0-rc1": "5a676b36", "v0.2.0": "5a676b36", "v0.3.0": "5a676b36", "v0.4.0": "84778176",
          "v0.5.0": "84778176", "v0.6.0": "84778176", "v0.7.0": "84778176", "v26.2": "3bec9aa9",
          "v26.2.1": "3bec9aa9", "v26.3": "d3528a21", "v26.3.1": "d3528a21", "v26.4.0": "d3528a21",
          "v26.5.0": "d3528a21", "v26.5.1": "d3528a21"}


@pytest.mark.parametrize("target", BUNDLED)
def test_bundled_target_json(target):
    from migrate.megatron.schema import load_schema

    record = json.loads((snapshot.CONFIGS_ROOT / target / "target.json").read_text())
    assert set(record) == {"target", "release", "primus_commit", "megatron_pin", "megatron_schema",
                           "torchtitan_pin", "generated_by"}
    assert record["target"] == target and record["megatron_pin"].startswith(PIN_OF[record["release"]])
    assert all(len(record[k]) == 40 for k in ("primus_commit", "megatron_pin", "torchtitan_pin"))
    assert record["megatron_schema"] == PIN_OF[record["release"]]
    assert load_schema(record["megatron_schema"]).source.startswith(f"NVIDIA/Megatron-LM@{record['megatron_pin']}")
    assert record["generated_by"].endswith(f"-o configs/{target}") and "/work" not in record["generated_by"]


@pytest.mark.parametrize("target", BUNDLED)
def test_bundled_index_is_current(target):
    """The index matches its snapshot (read with the rules of a checkout laid out like it)."""
    folder = snapshot.CONFIGS_ROOT / target
    profile = get_profile(None, primus_path=str(folder))
    assert (folder / preset_index.INDEX_NAME).read_text() == preset_index.render(preset_index.build_index(profile))



@pytest.mark.skipif(not os.environ.get("PRIMUS_GIT"), reason="set PRIMUS_GIT to a Primus git dir (bare works)")
def test_bundled_targets_regenerate_identically():
    """Every configs/<target>/ is exactly what `python -m migrate.primus.snapshot` makes from its tag."""
    repo = Path(os.environ["PRIMUS_GIT"])
    releases = snapshot.bundled_releases()
    assert len(releases) == 14
    for name, tag in releases.items():
        assert snapshot.target_name(tag) == name
        files = snapshot.generate_from_tag(repo, tag)
        folder = snapshot.CONFIGS_ROOT / name
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert on_disk == set(files), name
        for rel, text in files.items():
            assert (folder / rel).read_text() == text, f"{name}/{rel}"


def test_every_bundled_file_is_installed():
    """pyproject.toml's data-files (one line per folder: setuptools has no recursive glob) list every
    file of configs/, so a wheel carries every target; add the lines of a new target's folders."""
    import glob

    tomllib = pytest.importorskip("tomllib")
    root = snapshot.CONFIGS_ROOT.parent
    data_files = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    listed = {Path(f) for patterns in data_files.values() for pattern in patterns for f in glob.glob(str(root / pattern))}
    bundled = {p for p in snapshot.CONFIGS_ROOT.rglob("*") if p.is_file()}
    assert not bundled - listed, sorted(str(p.relative_to(root)) for p in bundled - listed)[:10]
