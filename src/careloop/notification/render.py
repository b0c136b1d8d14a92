"""Plain-language messages from Jinja2 text templates shipped in the package.

A template lives at ``templates/<language>/<name>.txt`` (or ``<name>.<channel>.txt`` for
a channel's own wording, an SMS say); its first line is ``Subject: ...``, then a blank
line, then the body. A language without the template falls back to English, an unknown
template to ``generic.txt``. Subjects carry the case number, never a member's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str


def in_words(value: str | datetime | None, time_zone: str) -> str:
    """An instant as a person reads it, in the member's zone: "Tuesday 24 November 2026 at
    14:30 (New York time)"; empty for nothing."""
    if value is None or value == "":
        return ""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = instant.astimezone(ZoneInfo(time_zone))
    place = time_zone.rsplit("/", 1)[-1].replace("_", " ")
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} ({place} time)"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701 (plain-text messages, never HTML)
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _language(code: str | None) -> str:
    code = (code or DEFAULT_LANGUAGE).split("-")[0].split("_")[0].lower()
    return code if (TEMPLATES / code).is_dir() else DEFAULT_LANGUAGE


def render(name: str, *, channel: str, language: str | None, context: dict[str, Any]) -> Rendered:
    env = _environment()
    lang = _language(language)
    candidates = [
        f"{lang}/{name}.{channel}.txt",
        f"{lang}/{name}.txt",
        f"{DEFAULT_LANGUAGE}/{name}.{channel}.txt",
        f"{DEFAULT_LANGUAGE}/{name}.txt",
        f"{DEFAULT_LANGUAGE}/generic.txt",
    ]
    template = env.select_template(candidates)
    text = template.render(**context)
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject:"):
        raise TemplateNotFound(f"{template.name}: the first line must be 'Subject: ...'")
    subject = " ".join(first.removeprefix("Subject:").split())
    return Rendered(subject=subject, body=rest.lstrip("\n").rstrip() + "\n")
