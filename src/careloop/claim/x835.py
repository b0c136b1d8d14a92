"""The 835 remittance advice (005010X221A1): read into payments and adjustments per claim,
after pyx12 has found no error in it (a malformed 835 posts nothing). A writer of the
same shape serves the payer simulator and the tests.

Pure: no database, no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from careloop.claim import x837
from careloop.core.errors import DomainError

VERSION = "005010X221A1"
#: CLP02 claim status codes (X12 1029) a payer uses to say the claim was denied.
DENIED_STATUSES = frozenset({"4"})


class RemittanceRefusedError(DomainError):
    code = "remittance_malformed"
    status = 422
    title = "The 835 file is malformed; nothing was posted"


@dataclass(frozen=True, slots=True)
class Adjustment:
    group: str  # CO, PR, OA, PI, CR
    reason: str  # CARC
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ClaimPayment:
    claim_number: str
    status: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    payer_claim_number: str
    adjustments: tuple[Adjustment, ...]
    remarks: tuple[str, ...]  # RARC

    @property
    def denied(self) -> bool:
        return self.status in DENIED_STATUSES or (self.paid == 0 and bool(self.adjustments))


@dataclass(frozen=True, slots=True)
class Remittance:
    control_number: str
    sender_id: str
    payer_name: str
    trace_number: str
    total_paid: Decimal
    paid_on: date | None
    claims: tuple[ClaimPayment, ...]


def _money(text: str, where: str) -> Decimal:
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        raise RemittanceRefusedError(f"{where}: {text!r} is not an amount") from None


def read(text: str) -> Remittance:  # noqa: PLR0912 (one pass over the segments)
    """The remittance in ``text``, or :class:`RemittanceRefusedError` listing pyx12's
    errors (segment, line, reason)."""
    if not text.lstrip().startswith("ISA"):
        raise RemittanceRefusedError("the file does not start with an ISA segment")
    problems = x837.validate(text)
    if problems:
        shown = "; ".join(str(p) for p in problems[:10])
        raise RemittanceRefusedError(
            f"{len(problems)} error(s): {shown}",
            extra={
                "problems": [str(p) for p in problems],
                "segment": problems[0].segment,
                "line": problems[0].line,
            },
        )
    element, component, terminator = text.lstrip()[3], text.lstrip()[104], text.lstrip()[105]
    segments = [
        s.strip("\r\n ").split(element) for s in text.strip().split(terminator) if s.strip()
    ]
    isa = segments[0]
    if not any(s[0] == "GS" and len(s) > 8 and s[8] == VERSION for s in segments):
        raise RemittanceRefusedError(f"the file is not an 835 ({VERSION})")
    payer, trace, total, paid_on = "", "", Decimal("0"), None
    claims: list[ClaimPayment] = []
    current: dict[str, object] | None = None
    for seg in segments:
        tag = seg[0]
        if tag == "BPR":
            total = _money(seg[2], "BPR02")
            if len(seg) > 16 and seg[16]:
                paid_on = datetime.strptime(seg[16], "%Y%m%d").date()
        elif tag == "TRN":
            trace = seg[2]
        elif tag == "N1" and seg[1] == "PR":
            payer = seg[2]
        elif tag == "CLP":
            if current is not None:
                claims.append(_claim(current))
            current = {
                "clp": seg,
                "adjustments": [],
                "remarks": [],
            }
        elif tag == "CAS" and current is not None:
            adjustments = current["adjustments"]
            assert isinstance(adjustments, list)
            for i in range(2, len(seg), 3):
                if seg[i]:
                    adjustments.append(Adjustment(seg[1], seg[i], _money(seg[i + 1], "CAS")))
        elif tag in ("LQ", "MOA") and current is not None:
            remarks = current["remarks"]
            assert isinstance(remarks, list)
            if tag == "LQ":
                remarks.append(seg[2])
            else:
                remarks.extend(v for v in seg[3:8] if v)
        elif tag == "SE" and current is not None:
            claims.append(_claim(current))
            current = None
    del component
    return Remittance(
        control_number=isa[13],
        sender_id=isa[6].strip(),
        payer_name=payer,
        trace_number=trace,
        total_paid=total,
        paid_on=paid_on,
        claims=tuple(claims),
    )


def _claim(found: dict[str, object]) -> ClaimPayment:
    clp = found["clp"]
    adjustments = found["adjustments"]
    remarks = found["remarks"]
    assert isinstance(clp, list) and isinstance(adjustments, list) and isinstance(remarks, list)
    padded = [*clp, *[""] * 8]
    return ClaimPayment(
        claim_number=padded[1],
        status=padded[2],
        charge=_money(padded[3], "CLP03"),
        paid=_money(padded[4], "CLP04"),
        patient_responsibility=_money(padded[5], "CLP05"),
        payer_claim_number=padded[7],
        adjustments=tuple(adjustments),
        remarks=tuple(remarks),
    )


# ---- writing (the payer simulator, tests) ------------------------------------------


def write(
    remittance: Remittance, *, receiver_id: str, payee_name: str, payee_npi: str, created: datetime
) -> str:
    seg = x837.segment
    body = [
        seg(
            "BPR",
            "I" if remittance.total_paid > 0 else "H",
            x837.amount(remittance.total_paid),
            "C",
            "NON" if remittance.total_paid == 0 else "ACH",
            *(
                [
                    "CCP",
                    "01",
                    "999999999",
                    "DA",
                    "123456",
                    "1512345678",
                    "",
                    "01",
                    "999988880",
                    "DA",
                    "98765",
                ]
                if remittance.total_paid > 0
                else ["", "", "", "", "", "", "", "", "", "", ""]
            ),
            (remittance.paid_on or created.date()).strftime("%Y%m%d"),
        ),
        seg("TRN", "1", x837.ident(remittance.trace_number), "1512345678"),
        seg("DTM", "405", created.strftime("%Y%m%d")),
        seg("N1", "PR", x837.name(remittance.payer_name)),
        seg("N3", "1 PAYER WAY"),
        seg("N4", "BOSTON", "MA", "021100000"),
        seg("PER", "BL", "CLAIMS", "TE", "8005550100"),
        seg("N1", "PE", x837.name(payee_name), "XX", payee_npi),
        seg("LX", "1"),
    ]
    for c in remittance.claims:
        body.append(
            seg(
                "CLP",
                x837.clean(c.claim_number, limit=38),
                c.status,
                x837.amount(c.charge),
                x837.amount(c.paid),
                x837.amount(c.patient_responsibility) if c.patient_responsibility else "",
                "12",
                x837.ident(c.payer_claim_number),
            )
        )
        for a in c.adjustments:
            body.append(seg("CAS", a.group, a.reason, x837.amount(a.amount)))
        body.append(seg("NM1", "QC", "1", "PATIENT", "", "", "", "", "MI", "UNKNOWN"))
        if c.remarks:
            body.append(seg("MOA", "", "", *c.remarks[:5]))
    isa = f"{int(remittance.control_number):09d}"
    sender = x837.ident(remittance.sender_id, limit=15)
    receiver = x837.ident(receiver_id, limit=15)
    lines = [
        "*".join(
            [
                "ISA",
                "00",
                " " * 10,
                "00",
                " " * 10,
                "ZZ",
                sender.ljust(15),
                "ZZ",
                receiver.ljust(15),
                created.strftime("%y%m%d"),
                created.strftime("%H%M"),
                "^",
                "00501",
                isa,
                "0",
                "T",
                ":",
            ]
        ),
        seg(
            "GS",
            "HP",
            sender,
            receiver,
            created.strftime("%Y%m%d"),
            created.strftime("%H%M"),
            str(int(isa)),
            "X",
            VERSION,
        ),
        seg("ST", "835", "0001"),
        *body,
        seg("SE", str(len(body) + 2), "0001"),
        seg("GE", "1", str(int(isa))),
        seg("IEA", "1", isa),
    ]
    return "~\n".join(lines) + "~\n"
