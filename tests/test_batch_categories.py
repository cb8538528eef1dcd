"""Every rejected or skipped batch row gets a stable category and the command that moves it on.

Each category (but `other`, which no known rejection falls into) is produced here by a real
rejection: a small script of our own run through the real batch (discovery, worker, pipeline)
with the real backend; only `parity-failed` and
`internal-error`, which no correct conversion produces, come from a backend made to fail the
re-check or to crash. `timed-out` and `out-of-memory` are covered by test_batch_limits.py's
slow test (they need the worker pool's limits to fire).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from migrate.batch.backend import ConvertSettings, PipelineBackend
from migrate.batch.categories import CODES, BatchCommand, annotate, classify, next_step, summary
from migrate.batch.report import build_json, render_markdown
from migrate.batch.runner import BatchOptions, run_batch
from migrate.batch.tree import assemble

from test_limits import LAUNCH

# A complete launch that converts at every target (NullTokenizer with a vocabulary size).
GOOD = LAUNCH
GPT2_MOCK = LAUNCH.replace("--tokenizer-type NullTokenizer --vocab-size 1000",
                           "--tokenizer-type GPT2BPETokenizer --vocab-file vocab.json --merge-file merges.txt")
SCRIPTS: dict[str, tuple[str, str]] = {
    # name: (script text, expected category)
    "train_args.sh": ("#!/bin/bash\nLAYERS=$1\n" + LAUNCH.replace("--num-layers 2", "--num-layers $LAYERS") + "\n",
                      "needs-arguments"),
    "train_env.sh": ("#!/bin/bash\n" + LAUNCH.replace("--num-layers 2 ", "$EXTRA_ARGS ") + "\n",
                     "needs-environment"),
    "train_fork.sh": ("#!/bin/bash\n" + LAUNCH + " --team-fork-option 3\n", "unknown-option"),
    "train_unknown_entry.sh": ("#!/bin/bash\n" + LAUNCH.replace("pretrain_gpt.py", "tools/team_pretrain_lm.py") + "\n",
                               "unknown-entry"),
    "train_bert.sh": ("#!/bin/bash\n" + LAUNCH.replace("pretrain_gpt.py", "pretrain_bert.py") + "\n",
                      "unsupported-entry"),
    "train_gpt2_mock.sh": ("#!/bin/bash\n" + GPT2_MOCK + "\n", "null-tokenizer"),
    "train_parse.sh": ('#!/bin/bash\nNAME="{{ model_name }}\n' + LAUNCH + "\n", "shell-parse-error"),
    "train_crlf.sh": (("#!/bin/bash\n" + LAUNCH + "\n").replace("\n", "\r\n"), "crlf"),
    "train_no_layers.sh": ("#!/bin/bash\n" + LAUNCH.replace("--num-layers 2 ", "") + "\n",
                           "megatron-would-reject"),
    "train_loop.sh": ("#!/bin/bash\nf() { f; }\nf\n" + LAUNCH + "\n", "limit-exceeded"),
    "prepare_data.sh": ("#!/bin/bash\npython tools/preprocess_data.py --input x.json\n", "no-launch"),
    # argparse's "expected one argument": nothing the script reads unset explains it
    "train_empty_value.sh": ("#!/bin/bash\n" + LAUNCH.replace("--lr 1e-4", "--lr") + "\n",
                             "megatron-would-reject"),
    "train_bad_int.sh": ("#!/bin/bash\n" + LAUNCH.replace("--micro-batch-size 1", "--micro-batch-size one") + "\n",
                         "megatron-would-reject"),
    "train_good.sh": ("#!/bin/bash\n" + GOOD + "\n", ""),
}


def _repo(tmp_path: Path, scripts: dict[str, tuple[str, str]]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name, (text, _) in scripts.items():
        (repo / name).write_bytes(text.encode())
    return repo


def _rows(results):
    return {r.script: (r.variants[0] if r.variants else r) for r in results}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("categories")
    results = run_batch(_repo(tmp_path, SCRIPTS), BatchOptions(jobs=1))
    annotate(results, BatchCommand("repo", "out"))
    return results


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_real_rejection_has_its_category(batch, name):
    row = _rows(batch)[name]
    expected = SCRIPTS[name][1]
    if not expected:
        assert row.status == "converted" and row.category is None and row.next_step is None
        return
    assert row.status in ("rejected", "skipped"), row.reason
    assert row.category == expected, row.reason
    assert row.next_step


def test_next_steps_are_the_commands_a_user_runs(batch):
    rows = _rows(batch)
    # $1 was read and not given: one argument, named for this script, as batch's own option takes it
    assert rows["train_args.sh"].next_step == "primus-migrate batch repo -o out --script-args 'train_args.sh=ARG1'"
    # the variable read unset, set like `KEY=VALUE bash SCRIPT`
    assert rows["train_env.sh"].next_step == "primus-migrate repo/train_env.sh EXTRA_ARGS=VALUE -o OUT"
    assert rows["train_gpt2_mock.sh"].next_step == "primus-migrate batch repo -o out --accept-null-tokenizer"
    assert rows["train_unknown_entry.sh"].next_step == "primus-migrate batch repo -o out --entry-as gpt"
    assert rows["train_fork.sh"].next_step.endswith("--legacy-schema fork.json")
    assert rows["train_parse.sh"].next_step == "bash -n repo/train_parse.sh"
    assert rows["train_crlf.sh"].next_step == "dos2unix repo/train_crlf.sh && primus-migrate batch repo -o out"
    # the limit's own suggestion (four times the value in force), ahead of the same batch command
    words = shlex.split(rows["train_loop.sh"].next_step)
    assert words[0].startswith("PRIMUS_MIGRATE_LIMITS=call_depth=") and words[1:3] == ["primus-migrate", "batch"]
    assert rows["train_no_layers.sh"].next_step == f"fix the launch at {rows['train_no_layers.sh'].location}"
    assert rows["train_no_layers.sh"].location.startswith("train_no_layers.sh:")


def test_argparse_refusals_point_at_their_line(batch):
    for name, words in (("train_empty_value.sh", "expects a value"), ("train_bad_int.sh", "invalid int value")):
        row = _rows(batch)[name]
        assert words in row.reason
        assert row.location.startswith(f"{name}:") and row.next_step == f"fix the launch at {row.location}"


def test_unknown_tokenizer_refusal_under_accept_null_tokenizer(tmp_path):
    text = LAUNCH.replace("--tokenizer-type NullTokenizer --vocab-size 1000",
                          "--tokenizer-type HuggingFaceTokenizer --tokenizer-model team/private-tokenizer")
    repo = _repo(tmp_path, {"train_hf.sh": ("#!/bin/bash\n" + text + "\n", "unknown-tokenizer")})
    options = BatchOptions(settings=ConvertSettings(target="primus-26.5", accept_null_tokenizer=True), jobs=1)
    results = run_batch(repo, options)
    annotate(results, BatchCommand("repo", "out", ("--accept-null-tokenizer",)))
    row = _rows(results)["train_hf.sh"]
    assert row.category == "unknown-tokenizer", row.reason
    assert row.next_step == "primus-migrate batch repo -o out --accept-null-tokenizer --target primus-0.1"


class _FailingBackend(PipelineBackend):
    """The real conversion, then a re-check that finds a difference, or a crash in convert."""

    def __init__(self, crash: bool) -> None:
        super().__init__()
        self.crash = crash

    def convert(self, *args, **kwargs):
        if self.crash:
            raise RuntimeError("boom")
        return super().convert(*args, **kwargs)

    def recheck(self, *args, **kwargs):
        return False, [("lr", 0.0001, 0.001)]


@pytest.mark.parametrize("crash, code", [(False, "parity-failed"), (True, "internal-error")])
def test_bugs_are_categorised_as_bugs(tmp_path, crash, code):
    repo = _repo(tmp_path, {"train_good.sh": ("#!/bin/bash\n" + GOOD + "\n", "")})
    results = run_batch(repo, BatchOptions(jobs=1), backend=_FailingBackend(crash))
    annotate(results, BatchCommand())
    row = _rows(results)["train_good.sh"]
    assert row.category == code, row.reason
    assert row.next_step.startswith("PRIMUS_MIGRATE_DEBUG=1 primus-migrate DIR/train_good.sh")


def test_report_starts_with_categories_and_next_steps(batch):
    report = build_json(batch, assemble(batch), "primus-26.5", "repo")
    table = {row["category"]: row for row in report["categories"]}
    expected = {code for _, code in SCRIPTS.values() if code}
    assert set(table) == expected
    assert table["megatron-would-reject"]["rows"] == 3  # train_no_layers, train_empty_value, train_bad_int
    assert all(table[code]["rows"] == 1 for code in expected - {"megatron-would-reject"})
    text = render_markdown(report)
    assert text.index("## Rejected and skipped, by category") < text.index("## Summary")
    assert text.index("## Next steps") < text.index("## Summary")
    first = report["categories"][0]
    assert first["category"] == "megatron-would-reject"  # most rows first
    assert f"1. `megatron-would-reject` ({first['scripts'][0]} and 2 more): fix the launch at " in text
    assert text.count("\n1. ") == 1 and "\n5. " in text and "\n6. " not in text  # the top five only
    # every rejected and skipped script is counted once in the categories, like the summary counts them
    stopped = report["summary"]["scripts"]["rejected"] + report["summary"]["scripts"]["skipped"]
    assert sum(row["rows"] for row in report["categories"]) == stopped


@pytest.mark.parametrize("reason, code", [
    ("timed out: the script took more than 4 s: over the limit batch_script_seconds=4 (...)", "timed-out"),
    ("out of memory: converting this script needed more than 300 MiB: over the limit batch_script_memory=300M",
     "out-of-memory"),
    ("internal error: the worker process died while converting this script (exit status -9)", "internal-error"),
    ("needs DLM_SYSTEM_GPU_ARCHITECTURE (one of gfx942, gfx950)", "needs-environment"),
    ("helper: needs MASTER_NODE", "needs-environment"),
    ("something nobody has seen", "other"),
    ("option --foo: needs a value", "other"),  # a variable name, not prose, follows "needs"
    (None, "other"),
    # gates.py's rows: arguments behind `${1:?usage}`, a path a file test wants
    ("needs arguments $1 $2 (the script stops at x.sh:2 without them: \"usage: x.sh A B\")", "needs-arguments"),
    ("needs `/data/wiki` to exist (tested at x.sh:3; the script exits without it)", "needs-file"),
    ("needs file conf/arguments.sh (sourced at train.sh:6, not found)", "missing-source"),
    ("needs RETRO_ENV_VARS (unset under set -u at p.sh:25); file x.sh (sourced at p.sh:9, not found)",
     "needs-environment"),
    # conversion/hints.py names the variable a job sets that left an option without its value
    ("option --tensorboard-dir expects a value (hint: the next word is '--micro-batch-size'; $TENSORBOARD_DIR is "
     "unset, so --tensorboard-dir got no value; set it: ...)", "needs-environment"),
    ("option --tensorboard-dir expects a value (hint: the next word is '--x')", "megatron-would-reject"),
])
def test_text_only_rows(reason, code):
    """Rows built from text only: the worker pool's limit rows, and variants.py's env-gated rows."""
    assert classify(reason) == code


def test_the_raise_site_category_wins_and_codes_are_known():
    assert classify("static parity failed, NullTokenizer", "unknown-tokenizer") == "unknown-tokenizer"
    assert classify("anything", "not-a-code") == "other"
    assert len(set(CODES)) == len(CODES) and "other" in CODES


def test_summary_puts_rejections_first_then_most_rows(batch):
    rows = summary(batch)
    keys = [(row["status"] == "skipped", -int(row["rows"]), CODES.index(str(row["category"]))) for row in rows]
    assert keys == sorted(keys)


def test_progress_counts_what_the_report_counts(tmp_path):
    """Skipped helpers tick the bar too: its total is the report's script total."""
    picked = {name: SCRIPTS[name] for name in ("prepare_data.sh", "train_good.sh", "train_bert.sh")}
    totals: list[int] = []
    ticks: list[str] = []
    results = run_batch(_repo(tmp_path, picked), BatchOptions(jobs=1),
                        progress=lambda script, result: ticks.append(script), on_discovered=totals.append)
    report = build_json(results, assemble(results), "primus-26.5", "repo")
    assert totals == [report["summary"]["scripts"]["total"]] == [3]
    assert sorted(ticks) == sorted(picked)


def test_env_gated_rows_name_the_variable_and_a_value_it_accepts():
    """The row variants.py writes for a script that exits unless a variable is set (text only)."""
    reason = "needs DLM_SYSTEM_GPU_ARCHITECTURE (one of gfx942, gfx950)"
    step = next_step(classify(reason), "train.sh", None, reason, {}, BatchCommand("repo", "out"))
    assert step == "primus-migrate repo/train.sh DLM_SYSTEM_GPU_ARCHITECTURE=gfx942 -o OUT"


def test_an_unset_variable_that_emptied_an_option_is_what_to_set():
    reason = ("option --tensorboard-dir expects a value (hint: the next word is '--micro-batch-size'; "
              "$TENSORBOARD_DIR is unset, so --tensorboard-dir got no value; set it: primus-migrate SCRIPT ...)")
    step = next_step(classify(reason), "t.sh", "t.sh:9", reason, {}, BatchCommand("repo", "out"))
    assert step == "primus-migrate repo/t.sh TENSORBOARD_DIR=VALUE -o OUT"


def test_a_missing_sourced_file_says_where_to_convert_from():
    reason = "needs file conf/arguments.sh (sourced at train.sh:6, not found)"
    assert next_step(classify(reason), "train.sh", "train.sh:6", reason, {}, BatchCommand("repo", "out")) == (
        "convert from a folder that holds conf/arguments.sh (as the script finds it from where it runs)")


def test_gate_rows_give_the_arguments_and_the_paths():
    args = "needs arguments $1 $2 $3 (the script stops at t.sh:2 without them)"
    assert next_step(classify(args), "t.sh", None, args, {}, BatchCommand("repo", "out")) == (
        "primus-migrate batch repo -o out --script-args 't.sh=ARG1 ARG2 ARG3'")
    path = "needs `/data/my ckpt` to exist (tested at t.sh:3; the script exits without it)"
    assert next_step(classify(path), "t.sh", None, path, {}, BatchCommand("repo", "out")) == (
        "primus-migrate batch repo -o out --assume-exists '/data/my ckpt'")


REPO_ROOT = Path(__file__).resolve().parent.parent
WALKTHROUGH_EXTRA = ("scripts/nvidia/train_gpt3_distributed.sh", "scripts/bad/entry_unknown.sh",
                     "scripts/deepspeed/train_gpt_megatron_deepspeed.sh", "scripts/rocm/train_llama2.sh")


def test_the_readme_walkthrough_is_what_batch_writes(tmp_path):
    """README's "Converting a real repository": the same folder gives the quoted report and JSON row."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    shutil.copytree(REPO_ROOT / "fixtures/batch_repo", tmp_path / "my-repo")
    (tmp_path / "my-repo/more").mkdir()
    for rel in WALKTHROUGH_EXTRA:
        shutil.copy(REPO_ROOT / "fixtures" / rel, tmp_path / "my-repo/more")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
           "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "migrate", "batch", "my-repo", "-o", "configs"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### Converting a real repository"):]
    blocks = section.split("```")
    console, report_md, row_json = blocks[1], blocks[3], blocks[5].removeprefix("json")
    for line in console.splitlines():
        if line.startswith(("static parity", "by category")):
            assert line in proc.stdout
    written = (tmp_path / "configs/batch_report.md").read_text()
    for line in report_md.strip().splitlines():
        assert line in written
    row = json.loads(row_json)
    rows = {r["script"]: r for r in json.loads((tmp_path / "configs/batch_report.json").read_text())["scripts"]}
    assert {k: rows[row["script"]][k] for k in row} == row


def test_deepspeed_options_are_a_deepspeed_run_not_an_unknown_option(tmp_path):
    """`--deepspeed` and `--deepspeed_config` come from DeepSpeed itself (deepspeed.add_config_arguments),
    never from a Megatron-LM option table: the row says it is a DeepSpeed run."""
    import json

    from migrate.cli import main

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ds.sh").write_text(
        "#!/bin/bash\ndeepspeed pretrain_gpt.py --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
        "--deepspeed --deepspeed_config ds.json --seq-length 128\n")
    (repo / "fork.sh").write_text("#!/bin/bash\ntorchrun pretrain_gpt.py --num-layers 2 --my-deepspeed-knob 1\n")
    out = tmp_path / "out"
    assert main(["batch", str(repo), "-o", str(out), "--jobs", "1", "--json"]) == 2
    rows = {s["script"]: s for s in json.loads((out / "batch_report.json").read_text())["scripts"]}
    assert rows["ds.sh"]["category"] == "deepspeed-run" and "Megatron-DeepSpeed run" in rows["ds.sh"]["reason"]
    assert rows["ds.sh"]["next_step"] == "primus-migrate batch DIR -o OUT --exclude 'ds.sh'"
    assert rows["fork.sh"]["category"] == "unknown-option"


def test_a_template_script_says_which_placeholders_to_fill(tmp_path):
    """`CHECKPOINT_PATH=<Specify path>` is a redirection bash cannot parse: the row names the placeholder."""
    import json

    from migrate.cli import main

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "t.sh").write_text("#!/bin/bash\n\nCKPT=<Specify path>\ntorchrun pretrain_gpt.py --save $CKPT\n")
    # quoted, the placeholder reaches Megatron's parser as words
    (repo / "q.sh").write_text('#!/bin/bash\nARGS="--num-layers 2\n  --save <PATH TO CHECKPOINTS DIRECTORY>"\n'
                               "torchrun pretrain_gpt.py $ARGS\n")
    out = tmp_path / "out"
    assert main(["batch", str(repo), "-o", str(out), "--jobs", "1", "--json"]) == 2
    rows = {r["script"]: r for r in json.loads((out / "batch_report.json").read_text())["scripts"]}
    row = rows["t.sh"]
    assert row["category"] == "shell-parse-error" and row["location"].startswith("t.sh:3")
    assert "line 3 is a template line with unfilled placeholders <Specify path>: fill them in" in row["reason"]
    assert "line 3 is a template line with unfilled placeholders <PATH TO CHECKPOINTS DIRECTORY>" in (
        rows["q.sh"]["reason"]), rows["q.sh"]
