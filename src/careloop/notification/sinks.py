"""Where outbox messages go: out by e-mail, SMS or fax (:class:`ChannelSink`), or to a
file (one JSON object per line) or the log, the internal record."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any, Protocol

import structlog

from careloop.notification.channels import (
    EmailTransport,
    FaxGateway,
    FileEmailTransport,
    FileFaxGateway,
    FileSmsGateway,
    SmsGateway,
    SmtpTransport,
)
from careloop.notification.render import Rendered, render
from careloop.settings import Settings

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


class ChannelSink:
    """Sends each routed message by its channel: e-mail through ``email`` (SMTP or files),
    SMS and fax through their gateways; messages with no outside channel (for staff, or a
    recipient with no address on file) go to ``fallback``, the internal record.

    E-mails of one thread (``payload.thread``: a key and a sequence number) carry
    Message-IDs derived from the key, and each one after the first answers the first
    (In-Reply-To) and lists the earlier ones (References), so every mail reader shows them
    as one conversation.
    """

    def __init__(
        self,
        *,
        email: EmailTransport,
        sms: SmsGateway,
        fax: FaxGateway,
        fallback: Sink,
        from_address: str,
        help_phone: str,
    ) -> None:
        self.email, self.sms, self.fax, self.fallback = email, sms, fax, fallback
        self.from_address = from_address
        self.help_phone = help_phone
        self.mail_domain = parseaddr(from_address)[1].rpartition("@")[2] or "careloop.invalid"

    def send(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if channel == "none":
            return
        if channel not in {"email", "sms", "fax"} or not message.get("to"):
            self.fallback.send(message)
            return
        context = {"help_phone": self.help_phone, **message.get("context", {})}
        text = render(
            message["template"], channel=channel, language=message.get("language"), context=context
        )
        if channel == "email":
            self.email.send(self._email(message, text))
        elif channel == "sms":
            self.sms.send(message["to"], text.body)
        else:
            self.fax.send(message["to"], text.subject, text.body)
        log.info(
            "notification.sent",
            id=message["id"],
            template=message["template"],
            channel=channel,
            case_number=message.get("case_number"),
        )

    def _email(self, message: dict[str, Any], text: Rendered) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.from_address
        mail["To"] = message["to"]
        thread = (message.get("payload") or {}).get("thread")
        if thread:
            key, seq = str(thread["key"]), int(thread["seq"])
            ids = [f"<{key}.{n}@{self.mail_domain}>" for n in range(1, seq + 1)]
            mail["Message-ID"] = ids[-1]
            if seq > 1:
                mail["In-Reply-To"] = ids[0]
                mail["References"] = " ".join(ids[:-1])
            mail["Subject"] = ("Re: " if seq > 1 else "") + text.subject
        else:
            mail["Message-ID"] = f"<outbox-{message['id']}@{self.mail_domain}>"
            mail["Subject"] = text.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(text.body)
        return mail


def channel_sink(settings: Settings) -> ChannelSink:
    """The sink the worker uses: SMTP when a host is set, else files under
    ``settings.notification_dir``; SMS and fax to files until a gateway is plugged in."""
    directory = settings.notification_dir
    email: EmailTransport
    if settings.smtp_host:
        email = SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
        )
    else:
        email = FileEmailTransport(directory / "mail")
    return ChannelSink(
        email=email,
        sms=FileSmsGateway(directory / "sms.jsonl"),
        fax=FileFaxGateway(directory / "fax.jsonl"),
        fallback=FileSink(directory / "outbox.jsonl"),
        from_address=settings.smtp_from,
        help_phone=settings.member_help_phone,
    )
