"""The migration report: every flag, knob and variable of the script, and where it went.

Nothing is dropped silently: each item is listed with its destination (a YAML
key, "preset already equal", run.sh / env.sh) or with why Primus has no
equivalent. `report.json` is the machine-readable form; `report.md` the same
content for people.
"""

from __future__ import annotations

import json
from typing import Any


# translate()'s warnings for a flag it dropped: the report's unmapped list says the same, once
UNMAPPED_CODES = frozenset({"megatron-option-removed", "megatron-value-unsupported"})
UNMAPPED_SHORT = "no Primus equivalent (see above)"


def repeats_unmapped(code: str, message: str, unmapped: list[dict[str, Any]]) -> bool:
    """True when a diagnostic only restates an unmapped flag's reason (`--x True has no equivalent ...`)."""
    return code in UNMAPPED_CODES and any(message.startswith(u["flag"] + " ") for u in unmapped)


def render_markdown(report: dict[str, Any]) -> str:
    r = report
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
    defaults = [o for o in r["overrides"] if o["origin"] == "Megatron default"]
    if defaults:
        lines += ["## Keys the script never set but the Primus presets change", "",
                  "| key | Megatron value (kept) | preset value |", "|---|---|---|"]
        for o in defaults:
            lines.append(f"| `{o['key']}` | {_cell(o['value'])} | {_cell(o.get('preset_value'))} |")
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
    return "\n".join(lines).rstrip() + "\n"


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
