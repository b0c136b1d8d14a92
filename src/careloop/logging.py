"""structlog set-up: JSON lines in production, readable lines at a console.

Events are dotted verbs with ids as fields (``referral.submitted``, ``http.request``);
PHI never goes into a log line (RELIABILITY.md row 14).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import orjson
import structlog

from careloop.settings import Settings


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_StderrLogger,
        cache_logger_on_first_use=False,
    )


def _dumps(event: object, default: Callable[[Any], Any] | None = None, **_kw: object) -> str:
    """orjson for the one line every request logs: several times faster than json.dumps
    (bench/intake.py); anything it cannot write goes through ``default`` as before."""
    return orjson.dumps(event, default=default or str).decode()


class _StderrLogger:
    """Writes to whatever ``sys.stderr`` is when a line is logged, not when logging was
    configured (test runners and daemons swap the stream)."""

    def __init__(self, *_args: object) -> None:
        pass

    def msg(self, message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    debug = info = warning = warn = error = critical = exception = fatal = msg
