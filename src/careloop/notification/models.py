"""How each known recipient wants to hear from us: channel, language, address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import UTCDateTime


class NotificationPreference(Base):
    """One recipient's choice. ``recipient_key`` names them: ``member:<member key>``,
    ``org:<organisation id>`` (a referrer or provider), ``email:<address>``."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("recipient_key"),)
    __pii_columns__ = ("address",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_key: Mapped[str] = mapped_column(String(300))
    # email, sms, fax (or none: the recipient asked for no messages)
    channel: Mapped[str] = mapped_column(String(20))
    # The language of the messages, e.g. "en", "es".
    language: Mapped[str | None] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
