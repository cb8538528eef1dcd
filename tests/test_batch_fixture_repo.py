"""`primus-migrate batch fixtures/batch_repo` with the real pipeline.

Expectations come from the fixture scripts themselves (which branches exist,
which sizes set which architecture values), not from a previous run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from migrate.primus import get_profile, resolve_experiment

pytestmark = pytest.mark.slow  # converts the whole fixture repository (multi-second)

REPO = Path(__file__).resolve().parent.parent
BATCH_REPO = REPO / "fixtures" / "batch_repo"

# From the scripts: (script, variant) -> architecture the script selects for it.
ARCHITECTURE = {
    ("llama/train_llama3.sh", "MODEL_SIZE=8"): {"num_layers": 32, "hidden_size": 4096, "ffn_hidden_size": 14336,
                                                "num_attention_heads": 32},
    ("llama/train_llama3.sh", "MODEL_SIZE=70"): {"num_layers": 80, "hidden_size": 8192, "ffn_hidden_size": 28672,
                                                 "num_attention_heads": 64},
    ("forks/team_a/train_llama3_fork.sh", "MODEL_SIZE=8"): {"num_layers": 32, "hidden_size": 4096},
    ("forks/team_a/train_llama3_fork.sh", "MODEL_SIZE=70"): {"num_layers": 80, "hidden_size": 8192},
    ("llama/train_llama2.sh", "MODEL_SIZE=7"): {"num_layers": 32, "ffn_hidden_size": 11008, "num_query_groups": 32},
    ("llama/train_llama2.sh", "MODEL_SIZE=70"): {"num_layers": 80, "ffn_hidden_size": 28672, "num_query_groups": 8},
    ("mixtral/train_mixtral_moe.sh", "MODEL=8x7b"): {"num_layers": 32, "hidden_size": 4096, "num_experts": 8},
    ("mixtral/train_mixtral_moe.sh", "MODEL=8x22b"): {"num_layers": 56, "hidden_size": 6144, "num_experts": 8},
    # the SLURM wrapper exports MODEL_SIZE=70 and runs train_llama3.sh: one variant, the 70B
    ("llama/submit_llama3_70b.sbatch", "default"): {"num_layers": 80, "hidden_size": 8192, "micro_batch_size": 1},
}


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory):
    from migrate.cli import main

    out = tmp_path_factory.mktemp("batch") / "out"
    code = main(["batch", str(BATCH_REPO), "-o", str(out), "--jobs", "1", "--json"])
    return code, out, json.loads((out / "batch_report.json").read_text())


def _rows(report):
    return {s["script"]: s for s in report["scripts"]}


def test_scripts_are_sorted_into_launchers_helpers_and_broken(batch_out):
    code, _, report = batch_out
    rows = _rows(report)
    assert code == 2  # the broken script is rejected; everything else went through
    assert rows["broken/train_broken.sh"]["status"] == "rejected"
    assert rows["broken/train_broken.sh"]["location"].startswith("broken/train_broken.sh:4")
    assert rows["data/prepare_data.sh"]["status"] == "skipped"       # text pre-filter
    assert rows["tools/download_tokenizer.sh"]["status"] == "skipped"  # evaluation: no launch
    assert "no training launch" in rows["tools/download_tokenizer.sh"]["reason"]


def test_every_model_size_is_converted_with_parity(batch_out, tmp_path):
    _, out, report = batch_out
    rows = _rows(report)
    profile = get_profile("primus-26.5")
    for (script, label), arch in ARCHITECTURE.items():
        (variant,) = [v for v in rows[script]["variants"] if v["label"] == label]
        assert variant["status"] in ("converted", "converted_with_warnings"), variant
        assert variant["parity_ok"] is True, variant["parity_differences"]
        # resolve the written experiment with the model installed as Primus would find it
        staged = tmp_path / "installed"
        shutil.copytree(out / "exp", staged / "exp", dirs_exist_ok=True)
        exp = staged / variant["experiment"]
        if variant["model"]:
            shutil.copyfile(out / variant["model"], exp.parent / Path(variant["model"]).name)
        values = resolve_experiment(exp, profile).values
        assert {k: values[k] for k in arch} == arch, (script, label)
    assert [v["label"] for v in rows["llama/train_llama3.sh"]["variants"]] == ["MODEL_SIZE=8", "MODEL_SIZE=70"]
    assert [v["is_default"] for v in rows["llama/train_llama3.sh"]["variants"]] == [True, False]


def test_same_model_is_one_file(batch_out):
    _, out, report = batch_out
    rows = _rows(report)
    model = {(s, v["label"]): v["model"] for s, r in rows.items() for v in r["variants"]}
    # the fork selects the same 8B and 70B architectures as the original
    assert model[("llama/train_llama3.sh", "MODEL_SIZE=8")] == model[("forks/team_a/train_llama3_fork.sh", "MODEL_SIZE=8")]
    assert model[("llama/train_llama3.sh", "MODEL_SIZE=70")] == model[("forks/team_a/train_llama3_fork.sh", "MODEL_SIZE=70")]
    assert model[("llama/train_llama3.sh", "MODEL_SIZE=70")] == model[("llama/submit_llama3_70b.sbatch", "default")]
    assert model[("llama/train_llama3.sh", "MODEL_SIZE=8")] != model[("llama/train_llama3.sh", "MODEL_SIZE=70")]
    files = sorted(p.relative_to(out).as_posix() for p in (out / "models").rglob("*.yaml"))
    assert files == sorted({m for m in model.values() if m})
    for m in files:
        ref = Path(m).name
        users = [e for e in (out / "exp").rglob("*.yaml")
                 if yaml.safe_load(e.read_text())["modules"]["pre_trainer"]["model"] == ref]
        assert users, m


def test_knob_table_names_the_model_size_keys(batch_out):
    _, _, report = batch_out
    table = {(r["knob"], s): r["keys"] for r in report["knob_mappings"] for s in r["scripts"]}
    assert {"num_layers", "hidden_size"} <= set(table[("MODEL_SIZE", "llama/train_llama3.sh")])
    assert {"num_layers", "hidden_size"} <= set(table[("MODEL", "mixtral/train_mixtral_moe.sh")])


def test_rerun_with_two_workers_gives_identical_bytes(batch_out, tmp_path):
    from migrate.cli import main

    _, out, _ = batch_out
    again = tmp_path / "again"
    main(["batch", str(BATCH_REPO), "-o", str(again), "--jobs", "2", "--json"])
    tree = lambda root: {p.relative_to(root).as_posix(): p.read_bytes()  # noqa: E731
                         for p in root.rglob("*") if p.is_file()}
    assert tree(again) == tree(out)
    assert str(REPO) not in "".join(t.decode() for t in tree(out).values())
