"""--keep-knobs: which knobs of the script map 1:1 to a Primus key (written as `${KNOB:value}`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from migrate.diagnostics import Diagnostics, MigrateError
from migrate.megatron.schema import Schema

if TYPE_CHECKING:
    from migrate.primus.interpolate import Interpolation
    from migrate.shell.plan import LaunchPlan


def knob_placeholders(script: Path, env: Mapping[str, str], args: Sequence[str], interpolation: Interpolation,
                      gpus_per_node: int,
                      plan: LaunchPlan, translated_args: Mapping[str, Any], target_schema: Schema,
                      legacy_schema: Schema, assume_exists: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """dest -> (knob, text) for the knobs that map 1:1 to a key (see migrate.primus.emit.knobs).

    Found by evaluating the script again with each numeric knob at two other values.
    """
    from migrate.megatron import parse_argv, translate
    from migrate.primus.emit.knobs import apply_spans, classify, sentinels
    from migrate.shell import EvalOptions, evaluate_script

    out: dict[str, tuple[str, str]] = {}
    spans: dict[str, list] = {}
    words = [t.value for t in plan.argv]
    for knob in plan.knobs:
        value = knob.value
        if value is None or not re.fullmatch(r"-?\d+", value):
            continue
        if not any(value in word for word in words):
            continue  # a 1:1 knob's text is in the argv; this one only steers the script
        runs: list[tuple[str, dict[str, Any]]] = []
        for sentinel in sentinels(value):
            if runs and classify(knob.name, value, translated_args, runs, interpolation) is None:
                break  # one re-evaluation already shows it is not 1:1
            env2, args2 = dict(env), list(args)
            if knob.source == "arg":
                args2.append(f"{knob.name}={sentinel}")
            else:
                env2[knob.name] = sentinel
            try:
                plan2 = evaluate_script(script, env2, args2, EvalOptions(gpus_per_node=gpus_per_node,
                                                                            assume_exists=assume_exists))
                diags = Diagnostics()
                runs.append((sentinel, translate(parse_argv(legacy_schema, plan2.argv, diags), target_schema,
                                                 diags).args))
            except MigrateError:
                break
        if len(runs) == 2:
            mapping = classify(knob.name, value, translated_args, runs, interpolation)
            for dest, mapped in (mapping or {}).items():
                if isinstance(mapped, tuple):
                    spans.setdefault(dest, []).append((knob.name, mapped))
                elif dest not in out:
                    out[dest] = (knob.name, mapped)
    for dest, found in spans.items():
        text = apply_spans(translated_args[dest], [span for _, span in found])
        if text is not None and dest not in out:
            out[dest] = (", ".join(name for name, _ in found), text)
    return out
