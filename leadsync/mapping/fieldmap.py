"""Field maps, compiled once from the config and applied to every record.

A source map turns a raw source record (column -> value) into a canonical lead
profile. A CRM map turns a canonical profile into the CRM's fields, each with
its direction. Both are written the same way in config.toml::

    email = "Email"                                    # a column, as it is
    country = { from = "Country", transforms = ["trim", "country"] }
    name = { from = ["First", "Last"], transforms = [{ concat = " " }] }
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadsync.errors import ConfigError, MappingError
from leadsync.mapping.lead import STANDARD_FIELDS, coerce
from leadsync.mapping.transforms import BadTransform, Transform, TransformFailed, compile_transform
from leadsync.settings import CrmFieldRule, FieldRule


@dataclass(frozen=True)
class CompiledField:
    target: str
    sources: tuple[str, ...]
    multi: bool
    chain: tuple[Transform, ...]
    kind: str | None
    required: bool
    direction: str = "leadsync"
    strict: bool = False  # an unreadable optional value quarantines the record too
    # Every value comes from the config (a `map` with a "*" catch-all, or a default on a
    # value that is never set): checkable in full against a picklist.
    closed: bool = False
    # Values written in the config itself (defaults, value maps): checkable against
    # the CRM's picklists and lengths before any record is sent.
    literals: tuple[Any, ...] = ()

    def value(self, record: Mapping[str, Any]) -> Any:
        value: Any = (
            [record.get(s) for s in self.sources] if self.multi else record.get(self.sources[0])
        )
        for transform in self.chain:
            value = transform(value)
        if isinstance(value, list):
            raise TransformFailed("several columns need a `concat` transform to become one value")
        if value == "":
            value = None
        return value if self.kind is None else coerce(value, self.kind)


@dataclass(frozen=True)
class SourceMap:
    source: str
    fields: tuple[CompiledField, ...]

    def columns(self) -> set[str]:
        return {c for f in self.fields for c in f.sources}

    def apply(
        self, record: Mapping[str, Any], warnings: list[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        """The canonical profile of one record; MappingError names every bad field. A bad
        value in an optional field is left out instead, and (field, reason) is added to
        ``warnings``: one unreadable phone number must not withhold the whole lead."""
        profile: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for f in self.fields:
            try:
                value = f.value(record)
            except ValueError as exc:  # TransformFailed, or a type that does not coerce
                if f.required or f.strict:
                    problems.append((_describe(f), str(exc)))
                elif warnings is not None:
                    warnings.append((_describe(f), f"{exc}: left empty"))
                continue
            if value is None:
                if f.required:
                    problems.append((_describe(f), "required value is empty"))
                continue
            profile[f.target] = value
        if problems:
            raise MappingError(
                problems[0][0], "; ".join(f"{field}: {why}" for field, why in problems)
            )
        return profile


@dataclass(frozen=True)
class CrmMap:
    fields: tuple[CompiledField, ...]

    def desired(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        """CRM field -> value for one lead. A value that fails here fails the lead's push."""
        out: dict[str, Any] = {}
        for f in self.fields:
            try:
                out[f.target] = f.value(profile)
            except ValueError as exc:
                raise MappingError(f.target, str(exc)) from None
        return out

    def __post_init__(self) -> None:
        # Asked once per field per lead: a dict, not a scan of the fields.
        directions = {f.target: f.direction for f in self.fields}
        object.__setattr__(self, "_directions", directions)

    def direction(self, field: str) -> str:
        return self._directions.get(field, "leadsync")  # type: ignore[attr-defined, no-any-return]


def _describe(f: CompiledField) -> str:
    return f"{f.target} (from {', '.join(repr(s) for s in f.sources)})"


def lead_fields(custom_fields: Mapping[str, str]) -> dict[str, str]:
    return {**STANDARD_FIELDS, **custom_fields}


def compile_source_map(
    name: str,
    rules: Mapping[str, FieldRule | str],
    custom_fields: Mapping[str, str],
    path: Path,
) -> SourceMap:
    """A source's fields: each target a lead field, typed as that field is."""
    known = lead_fields(custom_fields)
    prefix = f"sources.{name}.fields"
    unknown = [
        f"{path}: {prefix}.{target}: {target!r} is not a lead field (standard: "
        f"{', '.join(STANDARD_FIELDS)}; declare others in [lead.custom_fields])"
        for target in rules
        if target not in known
    ]
    typed = {target: rule for target, rule in rules.items() if target in known}
    return SourceMap(source=name, fields=_compile_all(typed, prefix, path, unknown, kinds=known))


def compile_crm_map(
    rules: Mapping[str, CrmFieldRule | str], custom_fields: Mapping[str, str], path: Path
) -> CrmMap:
    """The CRM's fields: each written from lead fields."""
    known = lead_fields(custom_fields)

    def unknown_sources(f: CompiledField) -> list[str]:
        key = f"{path}: crm.fields.{f.target}.from"
        return [f"{key}: {src!r} is not a lead field" for src in f.sources if src not in known]

    return CrmMap(fields=_compile_all(rules, "crm.fields", path, [], check=unknown_sources))


def _compile_all(
    rules: Mapping[str, Any],
    prefix: str,
    path: Path,
    problems: list[str],
    *,
    kinds: Mapping[str, str] | None = None,
    check: Callable[[CompiledField], list[str]] | None = None,
) -> tuple[CompiledField, ...]:
    """Every rule compiled; one ConfigError naming every problem by its key."""
    fields = []
    for target, rule in rules.items():
        kind = kinds[target] if kinds is not None else None
        compiled = _compile(rule, f"{prefix}.{target}", path, problems, kind=kind, target=target)
        if compiled is None:
            continue
        if check is not None:
            problems.extend(check(compiled))
        fields.append(compiled)
    if problems:
        raise ConfigError(problems)
    return tuple(fields)


def _compile(
    rule: FieldRule | str,
    key: str,
    path: Path,
    problems: list[str],
    *,
    kind: str | None,
    target: str,
) -> CompiledField | None:
    if not isinstance(rule, FieldRule):
        model = FieldRule if kind is not None else CrmFieldRule
        rule = model.model_validate({"from": rule} if isinstance(rule, str) else rule)
    sources = (rule.source,) if isinstance(rule.source, str) else tuple(rule.source)
    if not sources:
        problems.append(f"{path}: {key}.from: name at least one field")
        return None
    chain = []
    literals: list[Any] = []
    for i, spec in enumerate(rule.transforms):
        if isinstance(spec, dict) and "default" in spec:
            literals.append(spec["default"])
        if isinstance(spec, dict) and isinstance(spec.get("map"), dict):
            literals.extend(spec["map"].values())
        try:
            chain.append(compile_transform(spec))
        except BadTransform as exc:
            problems.append(f"{path}: {key}.transforms[{i}]: {exc}")
    return CompiledField(
        target=target,
        sources=sources,
        multi=not isinstance(rule.source, str),
        chain=tuple(chain),
        kind=kind,
        required=rule.required,
        direction=getattr(rule, "direction", "leadsync"),
        literals=tuple(literals),
        strict=rule.invalid == "quarantine" or kind == "bool",
        closed=any(
            isinstance(spec, dict) and isinstance(spec.get("map"), dict) and "*" in spec["map"]
            for spec in rule.transforms
        ),
    )
