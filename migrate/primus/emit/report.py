"""The migration report: every flag, knob and variable of the script, and where it went.

Nothing is dropped silently: each item is listed with its destination (a YAML
key, "preset already equal", run.sh / env.sh) or with why Primus has no
equivalent. `report.json` is the machine-readable form; `report.md` the same
content for people.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate.primus.emit.emitter import EmitResult
    from migrate.primus.profiles import Profile


# translate()'s warnings for a flag it dropped: the report's unmapped list says the same, once
UNMAPPED_CODES = frozenset({"megatron-option-removed", "megatron-value-unsupported"})
UNMAPPED_SHORT = "no Primus equivalent (see above)"


def repeats_unmapped(code: str, message: str, unmapped: list[dict[str, Any]]) -> bool:
    """True when a diagnostic only restates an unmapped flag's reason (`--x True has no equivalent ...`)."""
    return code in UNMAPPED_CODES and any(message.startswith(u["flag"] + " ") for u in unmapped)


def render_markdown(report: dict[str, Any]) -> str:
    lines = _summary(report) + _model_and_flags(report) + _other_settings(report)
    return "\n".join(lines).rstrip() + "\n"


def _summary(r: dict[str, Any]) -> list[str]:
    """The header list and the sections about differences and flags Primus cannot take."""
    lines = [
        f"# Migration report: {r['script']} -> {r['target']}",
        "",
        f"- target: {r['target']} (Primus {r.get('primus_release') or '?'}, Megatron-LM {r['megatron_schema']})",
        f"- experiment: `{r['experiment']}`",
        f"- model: `{r['model_ref']}`" + (f" (new file `{r['model_file']}` inheriting `{r['preset']}`)"
                                         if r.get("model_file") else " (preset used as is)"),
        f"- static parity: {'ok' if r['parity']['ok'] else 'FAILED'}"
        + (f" ({len(r['parity']['differences'])} difference(s))" if not r['parity']['ok'] else ""),
        f"- run: `{r['run_command']}`",
    ]
    entry = r.get("entry") or {}
    if entry:
        lines.append(f"- entry: `{entry['program']}` builds {entry['builds']}"
                     + (f" (accepted with --entry-as {entry['accepted_as']}: the script's program is unknown)"
                        if entry.get("accepted_as") else ""))
    lines.append("")
    if r.get("accepted_differences"):
        lines += ["## Accepted differences", "",
                  "Static parity compares every argument; these differences were accepted on request:", ""]
        lines += [f"- `{e['dest']}`: {_cell(e['legacy'])} -> {_cell(e['primus'])}: {e['why']}"
                  for e in r["accepted_differences"]]
        lines.append("")
    if r.get("documented_differences"):
        lines += ["## Documented differences", "",
                  "Where the Primus release itself decides and no key of it can follow the legacy run:", ""]
        lines += [f"- `{e['dest']}`: {e['why']}" for e in r["documented_differences"]]
        lines.append("")
    if r.get("runtime_values"):
        lines += ["## Run-time values", "",
                  "The script computes these when it runs; they were evaluated with the assumed value shown:", ""]
        lines += [f"- `{v['command']}` ({v['origin']}): assumed `{v['assumed']}`; {v['written_as']}"
                  for v in r["runtime_values"]]
        lines.append("")
    if r.get("unmapped"):
        lines += ["## Flags with no Primus equivalent", ""]
        lines += [f"- `{u['flag']}` ({u['origin']}): {u['why']}" for u in r["unmapped"]]
        lines.append("")
    return lines


def _model_and_flags(r: dict[str, Any]) -> list[str]:
    """The preset chosen and the table of every script flag."""
    lines: list[str] = []
    match = r["preset_match"]
    lines += ["## Model", "",
              f"Closest preset: `{r['preset']}`"
              + (" (architecture identical)" if match["exact"] else
                 f" (differs in: {', '.join(match['structure_diff'])})"), ""]
    if match.get("model_line"):
        lines += [f"Model line of the run: {match['model_line']} (its tokenizer, attention or rotary base); "
                  f"presets of that line are preferred over closer presets of another.", ""]
    # the preset as loaded, before trainer rewrites: at 26.5 a tokenizer_type the preset leaves unset
    # is filled by the trainer's args_defaults and may need no override
    written = {o["key"] for o in r["overrides"]} | set(r.get("model_keys") or {})
    tokenizer_written = [k for k in match["tokenizer_diff"] if k in written]
    if tokenizer_written:
        lines += [f"Tokenizer keys that differ from the preset (written as overrides): "
                  f"{', '.join(tokenizer_written)}", ""]
    lines += ["## Script flags", "", "| flag | as written | origin | destination |", "|---|---|---|---|"]
    unmapped = {(u["flag"], u["origin"]) for u in r.get("unmapped") or []}
    for f in r["flags"]:
        where = UNMAPPED_SHORT if (f["flag"], f["origin"]) in unmapped else f["destination"]
        lines.append(f"| `{f['flag']}` | {_written(f)} | {f['origin']} | {_cell(where)} |")
    lines.append("")
    return lines


def _other_settings(r: dict[str, Any]) -> list[str]:
    """Keys the presets change, knobs, environment, notes, parity differences, diagnostics."""
    lines: list[str] = []
    defaults = [o for o in r["overrides"] if o["origin"] == "Megatron default"]
    if defaults:
        lines += ["## Keys the script never set but the Primus presets change", "",
                  "| key | Megatron value (kept) | preset value | affects this run |", "|---|---|---|---|"]
        for o in defaults:
            inert = o.get("inert")
            effect = f"no: {inert['reason']}" if inert else "yes (or not known to be inert)"
            lines.append(f"| `{o['key']}` | {_cell(o['value'])} | {_cell(o.get('preset_value'))} | {_cell(effect)} |")
        lines.append("")
    if r.get("knobs"):
        lines += ["## Knobs", "", "| knob | value | default | source | in the YAML |", "|---|---|---|---|---|"]
        for k in r["knobs"]:
            lines.append(f"| `{k['name']}` | {_cell(k['value'])} | {_cell(k['default'])} | {k['source']} | "
                         f"{_cell(k.get('kept_as') or '-')} |")
        lines.append("")
    if r.get("environment"):
        lines += ["## Environment and launcher", "", "| variable | value | origin | destination | note |",
                  "|---|---|---|---|---|"]
        for e in r["environment"]:
            lines.append(f"| `{e['name']}` | {_cell(e['value'])} | {e['origin'] or ''} | {e['destination']} | "
                         f"{_cell(e['note'])} |")
        lines.append("")
    if r.get("guidance"):
        lines += ["## Notes", ""] + [f"- {g}" for g in r["guidance"]] + [""]
    if not r["parity"]["ok"]:
        lines += ["## Static parity differences", "", "| dest | legacy | Primus |", "|---|---|---|"]
        for d in r["parity"]["differences"]:
            lines.append(f"| `{d['dest']}` | {_cell(d['expected'])} | "
                         f"{'<absent>' if d.get('absent') else _cell(d['resolved'])} |")
        lines.append("")
    shown = [d for d in r.get("diagnostics") or []
             if not repeats_unmapped(d.get("code", ""), d["message"], r.get("unmapped") or [])]
    if shown:
        lines += ["## Diagnostics", ""]
        for d in shown:
            where = f"{d['origin']}: " if d.get("origin") else ""
            lines.append(f"- {where}{d['severity']}: {d['message']}")
        lines.append("")
    return lines


def _written(flag: dict[str, Any]) -> str:
    """The words after the flag as the script wrote them; a switch (`--disable-bias-linear`) has none."""
    if "written" not in flag:
        return _cell(flag["value"])
    return _cell(flag["written"]) if flag["written"] != "" else "(switch)"


def _cell(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value)
    return text.replace("|", "\\|").replace("\n", " ") if text != "" else '""'


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


def experiment_header(name: str, script_name: str, variant: str, release_name: str, entry_accepted: str | None,
                      null_tokenizer_of: str | None, runtime_in_argv: list[tuple[str, str]]) -> str:
    """The comment block on top of the experiment file: where it came from and how to read it."""
    header = (
        f"{name}: converted by primus-migrate from {script_name}"
        + (f" ({variant})" if variant else "") + f" for {release_name}.\n"
        "Each override says where its value comes from: the script line that set it, or\n"
        "`Megatron default` when the script left it at Megatron's default and the Primus preset differs.\n"
        "What changes the run comes first, by section; settings this run never reads, if any, come last\n"
        "in one block (`primus-migrate explain <this file> KEY` says why a key is here)."
        + (f"\nAccepted: {entry_accepted}." if entry_accepted else "")
        + (f"\nAccepted difference (--accept-null-tokenizer): {release_name} trains mock data with the\n"
           f"NullTokenizer instead of {null_tokenizer_of}; vocab_size keeps the padded vocabulary."
           if null_tokenizer_of else "")
    )
    if runtime_in_argv:
        header += ("\nRun-time values (see report.md): "
                   + ", ".join(f"`{command}` (evaluated as {assumed})" for command, assumed in runtime_in_argv)
                   + ";\nkeys holding them say so; ${PRIMUS_RUN_...:value} ones vary at run time (run.sh).")
    return header


def guidance_lines(release_name: str, profiling: list[str], profiled: bool, tokenizer_model: Any,
                   tokenizer_is_hub_id: bool, preset_tokenizer: Any, documented: bool) -> list[str]:
    """What the user must do or know beyond the files: profiling traces, the tokenizer's files,
    where the release puts the outputs."""
    lines = []
    if profiled or profiling:
        lines.append("Profiling: the legacy --profile* flags are kept as overrides "
                     f"({', '.join(profiling) or 'already equal in the preset'}); Primus writes traces "
                     "under its workspace (exp output folder) instead of --tensorboard-dir when that is unset.")
    tok = tokenizer_model
    if tok and isinstance(tok, str) and tokenizer_is_hub_id:
        lines.append(f"Tokenizer: {tok} is a Hugging Face model id; it is fetched from the Hub at start-up "
                     "(set HF_TOKEN for gated models; HF_HOME decides the cache).")
    elif tok and isinstance(tok, str):
        lines.append(f"Tokenizer: the script points tokenizer_model at the local path {tok} (files it "
                     "prepares or downloads itself; those commands are not part of a Primus config). Make "
                     "the same files available at that path where Primus runs, or replace it with the "
                     "Hugging Face model id they came from; the preset's own tokenizer differs"
                     + (f" ({preset_tokenizer})." if preset_tokenizer else "."))
    if documented:
        lines.append("EXP_ROOT is the Primus experiment folder, <workspace>/<work_group>/<user_name>/<exp_name>; "
                     f"{release_name}'s trainer puts the outputs listed under Documented differences there.")
    return lines


# the hint for a parity failure the legacy run shares (Megatron's own validate_args check)
SAVE_INTERVAL_HINT = ("the legacy run fails the same check: Megatron's validate_args asserts save_interval is not "
                      "None whenever save is set; give the script --save-interval N")


def jsonable(value: Any) -> Any:
    """A value as report.json holds it (tuples as lists, NaN as "nan")."""
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def migration_report(*, script_name: str, profile: Profile, legacy_schema: str, entry: dict[str, Any],
                     result: EmitResult, flags: list[dict[str, Any]], unmapped: list[dict[str, str]],
                     knobs: list[dict[str, Any]], launcher: dict[str, Any], environment: list[dict[str, Any]],
                     guidance: list[str], runtime_values: Any, diagnostics: Any, hint: str | None) -> dict[str, Any]:
    """report.json's content (report.md renders the same); `hint` is said when parity failed."""
    from migrate.primus.emit.runscript import alternative_command, run_command

    report: dict[str, Any] = {
        "script": str(script_name),
        "target": profile.name,
        "primus_release": profile.release,
        "megatron_schema": profile.megatron_schema,
        "legacy_schema": legacy_schema,
        "entry": entry,
        "experiment": result.experiment_path,
        "model_file": result.model_path,
        "model_ref": result.model_ref,
        "preset": result.preset.name,
        "preset_match": {"exact": result.preset.exact, "structure_diff": result.preset.structure_diff,
                         "tokenizer_diff": result.preset.tokenizer_diff, "model_line": result.preset.run_lineage},
        "candidates": [{"preset": m.name, "structure_diff": len(m.structure_diff), "other_line": m.off_lineage}
                       for m in result.ranking[:5]],
        "run_command": run_command(profile.rules.run, result.experiment_path),
        "run_command_alternative": alternative_command(profile.rules.run, result.experiment_path),
        "overrides": [{"key": o.key, "value": jsonable(o.value), "origin": o.origin, "knob": o.knob,
                       "written_as": o.raw, "preset_value": jsonable(result.preset_values.get(o.key)),
                       "inert": {"rule": o.inert.rule, "reason": o.inert.reason} if o.inert else None}
                      for o in result.overrides],
        "model_keys": {k: jsonable(v) for k, v in result.model_values.items()},
        "flags": flags,
        "unmapped": unmapped,
        "knobs": knobs,
        "launcher": launcher,
        "environment": environment,
        "guidance": guidance,
        "parity": result.parity.to_json(),
        "accepted_differences": list(result.parity.exceptions) if result.parity.ok else [],
        "documented_differences": list(result.parity.documented),
        "runtime_values": runtime_values,
        "diagnostics": diagnostics,
    }
    if not result.parity.ok and hint:
        report["parity"]["hint"] = hint
    return report
