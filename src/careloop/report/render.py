"""A report's table written as CSV, a spreadsheet (openpyxl) or a PDF (typst, from a
template shipped with the package; values are passed as data, so a name with markup
characters prints as written)."""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from typing import Any

from careloop.report.tables import Report

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def render(report: Report, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(report)
    if fmt == "xlsx":
        return to_xlsx(report)
    if fmt == "pdf":
        return to_pdf(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def to_csv(report: Report) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([report.title, report.period])
    for note in report.notes:
        writer.writerow([note])
    for section in report.sections:
        writer.writerow([])
        writer.writerow([section.title])
        writer.writerow(section.columns)
        writer.writerows([[_cell(v) for v in row] for row in section.rows])
    return out.getvalue().encode()


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook  # noqa: PLC0415 - heavy, only when asked
    from openpyxl.styles import Font  # noqa: PLC0415

    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for index, section in enumerate(report.sections):
        sheet = book.create_sheet(title=f"{index + 1} {section.title}"[:31])
        sheet.append([report.title, report.period])
        sheet.append([section.title])
        sheet.append(section.columns)
        for cell in sheet[3]:
            cell.font = Font(bold=True)
        for row in section.rows:
            sheet.append(list(row))
        for column, name in zip(sheet.columns, section.columns, strict=False):
            width = max([len(str(name)), *(len(_cell(c.value)) for c in column)])
            letter = column[0].column_letter
            sheet.column_dimensions[letter].width = min(width + 2, 60)
    notes = book.create_sheet(title="Notes")
    for note in [report.title, report.period, *report.notes]:
        notes.append([note])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_pdf(report: Report) -> bytes:
    import typst  # noqa: PLC0415

    template = resources.files("careloop.report").joinpath("report.typ").read_bytes()
    data = {
        "title": report.title,
        "period": report.period,
        "notes": report.notes,
        "sections": [
            {
                "title": s.title,
                "columns": s.columns,
                "rows": [[_cell(v) for v in row] for row in s.rows],
            }
            for s in report.sections
        ],
    }
    pdf = typst.compile(template, sys_inputs={"data": json.dumps(data)})
    assert isinstance(pdf, bytes)
    return pdf
