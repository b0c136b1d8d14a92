"""Report snapshots: figures computed by the worker, read by the pages in one query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, UTCDateTime


class ReportSnapshot(Base):
    __tablename__ = "report_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One row per report and time zone (e.g. "staff_dashboard:America/New_York").
    name: Mapped[str] = mapped_column(String(100), unique=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONVariant, default=dict)
