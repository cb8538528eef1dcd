"""One script at a time, with a fake pipeline: variants, isolation, layout, re-checked parity."""

from __future__ import annotations

from pathlib import Path

import yaml
from helpers_batch import FakeBackend, write_fake_repo

from migrate.batch.backend import ConvertSettings
from migrate.batch.worker import ScriptJob, process_script


def _job(root: Path, rel: str, **kw) -> ScriptJob:
    return ScriptJob(str(root), rel, ConvertSettings(), **kw)


def _script(tmp_path: Path, text: str, rel: str = "train.sh") -> str:
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text("#!/bin/bash\n" + text + "torchrun pretrain_gpt.py\n")
    return rel


def test_every_model_size_gets_an_experiment_and_a_shared_model(tmp_path):
    root = write_fake_repo(tmp_path)
    result = process_script(_job(root, "llama/train_llama3.sh"), FakeBackend())
    assert result.status == "converted"
    assert [(v.label, v.env, v.is_default) for v in result.variants] == [
        ("MODEL_SIZE=8", {}, True), ("MODEL_SIZE=70", {"MODEL_SIZE": "70"}, False)]
    assert [v.experiment for v in result.variants] == [
        "exp/llama/train_llama3/MODEL_SIZE=8.yaml", "exp/llama/train_llama3/MODEL_SIZE=70.yaml"]
    assert all(v.parity_ok for v in result.variants)
    # the experiment points at its model through a path relative to itself
    for v in result.variants:
        exp = yaml.safe_load(result.files[v.experiment])
        assert exp["modules"]["pre_trainer"]["model"] == Path(v.model).name
        assert v.model.startswith("models/megatron/llama3_") and v.model in result.files
        # per-script comments are gone from the shared file, the settings are not
        assert "train_llama3" not in result.files[v.model]
        assert yaml.safe_load(result.files[v.model])["num_layers"] == {"MODEL_SIZE=8": 32, "MODEL_SIZE=70": 80}[v.label]
    assert result.variants[1].changed_keys == ["num_layers"]
    assert result.knob_keys == {"MODEL_SIZE": ["num_layers"]}
    assert result.knobs["TE_FP8"]["varied"] is False and result.knobs["MODEL_SIZE"]["varied"] is True
    # the exported environment and the launch script sit beside their experiment; the per-script report does not
    assert [v.run for v in result.variants] == [v.experiment.replace(".yaml", ".run.sh") for v in result.variants]
    assert sorted(result.files) == sorted([v.experiment for v in result.variants] + [v.model for v in result.variants]
                                          + [v.experiment.replace(".yaml", ".env.sh") for v in result.variants]
                                          + [v.run for v in result.variants])
    # run.sh names the tree's files: its experiment, the shared model two folders up, its env.sh
    run = result.files["exp/llama/train_llama3/MODEL_SIZE=70.run.sh"]
    model = Path(result.variants[1].model).name
    assert f'cp "$HERE"/../../../models/megatron/{model} ' in run
    assert 'source "$HERE"/MODEL_SIZE=70.env.sh' in run and 'EXP="$HERE"/MODEL_SIZE=70.yaml bash' in run
    assert result.files["exp/llama/train_llama3/MODEL_SIZE=70.env.sh"] == "export NCCL_IB_DISABLE=1\n"


def test_exp_name_is_unique_per_script_and_variant(tmp_path):
    root = write_fake_repo(tmp_path)
    backend = FakeBackend()
    result = process_script(_job(root, "llama/train_llama3.sh"), backend)
    names = [yaml.safe_load(result.files[v.experiment])["exp_name"] for v in result.variants]
    assert names == ["${PRIMUS_EXP_NAME:llama-train_llama3}", "${PRIMUS_EXP_NAME:llama-train_llama3-MODEL_SIZE-70}"]


def test_a_parse_error_is_rejected_with_its_location(tmp_path):
    root = write_fake_repo(tmp_path)
    result = process_script(_job(root, "broken/train_broken.sh"), FakeBackend())
    assert (result.status, result.location, result.reason) == ("rejected", "broken/train_broken.sh:4:3",
                                                             "'if' is never closed")
    assert result.files == {} and result.variants == []


def test_no_training_launch_is_a_skipped_helper(tmp_path):
    root = write_fake_repo(tmp_path)
    result = process_script(_job(root, "tools/common.sh"), FakeBackend())
    assert result.status == "skipped" and result.reason.startswith("helper: no training launch found")


def test_a_bug_becomes_an_internal_error_row(tmp_path):
    rel = _script(tmp_path, "# crash\n")
    result = process_script(_job(tmp_path, rel), FakeBackend())
    assert result.status == "rejected"
    assert result.reason.startswith("internal error: ZeroDivisionError: fake bug")


def test_warnings_and_unmapped_flags_are_relative_to_the_root(tmp_path):
    rel = _script(tmp_path, "# warn odd flag\n# unmapped --use-legacy-thing\n", "x/train.sh")
    result = process_script(_job(tmp_path, rel), FakeBackend())
    (row,) = result.variants
    assert row.status == "converted_with_warnings"
    assert row.warnings == ["x/train.sh:7: warning: odd flag"]
    assert row.unmapped == ["--use-legacy-thing"]
    assert str(tmp_path) not in repr(result.to_json())


def test_a_variant_failing_parity_on_the_placed_files_is_rejected_and_not_written(tmp_path):
    rel = _script(tmp_path, "# parity-breaks\n")
    result = process_script(_job(tmp_path, rel), FakeBackend())
    (row,) = result.variants
    assert (row.status, row.parity_ok, row.experiment) == ("rejected", False, None)
    assert row.parity_differences == [["train_iters", 10, None]]
    assert row.reason == "static parity failed, not written: train_iters: 10 -> None (legacy -> Primus)"
    assert result.files == {}


def test_comparisons_seen_only_under_a_variant_add_variants(tmp_path):
    rel = _script(tmp_path, "# knob MODEL_SIZE 8 8 70\n# when MODEL_SIZE=70 knob MODEL_SIZE 8 405\n")
    result = process_script(_job(tmp_path, rel), FakeBackend())
    assert [v.label for v in result.variants] == ["MODEL_SIZE=8", "MODEL_SIZE=70", "MODEL_SIZE=405"]
    assert result.knobs["MODEL_SIZE"]["compared_with"] == ["8", "70", "405"]


def test_cap_is_reported(tmp_path):
    rel = _script(tmp_path, "# knob MODEL_SIZE 8 8 70 405\n# knob PP 1 2 4\n")
    result = process_script(_job(tmp_path, rel, max_variants=4, all_choices=True), FakeBackend())
    assert result.capped and len(result.variants) == 4
    assert any("capped at 4" in n for n in result.notes)


def test_explicit_knobs_replace_the_automatic_variants(tmp_path):
    root = write_fake_repo(tmp_path)
    backend = FakeBackend()
    job = _job(root, "llama/train_llama3.sh", knobs=(("MODEL_SIZE", ("70",)), ("MBS", ("1", "3")), ("EP", ("8",))))
    result = process_script(job, backend)
    assert [(v.label, v.env) for v in result.variants] == [
        ("MODEL_SIZE=70,MBS=1", {"MODEL_SIZE": "70", "MBS": "1"}),
        ("MODEL_SIZE=70,MBS=3", {"MODEL_SIZE": "70", "MBS": "3"}),
    ]
    assert result.notes == ["--knobs not declared by this script (ignored): EP"]
    assert result.knob_keys == {"MBS": ["micro_batch_size"]}
    assert [env for _, env in backend.calls][0] == {}  # one evaluation first, to learn the declared knobs


def test_a_threshold_comparison_does_not_make_variants(tmp_path):
    rel = _script(tmp_path, '# knob SEQ_LENGTH 8192 4096\nif [ "$SEQ_LENGTH" -gt 4096 ]; then R=1; fi\n')
    result = process_script(_job(tmp_path, rel), FakeBackend())
    assert [v.label for v in result.variants] == ["default"]
    assert result.knobs["SEQ_LENGTH"] == {"default": "8192", "compared_with": ["4096"], "varied": False}


FIXTURE_REPO = Path(__file__).resolve().parent.parent / "fixtures" / "batch_repo"


class _RealShell(FakeBackend):
    """The real shell evaluator decides launch / helper / broken; conversion stays fake."""

    def evaluate(self, script, env, settings):
        from migrate.batch.backend import PipelineBackend

        return PipelineBackend().evaluate(script, env, settings)

    def dest_of(self, flag, settings):
        from migrate.batch.backend import PipelineBackend

        return PipelineBackend().dest_of(flag, settings)


def test_real_evaluator_errors_are_classified(tmp_path):
    knobs = (("MODEL_SIZE", ("8",)),)
    broken = process_script(_job(FIXTURE_REPO, "broken/train_broken.sh", knobs=knobs), _RealShell())
    assert (broken.status, broken.location) == ("rejected", "broken/train_broken.sh:4:1")
    assert "cannot parse" in broken.reason
    helper = process_script(_job(FIXTURE_REPO, "tools/download_tokenizer.sh", knobs=knobs), _RealShell())
    assert helper.status == "skipped" and helper.reason.startswith("helper: no training launch found")
    assert str(FIXTURE_REPO) not in repr(broken.to_json()) + repr(helper.to_json())


def test_real_evaluator_knobs_drive_explicit_variants():
    result = process_script(_job(FIXTURE_REPO, "llama/train_llama3.sh", knobs=(("MODEL_SIZE", ("70",)),
                                                                              ("NOT_A_KNOB", ("1",)))),
                            _RealShell())
    assert [v.label for v in result.variants] == ["MODEL_SIZE=70"]
    assert result.notes == ["--knobs not declared by this script (ignored): NOT_A_KNOB"]
    # thresholds (SEQ_LENGTH -gt 8192) and toggles (TE_FP8 -eq 1) are known but not varied automatically
    assert result.knobs["SEQ_LENGTH"]["compared_with"] == ["8192"]


def test_real_evaluator_knobs_give_the_model_size_variants():
    labels = {}
    for rel in ["llama/train_llama3.sh", "llama/train_llama2.sh", "mixtral/train_mixtral_moe.sh",
                "forks/team_a/train_llama3_fork.sh", "llama/submit_llama3_70b.sbatch"]:
        result = process_script(_job(FIXTURE_REPO, rel), _RealShell())
        assert result.status in ("converted", "converted_with_warnings"), (rel, result.reason)
        labels[rel] = [v.label for v in result.variants]
    # read off the scripts: `if -eq 8 / elif -eq 70`, `case 7) 70)`, `= "8x7b" / = "8x22b"`
    assert labels == {
        "llama/train_llama3.sh": ["MODEL_SIZE=8", "MODEL_SIZE=70"],
        "llama/train_llama2.sh": ["MODEL_SIZE=7", "MODEL_SIZE=70"],
        "mixtral/train_mixtral_moe.sh": ["MODEL=8x7b", "MODEL=8x22b"],
        "forks/team_a/train_llama3_fork.sh": ["MODEL_SIZE=8", "MODEL_SIZE=70"],
        "llama/submit_llama3_70b.sbatch": ["default"],  # MODEL_SIZE is fixed by the wrapper
    }


def test_knob_to_key_table_traces_defaults_into_flags():
    result = process_script(_job(FIXTURE_REPO, "llama/train_llama3.sh"), _RealShell())
    # read off the script: `MBS="${MBS:-2}"` ... `--micro-batch-size $MBS`, etc.
    expected = {"BS": ["global_batch_size"], "MBS": ["micro_batch_size"], "PP": ["pipeline_model_parallel_size"],
                "SEQ_LENGTH": ["seq_length"], "TOTAL_ITERS": ["train_iters"], "TP": ["tensor_model_parallel_size"]}
    assert {k: v for k, v in result.knob_keys.items() if k in expected} == expected
    assert "num_layers" in result.knob_keys["MODEL_SIZE"]  # measured between the 8 and 70 variants
    assert "TE_FP8" not in result.knob_keys  # its default 0 never reaches a flag value


def test_a_script_is_parsed_once_for_all_its_variants(monkeypatch, tmp_path):
    import shutil

    import migrate.shell.syntax as syntax

    parsed = []
    real = syntax._parse_bytes
    monkeypatch.setattr(syntax, "_parse_bytes", lambda data, filename: parsed.append(filename) or real(data, filename))
    shutil.copytree(FIXTURE_REPO / "mixtral", tmp_path / "mixtral")  # a new file: not cached by earlier tests
    result = process_script(_job(tmp_path, "mixtral/train_mixtral_moe.sh"), _RealShell())
    assert len(result.variants) == 2
    assert parsed == ["mixtral/train_mixtral_moe.sh"]


def test_labels_that_sanitize_alike_get_numbered(tmp_path):
    rel = _script(tmp_path, "# knob DATA a_b a/b a_b\n")
    result = process_script(_job(tmp_path, rel, knobs=(("DATA", ("a/b", "a_b")),)), FakeBackend())
    assert [(v.label, v.env) for v in result.variants] == [("DATA=a_b", {"DATA": "a/b"}),
                                                          ("DATA=a_b~2", {"DATA": "a_b"})]
    assert len({v.experiment for v in result.variants}) == 2


def test_new_knobs_seen_in_a_variant_do_not_repeat_the_defaults(tmp_path):
    # PP becomes a choice only inside the 70B branch: the defaults are not converted twice
    rel = _script(tmp_path, "# knob MODEL_SIZE 8 8 70\n# when MODEL_SIZE=70 knob PP 1 2\n")
    result = process_script(_job(tmp_path, rel, all_choices=True), FakeBackend())
    envs = [v.env for v in result.variants]
    assert envs == [{}, {"MODEL_SIZE": "70"}, {"PP": "2"}, {"MODEL_SIZE": "70", "PP": "2"}]
    # PP is only read in the 70B branch: PP=2 with the 8B defaults is the defaults' run
    assert [v.same_as for v in result.variants] == [None, None, "MODEL_SIZE=8", None]
    assert len(set(v.experiment for v in result.variants)) == 3


def test_variants_found_later_respect_the_cap(tmp_path):
    rel = _script(tmp_path, "# knob MODEL_SIZE 8 8 70\n# when MODEL_SIZE=70 knob PP 1 2 4\n")
    result = process_script(_job(tmp_path, rel, max_variants=3, all_choices=True), FakeBackend())
    assert len(result.variants) == 3 and result.capped


def test_other_choices_keep_their_default_unless_all_choices(tmp_path):
    rel = _script(tmp_path, "# knob MODEL_SIZE 8 8 70\n# knob PR bf16 fp8\n")
    assert [v.label for v in process_script(_job(tmp_path, rel), FakeBackend()).variants] == [
        "MODEL_SIZE=8", "MODEL_SIZE=70"]
    result = process_script(_job(tmp_path, rel, all_choices=True), FakeBackend())
    assert [v.label for v in result.variants] == [
        "MODEL_SIZE=8,PR=bf16", "MODEL_SIZE=8,PR=fp8", "MODEL_SIZE=70,PR=bf16", "MODEL_SIZE=70,PR=fp8"]
    assert result.knobs["PR"]["varied"] is True


def test_variants_giving_the_same_run_share_one_experiment(tmp_path):
    rel = _script(tmp_path, "# knob MODEL_SIZE 7 7B 70\n")  # the fake builds 16 layers for both 7 and 7B
    result = process_script(_job(tmp_path, rel), FakeBackend())
    rows = {v.label: v for v in result.variants}
    assert list(rows) == ["MODEL_SIZE=7", "MODEL_SIZE=7B", "MODEL_SIZE=70"]
    assert rows["MODEL_SIZE=7B"].same_as == "MODEL_SIZE=7"
    assert rows["MODEL_SIZE=7B"].experiment == rows["MODEL_SIZE=7"].experiment == "exp/train/MODEL_SIZE=7.yaml"
    assert rows["MODEL_SIZE=7B"].env == {"MODEL_SIZE": "7B"} and rows["MODEL_SIZE=70"].same_as is None
    assert sorted(p for p in result.files if p.startswith("exp/") and p.endswith(".yaml")) == [
        "exp/train/MODEL_SIZE=7.yaml", "exp/train/MODEL_SIZE=70.yaml"]
    assert rows["MODEL_SIZE=7B"].run == rows["MODEL_SIZE=7"].run == "exp/train/MODEL_SIZE=7.run.sh"
