"""Where outbox messages go. For now a file (one JSON object per line) or the log; the
Sink protocol is the seam for e-mail, SMS and fax gateways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import structlog

log = structlog.get_logger("careloop.notification")


class Sink(Protocol):
    def send(self, message: dict[str, Any]) -> None:
        """Deliver one message or raise; a raise leaves it queued for a retry."""
        ...


class FileSink:
    """Appends each message to a file, as a stand-in for a real channel."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, message: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(message, sort_keys=True, default=str) + "\n")


class LogSink:
    """Logs that a message went out (ids only: the log never carries PHI)."""

    def send(self, message: dict[str, Any]) -> None:
        log.info(
            "notification.sent",
            id=message["id"],
            template=message["template"],
            audience=message["audience"],
            case_number=message.get("case_number"),
        )
