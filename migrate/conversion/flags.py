"""Where every flag of the script went: a Primus key, the preset, the model file, or no equivalent.

Nothing is dropped silently: each flag the script set is listed with its destination or with
why the target has none (those are also the `unmapped` list, exit code 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.diagnostics import Diagnostics, Origin
from migrate.megatron.args import MegatronArgs
from migrate.megatron.schema import Schema
from migrate.primus.emit.emitter import EmitResult
from migrate.primus.emit.report import jsonable
from migrate.primus.profiles import Profile

if TYPE_CHECKING:
    from migrate.shell.plan import LaunchPlan


class ShortOrigins:
    """`train_llama3.sh:74` rather than the path the user typed, for lines of the script itself.

    Memoises resolved paths within one conversion (thousands of origins, a few files)."""

    def __init__(self, script: Path) -> None:
        self.script = script
        self.real: dict[str, Path] = {}

    def __call__(self, origin: Origin | None) -> Origin | None:
        if origin is None:
            return None
        try:
            same = self._resolved(str(origin.file)) == self._resolved(str(self.script))
        except OSError:
            same = False
        return Origin(self.script.name, origin.line, origin.col) if same else origin

    def _resolved(self, file: str) -> Path:
        if file not in self.real:
            self.real[file] = Path(file).resolve()
        return self.real[file]


@dataclass
class FlagTable:
    flags: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[dict[str, str]] = field(default_factory=list)


def _translate_note(diags: Diagnostics, origin: Origin | None) -> str | None:
    """What translate() said about the flag at `origin` (removed / unsupported value)."""
    if origin is None:
        return None
    for item in diags:
        if item.origin == origin and item.code in ("megatron-option-removed", "megatron-value-unsupported"):
            return item.message
    return None


def _flag_of(schema: Schema, dest: str) -> str:
    specs = schema.by_dest.get(dest) or []
    for spec in specs:
        longs = [o for o in spec.option_strings if o.startswith("--")]
        if longs:
            return longs[0]
    return f"--{dest.replace('_', '-')}"


def target_dests(legacy_dests: set[str], legacy: MegatronArgs, translated: MegatronArgs) -> set[str]:
    """The target's dests the legacy dests became (same name, or the one translate() wrote from the flag)."""
    by_origin = {o: d for d, o in translated.explicit.items() if o is not None}
    out = set()
    for dest in legacy_dests:
        if dest in translated.explicit:
            out.add(dest)
        else:
            origin = legacy.explicit.get(dest)
            if origin is not None and origin in by_origin:
                out.add(by_origin[origin])
    return out


def flag_table(plan: LaunchPlan, legacy_schema: Schema, legacy: MegatronArgs, translated: MegatronArgs,
               dests: set[str], result: EmitResult, profile: Profile, diags: Diagnostics,
               short: ShortOrigins) -> FlagTable:
    """One entry per flag the script set, in script order, with its destination."""
    from migrate.megatron.argv import written_flags

    table = FlagTable()
    translated_by_origin: dict[Any, str] = {}
    for dest, origin in translated.explicit.items():
        if origin is not None:
            translated_by_origin.setdefault(origin, dest)
    as_written = written_flags(legacy_schema, plan.argv)
    for dest, origin in sorted(legacy.explicit.items(), key=lambda kv: (kv[1] or Origin(""), kv[0])):
        flag, words = as_written.get(dest, (_flag_of(legacy_schema, dest), None))
        target_dest = dest if dest in translated.explicit else translated_by_origin.get(origin)
        shown = short(origin)
        entry: dict[str, Any] = {"flag": flag, "dest": dest, "value": jsonable(legacy.args.get(dest)),
                                 "origin": str(shown) if shown else "command line"}
        if words is not None:  # what the script wrote after the flag ("" for a switch such as --disable-bias-linear)
            entry["written"] = " ".join(words)
        why = _unmapped_why(dest, target_dest, translated, dests, result, profile,
                            _translate_note(diags, origin))
        if why is not None:
            entry["destination"] = why
            table.unmapped.append({"flag": flag, "dest": dest, "origin": entry["origin"], "why": why})
        else:
            entry["destination"] = _destination(target_dest, dests, result, profile,
                                                _translate_note(diags, origin))
        if target_dest and target_dest != dest:
            entry["renamed_to"] = target_dest
        table.flags.append(entry)
    return table


def _unmapped_why(dest: str, target_dest: str | None, translated: MegatronArgs, dests: set[str],
                  result: EmitResult, profile: Profile, note: str | None) -> str | None:
    """Why the flag has no Primus equivalent, or None when it has one (or is not needed)."""
    # translate() lists the flags the target cannot honour (`dropped`)
    if dest in translated.dropped:
        return (f"no Primus equivalent: {note or 'the option does not exist in Megatron-LM ' + profile.megatron_schema}"
                f" (Megatron-LM {profile.megatron_schema} is what {profile.name} runs)")
    if target_dest is not None and target_dest in dests and target_dest in result.unsettable:
        return f"no Primus equivalent: {result.unsettable[target_dest]}"
    return None


def _destination(target_dest: str | None, dests: set[str], result: EmitResult, profile: Profile,
                 note: str | None) -> str:
    if target_dest is None or target_dest not in dests:
        return f"not needed at {profile.name}: {note or 'the legacy run did not depend on it'}"
    if target_dest in {o.key for o in result.overrides}:
        return f"{result.experiment_path}: overrides.{target_dest}"
    if target_dest in result.model_values:
        return f"{result.model_path}: {target_dest}"
    return f"preset already equal ({result.preset.name})"
