"""`batch_report.json` and `batch_report.md`: what happened to every script and variant.

Both are pure functions of the results (sorted, no timestamps, no machine
paths), so an unchanged repository gives byte-identical reports.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Sequence

from migrate.batch.categories import BY_CODE
from migrate.batch.categories import summary as category_summary
from migrate.batch.results import STATUS_TEXT, STATUSES, ScriptResult
from migrate.batch.tree import Tree
from migrate.megatron.schema_choice import DEFAULT_LEGACY_SCHEMA

REPORT_VERSION = 1
TOP_NEXT_STEPS = 5
JSON_NAME = "batch_report.json"
MARKDOWN_NAME = "batch_report.md"


def counts(results: Sequence[ScriptResult]) -> dict[str, dict[str, int]]:
    scripts = Counter(r.status for r in results)
    variants = Counter(v.status for r in results for v in r.variants)
    parity = Counter(
        "ok" if v.parity_ok else "failed" for r in results for v in r.variants if v.parity_ok is not None
    )
    return {
        "scripts": {s: scripts.get(s, 0) for s in STATUSES} | {"total": len(results)},
        "variants": {s: variants.get(s, 0) for s in STATUSES if s != "skipped"} | {
            "skipped": variants.get("skipped", 0), "total": sum(variants.values())},
        "parity": {"ok": parity.get("ok", 0), "failed": parity.get("failed", 0)},
    }


def knob_mappings(results: Sequence[ScriptResult]) -> list[dict[str, Any]]:
    """knob -> keys, merged over the repository: which scripts show that mapping."""
    table: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for result in results:
        for knob, keys in result.knob_keys.items():
            table.setdefault((knob, tuple(keys)), []).append(result.script)
    return [{"knob": knob, "keys": list(keys), "scripts": sorted(scripts)}
            for (knob, keys), scripts in sorted(table.items())]


def build_json(results: Sequence[ScriptResult], tree: Tree, target: str, source: str) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "source": source,
        "target": target,
        "summary": counts(results),
        "categories": category_summary(results),
        "scripts": [r.to_json() for r in sorted(results, key=lambda r: r.script)],
        "knob_mappings": knob_mappings(results),
        "models": [{"path": path, "used_by": users} for path, users in tree.model_users.items()],
    }


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>") if text not in (None, "") else ""


def _parity(ok: bool | None, differences: list) -> str:
    if ok is None:
        return "-"
    if ok:
        return "ok"
    shown = ", ".join(str(d[0]) for d in differences[:3]) + (" ..." if len(differences) > 3 else "")
    return f"FAILED ({len(differences)}: {shown})"


def render_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        "# Batch conversion report",
        "",
        f"Source: `{report['source']}` · target: `{report['target']}`",
        "",
        *_category_lines(report.get("categories") or []),
        "## Summary",
        "",
        "| | converted | converted with warnings | rejected | skipped | total |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in ("scripts", "variants"):
        c = s[kind]
        lines.append(f"| {kind} | {c['converted']} | {c['converted_with_warnings']} | {c['rejected']} "
                     f"| {c['skipped']} | {c['total']} |")
    lines += ["", f"Static parity (re-checked on the written tree): {s['parity']['ok']} ok, "
                  f"{s['parity']['failed']} failed.", ""]

    lines += _script_lines(report)
    lines += _rejected_lines(report)
    lines += _appendix_lines(report)
    return "\n".join(lines) + "\n"


def _script_lines(report: dict[str, Any]) -> list[str]:
    """One row per script and variant, with what to know about it."""
    lines = ["## Scripts and variants", "",
             "Each experiment's launch script sits beside it (`exp/<script>/<variant>.run.sh`: "
             "`PRIMUS_PATH=/path/to/Primus bash exp/<script>/<variant>.run.sh`); "
             f"`primus-migrate resolve exp/<script>/<variant>.yaml --target {report['target']}` shows "
             "what it trains, and `train` runs it on the bundled runtime.", "",
              "| script | variant | status | parity | experiment | model | notes |",
              "|---|---|---|---|---|---|---|"]
    for script in report["scripts"]:
        if not script["variants"]:
            lines.append(f"| `{script['script']}` | | {STATUS_TEXT[script['status']]} | - | | | "
                         f"{_cell(_located(script))} |")
            continue
        for v in script["variants"]:
            notes = [f"same run as {v['same_as']}"] if v.get("same_as") else []
            if v["status"] in ("rejected", "skipped"):
                notes.append(_located(v))
            notes += v["unmapped"] and [f"unmapped: {', '.join(v['unmapped'])}"] or []
            notes += [f"{len(v['warnings'])} warning(s)"] if v["warnings"] else []
            if v.get("legacy_schema") not in (None, DEFAULT_LEGACY_SCHEMA):
                notes.append(f"read with the {v['legacy_schema']} option table")
            label = f"{v['label']} (default)" if v["is_default"] and v["label"] != "default" else v["label"]
            lines.append(
                f"| `{script['script']}` | {_cell(label)} | {STATUS_TEXT[v['status']]} "
                f"| {_parity(v['parity_ok'], v['parity_differences'])} "
                f"| {_cell(v['experiment'] and '`' + v['experiment'] + '`')} "
                f"| {_cell(v['model'] and '`' + v['model'] + '`')} | {_cell('; '.join(notes))} |")
        for note in script["notes"]:
            lines.append(f"| `{script['script']}` | | note | | | | {_cell(note)} |")

    return lines


def _rejected_lines(report: dict[str, Any]) -> list[str]:
    """Each rejection with its category, location, reason and next step."""
    lines: list[str] = []
    problems = [(sc, v) for sc in report["scripts"] for v in sc["variants"] if v["status"] == "rejected"]
    problems += [(sc, None) for sc in report["scripts"] if sc["status"] == "rejected" and not sc["variants"]]
    if problems:
        lines += ["", "## Rejected", "", "| script | variant | category | location | reason | next step |",
                  "|---|---|---|---|---|---|"]
        for sc, v in sorted(problems, key=lambda p: (p[0]["script"], p[1]["label"] if p[1] else "")):
            item = v or sc
            step = item.get("next_step")
            lines.append(f"| `{sc['script']}` | {_cell(v and v['label'])} | {_cell(item.get('category'))} "
                         f"| {_cell(item['location'])} | {_cell(item['reason'])} | {_cell(step and f'`{step}`')} |")

    return lines


def _appendix_lines(report: dict[str, Any]) -> list[str]:
    """Warnings, the knob -> key mappings and the shared model files."""
    lines: list[str] = []
    warned = [(sc, v) for sc in report["scripts"] for v in sc["variants"] if v["warnings"] or v["unmapped"]]
    if warned:
        lines += ["", "## Warnings", ""]
        for sc, v in warned:
            lines.append(f"- `{sc['script']}` {v['label']}:")
            lines += [f"  - unmapped flag: `{u}`" for u in v["unmapped"]]
            lines += [f"  - {w.splitlines()[0]}" for w in v["warnings"]]

    lines += ["", "## Knob → key mappings", ""]
    if report["knob_mappings"]:
        lines += ["Traced: the knob's default is the value of the flag that sets the key; measured: "
                  "two converted variants differing in that knob only differ in these keys.", "",
                  "| knob | keys | scripts |", "|---|---|---|"]
        for row in report["knob_mappings"]:
            lines.append(f"| `{row['knob']}` | {_cell(', '.join(row['keys']) or '(none)')} "
                         f"| {_cell(', '.join(row['scripts']))} |")
    else:
        lines.append("No script had variants to compare.")

    lines += ["", "## Model files", ""]
    if report["models"]:
        lines += ["| model file | experiments using it |", "|---|---|"]
        for row in report["models"]:
            lines.append(f"| `{row['path']}` | {len(row['used_by'])}: {_cell(', '.join(row['used_by']))} |")
    else:
        lines.append("Every experiment references a Primus preset as is.")
    return lines


def _category_lines(categories: list[dict[str, Any]]) -> list[str]:
    """What stopped the rest, by category, most rows first; then one command per category."""
    if not categories:
        return ["Nothing was rejected or skipped.", ""]
    lines = ["## Rejected and skipped, by category", "",
             "| category | status | rows | scripts | meaning |", "|---|---|---:|---:|---|"]
    for row in categories:
        lines.append(f"| `{row['category']}` | {row['status']} | {row['rows']} | {len(row['scripts'])} "
                     f"| {_cell(row['title'])} |")
    lines += ["", "## Next steps", "",
              "Rejections first, most rows first; each row's own command is in `batch_report.json` (`next_step`).", ""]
    for i, row in enumerate(categories[:TOP_NEXT_STEPS], 1):
        example = row["scripts"][0] + (f" and {len(row['scripts']) - 1} more" if len(row["scripts"]) > 1 else "")
        step = f"`{row['next_step']}`" if BY_CODE[row["category"]].command else row["next_step"]
        lines.append(f"{i}. `{row['category']}` ({example}): {step}" + (f" ({row['note']})" if row["note"] else ""))
    return lines + [""]


def _located(item: dict[str, Any]) -> str:
    reason = item.get("reason") or ""
    return f"{item['location']}: {reason}" if item.get("location") else reason
