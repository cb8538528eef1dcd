"""A small stand-in for the conversion pipeline, for testing the batch logic alone.

Fake scripts are shell files whose comments drive the fake:
    # knob NAME DEFAULT [LITERAL ...]   a knob with its default and compared literals ("-" = no default)
    # when NAME=VALUE knob OTHER DEFAULT LITERAL ...   extra comparisons seen only under that value
    # error LINE:COL message             evaluation fails like a parse error
    # nolaunch                           evaluation finds no training launch
    # crash                              a bug: a non-MigrateError exception
    # die                                the worker process exits outright
    # warn message                       a conversion warning
    # export NAME=VALUE                  the script exports it (the emitter's env.sh)
    # parity-breaks                      the re-check on the final tree finds a difference
The fake model YAML depends only on MODEL_SIZE (layers) and inherits a preset,
so two scripts with the same size share it; the experiment carries MBS and
every other knob's value as an override of its own.
`recheck` really reads the placed files: it looks the `model:` name up beside
the experiment (where the batch stages the installed copy), so a wrong rewrite
or placement fails parity.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from migrate.diagnostics import Diagnostic, Diagnostics, MigrateError, Origin
from migrate.primus.emit.runscript import run_sh
from migrate.shell.plan import Knob

LAYERS = {"8": 32, "70": 80, "405": 126}


@dataclass
class FakePlan:
    """The attributes of a LaunchPlan the batch reads."""

    knobs: list[Knob]
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    argv: list = field(default_factory=list)  # Tokens, as LaunchPlan.argv


@dataclass
class FakeParity:
    ok: bool
    differences: list = field(default_factory=list)


@dataclass
class FakeConversion:
    plan: FakePlan
    expected: dict[str, Any]
    files: dict[str, str]
    experiment_path: str
    model_path: str | None
    diagnostics: Diagnostics
    unmapped: list[str]
    parity: FakeParity
    report: dict = field(default_factory=dict)
    hint: str | None = None


def _directives(script: str) -> list[list[str]]:
    out = []
    for line in Path(script).read_text().splitlines():
        m = re.match(r"^#\s+(knob|when|error|nolaunch|crash|die|warn|parity-breaks|unmapped|export)\b(.*)$", line)
        if m:
            out.append([m.group(1), *m.group(2).split()])
    return out


class FakeBackend:
    calls: list[tuple[str, dict]]

    def __init__(self) -> None:
        self.calls = []

    def warm_up(self, settings) -> None:
        pass

    def dest_of(self, flag: str, settings) -> str | None:
        return flag.lstrip("-").replace("-", "_")

    def evaluate(self, script: str, env: dict[str, str], settings) -> FakePlan:
        self.calls.append((script, dict(env)))
        knobs: dict[str, Knob] = {}
        for d in _directives(script):
            kind, rest = d[0], d[1:]
            if kind == "error":
                line, col = rest[0].split(":")
                raise MigrateError(" ".join(rest[1:]), origin=Origin(script, int(line), int(col)))
            if kind == "nolaunch":
                raise MigrateError("no training launch found (commands seen: python, wget)")
            if kind == "crash":
                raise ZeroDivisionError("fake bug")
            if kind == "die":
                os._exit(3)
            if kind == "when":
                name, value = rest[0].split("=")
                if env.get(name, knobs[name].default if name in knobs else None) != value:
                    continue
                rest = rest[2:]
                kind = "knob"
            if kind == "knob":
                name, default, *literals = rest
                default = None if default == "-" else default
                if name in knobs:
                    knobs[name].compared_with.extend(v for v in literals if v not in knobs[name].compared_with)
                else:
                    knobs[name] = Knob(name, default, env.get(name, default), "env" if name in env else "default",
                                       list(literals), Origin(script, 3))
        return FakePlan(list(knobs.values()))

    def convert(self, script: str, env: dict[str, str], name: str, settings) -> FakeConversion:
        plan = self.evaluate(script, env, settings)
        values = {k.name: k.value for k in plan.knobs}
        size = values.get("MODEL_SIZE") or "8"
        mbs = int(values.get("MBS") or 1)
        fp8 = values.get("TE_FP8") == "1"
        directives = _directives(script)
        diags = Diagnostics()
        for d in directives:
            if d[0] == "warn":
                diags.add(Diagnostic("warning", "fake", " ".join(d[1:]), Origin(os.path.abspath(script), 7)))
        unmapped = [" ".join(d[1:]) for d in directives if d[0] == "unmapped"]
        model_name = f"{name}_model.yaml"
        # like the emitter: a header naming this conversion and per-key provenance comments
        model = (f"# {name}: llama3_{size}B with 2 keys changed\nextends:\n  - llama3_{size}B.yaml\n\n"
                 f"num_layers: {LAYERS.get(size, 16)}   # {script}:5\n"
                 f"fp8: {'true' if fp8 else 'false'}   # {'Megatron default' if not fp8 else script}\n")
        exp = (f"work_group: ${{PRIMUS_TEAM:amd}}\nexp_name: ${{PRIMUS_EXP_NAME:{name}}}\nmodules:\n"
               f"  pre_trainer:\n    framework: megatron\n    config: pre_trainer.yaml\n"
               f"    model: {model_name}   # from {script}\n    overrides:\n      micro_batch_size: {mbs}\n")
        expected = {"num_layers": LAYERS.get(size, 16), "micro_batch_size": mbs, "fp8": fp8}
        # any other knob with a value lands in an override of its own (`knob_pp: "2"`)
        others = {f"knob_{k.lower()}": v for k, v in sorted(values.items())
                  if k not in ("MODEL_SIZE", "MBS", "TE_FP8") and v is not None}
        expected.update(others)
        exp += "".join(f"      {k}: {json.dumps(v)}\n" for k, v in others.items())
        if any(d[0] == "parity-breaks" for d in directives):
            expected["train_iters"] = 10
        exports = [" ".join(d[1:]) for d in directives if d[0] == "export"]
        # the emitter's own run.sh for these files (the batch moves its paths into the tree)
        from migrate.primus import get_profile

        run = run_sh(settings.target, "", get_profile(settings.target).rules.run, script, f"{name}-pretrain.yaml",
                     f"models/megatron/{model_name}", {"NNODES": "1"}, bool(exports))
        files = {f"{name}-pretrain.yaml": exp, f"models/megatron/{model_name}": model, "run.sh": run,
                 "report.json": "{}\n"}
        if exports:
            files["env.sh"] = "".join(f"export {e}\n" for e in exports)
        return FakeConversion(plan, expected, files, f"{name}-pretrain.yaml", f"models/megatron/{model_name}", diags,
                              unmapped, FakeParity(True))

    def recheck(self, experiment: Path, expected: Mapping[str, Any], settings):
        exp = yaml.safe_load(experiment.read_text())
        pre = exp["modules"]["pre_trainer"]
        model = yaml.safe_load((experiment.parent / pre["model"]).read_text())
        resolved = {"num_layers": model["num_layers"], "fp8": model["fp8"], **pre["overrides"]}
        diffs = [[k, expected.get(k), resolved.get(k)] for k in sorted(set(expected) | set(resolved))
                 if expected.get(k) != resolved.get(k)]
        return not diffs, diffs


def write_fake_repo(root: Path) -> Path:
    """A repository of fake scripts: nested folders, a fork, a broken one, a data-prep helper."""
    files = {
        "llama/train_llama3.sh": "#!/bin/bash\n# knob MODEL_SIZE 8 8 70\n# knob MBS 2\n# knob TE_FP8 0 1\n"
                                 "# export NCCL_IB_DISABLE=1\n"
                                 "torchrun pretrain_gpt.py $ARGS\n",
        "forks/team_a/train_llama3_fork.sh": "#!/bin/bash\n# knob MODEL_SIZE 8 8 70\n# knob MBS 4\n"
                                             "# warn fork sets an odd flag\ntorchrun pretrain_gpt.py\n",
        "broken/train_broken.sh": "#!/bin/bash\n# error 4:3 'if' is never closed\ntorchrun pretrain_gpt.py\n",
        "data/prepare_data.sh": "#!/bin/bash\npython tools/preprocess_data.py --input x.json\n",
        "tools/common.sh": "#!/bin/bash\n# nolaunch\nrun() { torchrun \"$@\"; }\n",
        "notes.txt": "torchrun pretrain_gpt.py\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
