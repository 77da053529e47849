"""Loading and validating the TOML config.

One file, one typed model per section (``settings``), every problem reported as one line that
names the file, the key path and what to do. Secrets never live in the file:
``${VAR}`` is replaced from the environment, and the values that came from
secret fields are remembered so that logging can mask them.

Precedence, highest first: command-line flag, environment, file, default.
The config file itself is ``--config``, then ``$LEADSYNC_CONFIG``, then
``./config.toml``; the state database is ``--state-url``, then
``$LEADSYNC_STATE_URL``, then ``[state] url``, then ``sqlite:///state.db``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from leadsync.errors import ConfigError
from leadsync.settings import Settings

DEFAULT_CONFIG = "config.toml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Config:
    path: Path
    settings: Settings
    state_url: str
    # Unset environment variables are kept here, not raised, so that `check`
    # can list them beside every other problem.
    missing_env: list[str] = field(default_factory=list)


def locate(flag: str | None) -> Path:
    return Path(flag or os.environ.get("LEADSYNC_CONFIG") or DEFAULT_CONFIG)


def load(path: Path, *, state_url: str | None = None, strict_env: bool = True) -> Config:
    """Read, interpolate and validate the config; raise ConfigError listing every problem."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file (create one with `leadsync init`)")
    if path.is_dir():
        raise ConfigError(
            f"{path}: is a folder; name the config file (for example {path}/config.toml)"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
            "save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    missing: list[str] = []
    raw = _interpolate(raw, (), missing, path)
    if missing and strict_env:
        raise ConfigError(missing)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(pydantic_problems(path, exc, Settings)) from None
    url = state_url or os.environ.get("LEADSYNC_STATE_URL") or _beside(path, settings.state.url)
    return Config(path=path, settings=settings, state_url=url, missing_env=missing)


def _beside(config_path: Path, url: str) -> str:
    """A relative SQLite path in the config file is relative to that file, as its CSV paths
    are, not to wherever the scheduler happens to start leadsync."""
    prefix = "sqlite:///"
    file = url[len(prefix) :] if url.startswith(prefix) else ""
    if file and file != ":memory:" and not Path(file).is_absolute():
        return prefix + str(config_path.resolve().parent / file)
    return url


def pydantic_problems(
    path: Path, exc: ValidationError, model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> list[str]:
    """Turn pydantic's errors (validating ``model``) into one line each: file, key path,
    what is wrong, what is allowed."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (*prefix, *err["loc"]))
        kind = err["type"]
        if kind == "extra_forbidden":
            fields = _allowed_keys(model, err["loc"])
            hint = f" (allowed: {', '.join(fields)})" if fields else ""
            lines.append(f"{path}: {loc}: unknown key{hint}")
        elif kind == "missing":
            lines.append(f"{path}: {loc}: required key is missing")
        else:
            lines.append(f"{path}: {loc}: {err['msg']}{_shown_input(err)}")
    return lines


_SECRET_WORDS = ("password", "token", "secret", "session", "key")


def _shown_input(err: Any) -> str:
    """The offending value, when it is short, a plain value, and not possibly a secret."""
    value = err.get("input")
    loc = ".".join(str(p) for p in err["loc"]).lower()
    if isinstance(value, dict | list) or any(w in loc for w in _SECRET_WORDS):
        return ""
    text = repr(value)
    return f" (got {text})" if len(text) <= 60 else ""


def _allowed_keys(validated: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] | None = validated
    for part in loc[:-1]:
        if model is None:
            return []
        info = model.model_fields.get(str(part))
        model = _model_of(info.annotation) if info else None
    if model is None:
        return []
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _interpolate(value: Any, key: tuple[str, ...], missing: list[str], path: Path) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*key, k), missing, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*key, str(i)), missing, path) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            missing.append(
                f"{path}: {'.'.join(key)}: environment variable {name} is not set "
                f"(export {name}=... before running leadsync)"
            )
            # Kept as written, so that `check` can go on to validate everything else.
            return match.group(0)
        return os.environ[name]

    return _ENV_REF.sub(substitute, value)


def secret_values(model: BaseModel) -> frozenset[str]:
    """The secret values of a validated connector config: the log masks them."""
    found: set[str] = set()
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found |= secret_values(value)
    return frozenset(found)
