"""A message the feed refuses (pure): answered with a NAK that says why and where."""

from __future__ import annotations

from careloop.adt.answer import AckCode, Header, Location


class Refused(Exception):  # noqa: N818 - the answer's name, not a failure of ours
    """The message is answered with a NAK: ``code`` AE or AR, ``text`` in plain words,
    ``where`` the place (ERR-1/ERR-2: ``PID-3`` or a ``Location``) and ``hl7_error`` the
    HL7 table 0357 code."""

    def __init__(
        self,
        code: AckCode,
        text: str,
        *,
        where: str | Location = "",
        hl7_error: str = "207",
        header: Header | None = None,
    ):
        super().__init__(text)
        self.code, self.text, self.hl7_error = code, text, hl7_error
        self.location = Location.of(where) if isinstance(where, str) else where
        #: The place in words, for the log (never a value: it may be PHI).
        self.where = self.location.words() if self.location else ""
        #: The header read so far, so that the NAK names the message's control id.
        self.header = header
