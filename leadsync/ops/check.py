"""`leadsync check`: every problem with a config, found before a sync runs into it.

Checks, in order: TOML syntax and keys, environment variables, each source
(file present, mapped columns in its header), the CRM (login, describe), and
every CRM field mapping against the described schema: unknown field,
read-only field, incompatible type, picklist value not allowed, over-long
literal, required field that nothing maps. Each problem is one line naming the
file, the key and the fix.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadsync import config as cfg
from leadsync.connectors.base import FieldSpec, ObjectSchema
from leadsync.errors import ConfigError, LeadsyncError
from leadsync.mapping.fieldmap import CrmMap, lead_fields
from leadsync.rules.decide import DECISION_FIELDS
from leadsync.sync.wiring import wire


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)


def run_check(
    path: Path,
    *,
    state_url: str | None = None,
    connect: bool = True,
    remote_sources: bool = True,
) -> CheckReport:
    """Every problem of the config at ``path``. ``connect``: log in to the CRM and check
    the maps against its schema; ``remote_sources``: ask sources behind an API too (a
    sync's own check before it starts asks only what it can see on this machine)."""
    report = CheckReport()
    try:
        config = cfg.load(path, state_url=state_url, strict_env=False)
    except ConfigError as exc:
        report.errors.extend(exc.problems)
        return report
    report.errors.extend(config.missing_env)
    try:
        wiring = wire(config)
    except ConfigError as exc:
        report.errors.extend(exc.problems)
        return report
    report.checked.append("config keys and field maps")
    if not wiring.crm_map.fields:
        report.errors.append(
            f"{path}: crm.fields: no CRM field is mapped: map at least the fields the CRM "
            "requires (Salesforce Leads: LastName and Company; and Email)"
        )
    for name, (source, smap) in wiring.sources.items():
        if not (remote_sources or source.local):
            continue  # a source behind an API: its own read says what is wrong
        problems = [f"{path}: {p}" for p in source.check()]
        header = source.columns() if not problems else None
        if header is not None:
            event_map = wiring.events.get(name)
            wanted = smap.columns() | (event_map.columns() if event_map else set())
            for column in sorted(wanted - set(header)):
                hint = difflib.get_close_matches(column, header, n=1)
                problems.append(
                    f"{path}: sources.{name}.fields: column {column!r} is not in "
                    f"{source.offers}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                )
        report.errors.extend(problems)
        report.checked.append(f"source {name}")
    if not connect or config.missing_env:
        return report
    dest = wiring.destination
    problems = [f"{path}: {p}" for p in dest.check()]
    report.errors.extend(problems)
    if problems:
        return report
    try:
        schema = dest.describe()
    except LeadsyncError as exc:
        report.errors.append(f"{path}: crm: {exc}")
        return report
    report.checked.append(f"CRM login and {schema.name} schema ({len(schema.fields)} fields)")
    errors_owners = _check_owners(path, config, dest)
    report.errors.extend(errors_owners)
    nurture = config.settings.nurture
    if nurture is not None and dest.campaign_exists(nurture.campaign_id) is False:
        report.errors.append(
            f"{path}: nurture.campaign_id: {nurture.campaign_id} is no active campaign in the "
            "CRM: name one that exists (Salesforce: a Campaign id, 701...)"
        )
    errors, warnings = check_crm_map(
        path,
        schema,
        wiring.crm_map,
        {**lead_fields(config.settings.lead.custom_fields), **DECISION_FIELDS},
        dest.external_id_field,
    )
    report.errors.extend(errors)
    report.warnings.extend(warnings)
    return report


def check_crm_map(
    path: Path, schema: ObjectSchema, crm_map: CrmMap, kinds: dict[str, str], external_id_field: str
) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    for f in crm_map.fields:
        key = f"{path}: crm.fields.{f.target}"
        spec = schema.fields.get(f.target)
        if spec is None:
            hint = difflib.get_close_matches(f.target, list(schema.fields), n=1)
            errors.append(
                f"{key}: {schema.name} has no field {f.target!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
            continue
        if not spec.createable and not spec.updateable:
            errors.append(
                f"{key}: {schema.name}.{f.target} is read-only in the CRM: remove the mapping"
            )
            continue
        if len(f.sources) == 1 and not f.chain:
            kind = kinds.get(f.sources[0], "str")
            if kind not in spec.accepts:
                errors.append(
                    f"{key}: lead field {f.sources[0]!r} is {kind} but "
                    f"{f.target} is a {schema.system} {spec.type} field"
                )
        for value in f.literals:
            errors.extend(_literal_problems(key, spec, value))
        free = not f.closed and not set(f.sources) & set(DECISION_FIELDS)
        if spec.restricted_picklist and spec.picklist and free:
            errors.append(
                f"{key}: {spec.name} is a restricted picklist but {', '.join(f.sources)} is "
                "free text: every other value would be refused; add a `map` transform with "
                f'a "*" catch-all (allowed: {", ".join(spec.picklist)})'
            )
    mapped = {f.target for f in crm_map.fields} | {external_id_field}
    for spec in schema.fields.values():
        if spec.required and spec.name not in mapped:
            errors.append(
                f"{path}: crm.fields: {schema.system} requires {schema.name}.{spec.name} "
                f'and nothing maps it: add {spec.name} = {{ from = "...", '
                'transforms = [{ default = "..." }] }'
            )
    for f in crm_map.fields:
        spec = schema.fields.get(f.target)
        if spec is not None and spec.required and not f.literals:
            warnings.append(
                f"{path}: crm.fields.{f.target}: the CRM requires it but it "
                'may be empty for some leads: add a { default = "..." } transform'
            )
    return errors, warnings


def _literal_problems(key: str, spec: FieldSpec, value: object) -> list[str]:
    text = str(value)
    if text == "":
        return []  # an empty value writes nothing
    if spec.restricted_picklist and spec.picklist and text not in spec.picklist:
        return [
            f"{key}: {text!r} is not an allowed value of {spec.name} "
            f"(allowed: {', '.join(spec.picklist)})"
        ]
    if spec.length and spec.text and len(text) > spec.length:
        return [
            f"{key}: {text[:40]!r}... is {len(text)} characters; {spec.name} holds {spec.length}"
        ]
    return []


def _check_owners(path: Path, config: Any, dest: Any) -> list[str]:
    """Every owner named in [routing] must be an active user or a queue in the CRM."""
    routing = config.settings.routing
    if routing is None:
        return []
    try:
        active = dest.active_owners()
    except LeadsyncError as exc:
        return [f"{path}: routing: cannot list the CRM's users and queues: {exc}"]
    if active is None:
        return []
    named = [("routing.fallback_owner", routing.fallback_owner)]
    named += [
        (f"routing.rules[{i}].owner", r.owner) for i, r in enumerate(routing.rules) if r.owner
    ]
    named += [
        (f"routing.pools.{p}.members[{i}].owner", m.owner)
        for p, pool in routing.pools.items()
        for i, m in enumerate(pool.members)
    ]
    named += [
        (f"routing.territories.{t}.owners.{k}", o)
        for t, ter in routing.territories.items()
        for k, o in ter.owners.items()
    ]
    return [
        f"{path}: {key}: {owner} is not an active owner in the CRM (unknown, inactive or archived)"
        for key, owner in named
        if owner not in active
    ]
