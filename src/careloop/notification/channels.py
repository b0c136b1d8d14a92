"""The channels a message leaves by: e-mail over SMTP, SMS and fax through gateways.

Each channel is a Protocol (the seam for a real gateway) with a default: SMTP for e-mail
when a host is configured, otherwise files under the notification directory. A transport
raises on failure; :class:`PermanentDeliveryError` says that trying again cannot help (the
server refused the address), anything else is retried with backoff.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class PermanentDeliveryError(Exception):
    """The channel refused the message for good (an unknown address, say)."""


class EmailTransport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmsGateway(Protocol):
    def send(self, to: str, text: str) -> None: ...


class FaxGateway(Protocol):
    def send(self, to: str, subject: str, text: str) -> None: ...


class SmtpTransport:
    """E-mail through an SMTP server: STARTTLS, implicit TLS or plain, with a login when
    credentials are set. A connection per message: the worker sends few, and a server
    that went away between two messages costs nothing."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 15,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.context = context or ssl.create_default_context()

    def send(self, message: EmailMessage) -> None:
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=self.context)
            if self.username:
                smtp.login(self.username, self.password or "")
            try:
                smtp.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:
                raise PermanentDeliveryError("the server refused the recipient") from exc
            except smtplib.SMTPResponseException as exc:
                if 500 <= exc.smtp_code < 600:
                    raise PermanentDeliveryError(f"the server refused ({exc.smtp_code})") from exc
                raise


class FileEmailTransport:
    """Writes each e-mail as an .eml file (no SMTP host configured)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"] or datetime.now(UTC).timestamp()).strip("<>")
        (self.directory / f"{_safe(name)}.eml").write_bytes(bytes(message))


class FileSmsGateway:
    """Appends each SMS to a file, one JSON object per line, until a gateway is plugged in."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, to: str, text: str) -> None:
        _append(self.path, {"to": to, "text": text})


class FileFaxGateway:
    """Appends each fax (a cover line and the text) to a file, one JSON object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, to: str, subject: str, text: str) -> None:
        _append(self.path, {"to": to, "subject": subject, "text": text})


def _append(path: Path, record: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)[:150]
