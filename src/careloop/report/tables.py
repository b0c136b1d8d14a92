"""A report as a table of plain words (title, period, notes, sections of rows), kept as
JSON with its run and rendered as CSV, spreadsheet or PDF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    columns: list[str]
    rows: list[list[str | int | float | None]]


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    title: str
    period: str
    notes: list[str]
    sections: list[Section]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "period": self.period,
            "notes": self.notes,
            "sections": [
                {"title": s.title, "columns": s.columns, "rows": s.rows} for s in self.sections
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            name=data["name"],
            title=data["title"],
            period=data["period"],
            notes=list(data.get("notes", [])),
            sections=[Section(s["title"], s["columns"], s["rows"]) for s in data["sections"]],
        )


def period_words(start: date, end: date) -> str:
    last = end - timedelta(days=1)
    if last == start:
        return start.strftime("%a %d %b %Y")
    return f"{start.strftime('%d %b %Y')} to {last.strftime('%d %b %Y')}"


def local_time(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "None"
    return value.astimezone(zone).strftime("%a %d %b %Y %H:%M")
