"""JobConfig schema: the libcst extractor and the bundled tables of the torchtitan pins."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from migrate.diagnostics import MigrateError
from migrate.torchtitan.extract import extract_schema, type_descriptor
from migrate.torchtitan.schema import bundled_schema_names, conforms, from_cli, load_schema

SMALL = textwrap.dedent('''
    from dataclasses import dataclass, field
    from typing import Literal, Optional

    @dataclass
    class Inner:
        depth: int = 3
        names: list[str] = field(default_factory=lambda: ["a", "b"])

    @dataclass
    class Train:
        lr: float = 1e-3
        """docstrings after fields are ignored"""
        mode: Literal["x", "y"] = "x"
        total: int | None = None
        old_style: Optional[str] = None
        flag: bool = False
        inner: Inner = field(default_factory=Inner)

    @dataclass
    class JobConfig:
        train: Train = field(default_factory=Train)
        tags: list[str] = field(default_factory=list)
''')


def _checkout(tmp_path: Path, text: str, rel: str = "torchtitan/config/job_config.py") -> Path:
    path = tmp_path / rel
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return tmp_path


def test_extractor_reads_nested_sections_types_and_defaults(tmp_path):
    data = extract_schema(_checkout(tmp_path, SMALL), name="small")
    assert data["sections"] == ["train", "train.inner"]
    fields = data["fields"]
    assert list(fields) == ["train.lr", "train.mode", "train.total", "train.old_style", "train.flag",
                            "train.inner.depth", "train.inner.names", "tags"]
    assert fields["train.lr"]["default"] == 1e-3 and fields["train.lr"]["type"] == "float"
    assert fields["train.mode"]["type"] == {"literal": ["x", "y"]}
    assert fields["train.total"]["type"] == {"union": ["int", "none"]}
    assert fields["train.old_style"]["type"] == {"union": ["str", "none"]}
    assert fields["train.inner.names"]["default"] == ["a", "b"]
    assert fields["tags"]["default"] == [] and fields["tags"]["type"] == {"list": "str"}
    assert fields["train.lr"]["line"] == 12  # SMALL starts with an empty line; `lr: float = 1e-3` is its 12th


def test_extractor_finds_the_older_file_name(tmp_path):
    data = extract_schema(_checkout(tmp_path, SMALL, "torchtitan/config_manager.py"))
    assert data["file"] == "torchtitan/config_manager.py"


def test_extractor_refuses_a_non_checkout_and_a_non_literal_default(tmp_path):
    with pytest.raises(MigrateError, match="does not look like a torchtitan checkout"):
        extract_schema(tmp_path)
    bad = SMALL.replace('lr: float = 1e-3', 'lr: float = compute()')
    with pytest.raises(MigrateError, match="not a literal") as err:
        extract_schema(_checkout(tmp_path / "b", bad))
    assert err.value.origin.line == 12


def test_type_descriptors():
    assert type_descriptor("float | int") == {"union": ["float", "int"]}
    assert type_descriptor("list[list[str]] | None") == {"union": [{"list": {"list": "str"}}, "none"]}
    assert type_descriptor('Literal["a"] | None') == {"union": [{"literal": ["a"]}, "none"]}


def test_bundled_tables_are_the_pins_of_the_releases():
    # third_party/torchtitan gitlinks: v0.1.0-rc1 .. v0.3.0 -> 4c4388f6..., v0.4.0 .. v26.4.0 -> 5fb7cc2e...
    # (bundled although torchtitan conversion is refused there), v26.5.0, v26.5.1 -> 73a0e697...
    assert bundled_schema_names() == ["4c4388f6", "5fb7cc2e", "73a0e697"]


def test_bundled_73a0e697_facts():
    """Values read from torchtitan/config/job_config.py at 73a0e697 (line numbers in the table)."""
    schema = load_schema("73a0e697")
    d = schema.defaults()
    assert d["training.local_batch_size"] == 8 and d["training.seq_len"] == 2048 and d["training.steps"] == 10000
    assert d["optimizer.lr"] == 8e-4 and d["optimizer.name"] == "AdamW"
    assert d["lr_scheduler.warmup_steps"] == 200 and d["lr_scheduler.decay_type"] == "linear"
    assert d["activation_checkpoint.mode"] == "selective" and d["compile.enable"] is False
    assert d["model.converters"] == [] and d["model.flavor"] == "debugmodel"
    assert d["quantize.linear.mx.filter_fqns"] == ["output"]
    assert d["activation_checkpoint.per_op_sac_force_recompute_mm_shapes_by_fqns"] == ["moe.router.gate"]
    assert schema.is_section("quantize.linear.float8") and schema.is_section("training.dataloader")
    assert schema.fields["training.max_norm"].type == {"union": ["float", "int"]}
    assert len(schema.fields) == 149


def test_old_pin_keeps_float8_as_a_top_level_section():
    schema = load_schema("4c4388f6")
    assert schema.is_section("float8") and not schema.is_section("quantize")


def test_value_checks():
    assert conforms("float", 1) and not conforms("int", 1.5) and not conforms("int", True)
    assert conforms({"union": ["int", "none"]}, None) and not conforms("str", None)
    assert conforms({"list": "str"}, ["a"]) and not conforms({"list": "str"}, "a")
    assert not conforms({"literal": ["linear", "cosine"]}, "cos")
    # tyro's readings (checked against torchtitan's ConfigManager in test_torchtitan_jobconfig)
    assert from_cli({"union": ["float", "int"]}, "1") == 1.0
    assert from_cli({"union": ["str", "none"]}, "None") is None
    assert from_cli({"list": "str"}, "a,b") == ["a", "b"]
    with pytest.raises(ValueError):
        from_cli("int", "1.5")


def test_load_schema_errors(tmp_path):
    with pytest.raises(MigrateError, match="no torchtitan schema"):
        load_schema("nope")
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(MigrateError, match="not a torchtitan schema"):
        load_schema(str(bad))


@pytest.mark.skipif(not os.environ.get("TORCHTITAN_GIT") or not os.environ.get("PRIMUS_GIT"),
                    reason="set TORCHTITAN_GIT and PRIMUS_GIT to git dirs to check the bundled data")
def test_bundled_data_regenerates_identically(tmp_path):
    """The schemas; the torchtitan presets are checked with every target folder
    (tests/test_primus_snapshot.py::test_bundled_targets_regenerate_identically)."""
    from migrate.torchtitan.bundle import RELEASES, torchtitan_pin, write_schema
    from migrate.torchtitan.schema import SCHEMA_DIR

    primus, titan = Path(os.environ["PRIMUS_GIT"]), Path(os.environ["TORCHTITAN_GIT"])
    for commit in {torchtitan_pin(primus, tag) for tag in RELEASES.values()}:
        path = write_schema(titan, commit, tmp_path)
        assert path.read_text() == (SCHEMA_DIR / path.name).read_text()
    json.loads((SCHEMA_DIR / "73a0e697.json").read_text())
