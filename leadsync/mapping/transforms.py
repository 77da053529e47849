"""The closed set of value transforms an admin may write in a field map.

A transform is written as a name (``"trim"``) or a one-key table with its
argument (``{ default = "Unknown" }``). Each is compiled once, when the config
is loaded, into a function of one value; a typo or a bad argument is a config
error, never a surprise in the middle of a sync. A transform that cannot
handle a value raises ``TransformFailed`` with a reason the admin can read;
the record is then quarantined.

None means "no value" throughout: most transforms pass it through untouched,
so that ``default`` can fill it at the end of the chain.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pycountry

from leadsync.mapping.lead import normalise_email

Transform = Callable[[Any], Any]


class TransformFailed(ValueError):
    pass


class BadTransform(ValueError):
    """A transform spec that cannot be compiled: unknown name or bad argument."""


def _text(fn: Callable[[str], Any]) -> Transform:
    def apply(value: Any) -> Any:
        return None if value is None else fn(str(value))

    return apply


def _trim(_: Any) -> Transform:
    return _text(lambda s: s.strip() or None)


def _lower(_: Any) -> Transform:
    return _text(str.lower)


def _upper(_: Any) -> Transform:
    return _text(str.upper)


def _title(_: Any) -> Transform:
    # str.title() turns "o'neil" into "O'Neil" and "mcdonald" into "Mcdonald":
    # good enough for names typed in lower or upper case, and it never loses data.
    return _text(lambda s: s.title() if s.islower() or s.isupper() else s)


def _default(arg: Any) -> Transform:
    if arg is None:
        raise BadTransform('default needs a value, for example { default = "Unknown" }')
    return lambda value: arg if value is None or value == "" else value


def _value_map(arg: Any) -> Transform:
    """Values looked up case-insensitively; others pass through, or take the ``"*"`` entry."""
    if not isinstance(arg, dict):
        raise BadTransform('map needs a table of values, for example { map = { "Y" = "Yes" } }')
    table = {str(k).casefold(): v for k, v in arg.items() if k != "*"}
    otherwise = arg.get("*")

    def apply(value: Any) -> Any:
        if value is None:
            return None
        key = str(value).strip().casefold()
        if key in table:
            return table[key]
        return value if otherwise is None else otherwise

    return apply


_TRUE = frozenset({"yes", "y", "true", "t", "1", "on"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "off"})


def _boolean(arg: Any) -> Transform:
    true, false = _TRUE, _FALSE
    if isinstance(arg, dict):
        unknown = set(arg) - {"true", "false"}
        if unknown:
            raise BadTransform(f"boolean takes `true` and `false` lists, not {sorted(unknown)}")
        true = frozenset(str(v).casefold() for v in arg.get("true", true))
        false = frozenset(str(v).casefold() for v in arg.get("false", false))
    elif arg is not None:
        raise BadTransform("boolean takes no argument or { true = [...], false = [...] }")

    def apply(value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        token = str(value).strip().casefold()
        if token in true:
            return True
        if token in false:
            return False
        raise TransformFailed(f"{value!r} is not a yes/no value")

    return apply


def _parse_date(arg: Any) -> Transform:
    """ISO dates and datetimes, epoch seconds or milliseconds, or an explicit strptime format.

    A value with no time part stays a date. Datetimes without a zone are taken as UTC.
    """
    fmt = None if arg in (None, "auto") else arg
    if fmt is not None and not isinstance(fmt, str):
        raise BadTransform('parse_date takes a strptime format, for example "%d/%m/%Y"')

    def apply(value: Any) -> Any:
        if value is None or isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if fmt:
                parsed = datetime.strptime(text, fmt)
                has_time = any(code in fmt for code in ("%H", "%I", "%M", "%S"))
                return _aware(parsed) if has_time else parsed.date()
            return _parse_auto(text)
        except (ValueError, OverflowError):
            wanted = fmt or "an ISO 8601 date, or epoch seconds or milliseconds"
            raise TransformFailed(f"{value!r} is not a date ({wanted})") from None

    return apply


_EPOCH = re.compile(r"^-?\d{9,13}$")


def _parse_auto(text: str) -> date | datetime:
    if _EPOCH.match(text):
        number = int(text)
        # 13 digits is milliseconds (HubSpot, Marketo); fewer is seconds.
        seconds = number / 1000 if len(text.lstrip("-")) >= 12 else number
        return datetime.fromtimestamp(seconds, tz=UTC)
    if len(text) == 10 and text[4] == "-":
        return date.fromisoformat(text)
    return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _phone(arg: Any) -> Transform:
    region = arg or "US"
    if not isinstance(region, str) or len(region) != 2:
        raise BadTransform('phone takes a two-letter default region, for example { phone = "GB" }')
    import phonenumbers  # its metadata is large: loaded by the maps that read phones

    def apply(value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        if text.startswith("00"):
            text = "+" + text[2:]  # 00 dials out of most countries, as + does
        try:
            number = phonenumbers.parse(text, region.upper())
        except phonenumbers.NumberParseException:
            raise TransformFailed(f"{value!r} is not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            # Not only impossible lengths: a number no carrier assigns (555-1234) too.
            raise TransformFailed(f"{value!r} is not a valid phone number (region {region})")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return f"{e164} ext. {number.extension}" if number.extension else e164

    return apply


# Names people write that ISO 3166 does not list.
_COUNTRY_ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "united states of america": "US",
    "uae": "AE",
    "russia": "RU",
    "south korea": "KR",
    "vietnam": "VN",
}


def _country(arg: Any) -> Transform:
    """Country name, ISO alpha-2 or alpha-3 to ISO alpha-2.

    ``{ country = { unknown = "empty" } }`` turns names that are no country
    ("unknown", "Asia/Pacific Region") into no value instead of quarantining the record.
    """
    unknown = "error"
    if isinstance(arg, dict):
        unknown = arg.get("unknown", "error")
        if set(arg) - {"unknown"} or unknown not in ("error", "empty", "keep"):
            raise BadTransform('country takes { unknown = "error" | "empty" | "keep" }')
    elif arg is not None:
        raise BadTransform('country takes no argument or { unknown = "error" | "empty" | "keep" }')
    cache: dict[str, str | None] = {}

    def apply(value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        key = text.casefold()
        if key not in cache:
            cache[key] = _country_code(key)
        code = cache[key]
        if code is not None:
            return code
        if unknown == "empty":
            return None
        if unknown == "keep":
            return text
        raise TransformFailed(f"{value!r} is not a country name or ISO code")

    return apply


def _country_code(key: str) -> str | None:
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    try:
        return pycountry.countries.lookup(key).alpha_2
    except LookupError:
        return None


def _concat(arg: Any) -> Transform:
    sep = " " if arg is None else arg
    if not isinstance(sep, str):
        raise BadTransform('concat takes a separator string, for example { concat = " " }')

    def apply(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        parts = [str(v).strip() for v in value if v is not None and str(v).strip()]
        return sep.join(parts) or None

    return apply


def _email(_: Any) -> Transform:
    # For text fields holding an address; the canonical `email` field is normalised by
    # its type (``lead.coerce``) and needs no transform.
    return _text(lambda s: normalise_email(s) or None)


TRANSFORMS: dict[str, Callable[[Any], Transform]] = {
    "trim": _trim,
    "lower": _lower,
    "upper": _upper,
    "title": _title,
    "default": _default,
    "map": _value_map,
    "boolean": _boolean,
    "parse_date": _parse_date,
    "phone": _phone,
    "country": _country,
    "concat": _concat,
    "email": _email,
}


def compile_transform(spec: str | dict[str, Any]) -> Transform:
    """Compile one transform spec; raise BadTransform naming what is allowed."""
    if isinstance(spec, str):
        name, arg = spec, None
    elif isinstance(spec, dict) and len(spec) == 1:
        ((name, arg),) = spec.items()
    else:
        raise BadTransform(f"a transform is a name or a one-key table, got {spec!r}")
    factory = TRANSFORMS.get(name)
    if factory is None:
        raise BadTransform(f"unknown transform {name!r} (known: {', '.join(sorted(TRANSFORMS))})")
    return factory(arg)
