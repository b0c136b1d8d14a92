"""A referral transaction Bundle mapped to the JSON API's ``ReferralCreate`` draft.

Three layers of checks, all collected before anything is stored, each issue naming the
FHIRPath ``expression`` of the bad field:

1. structure (``fhir.structure``): the ``fhir.resources`` R4B models (they read R4
   payloads), and the codes of R4's required bindings, which the models list but do not
   check (``fhir.bindings``);
2. the bundle's shape: a transaction of POSTs, one Patient, at least one ServiceRequest or
   DeviceRequest, ``urn:uuid`` references that resolve inside the bundle;
3. code systems: an NPI identifier must be an NPI (Luhn check digit), an ICD-10-CM coding
   a code of ICD-10-CM, an item code a HCPCS or CPT code of the right shape, sent as the
   request type it is. A value that is not a code of the system it claims is invalid data
   and rejects the bundle; a real code that does not fit the case (a category rather than
   a billable diagnosis, a HCPCS code outside home care) is an intake finding, reported
   exactly as the JSON API reports it.

Then the draft goes through ``ReferralCreate`` itself, so every length and range rule of
the JSON API applies, its field paths translated back to FHIRPath.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from pydantic import ValidationError

from careloop.codes import Icd10Status, check_icd10, code_format_problem, npi_problem
from careloop.core.errors import FieldError
from careloop.fhir import codes, structure
from careloop.fhir.outcome import FhirError, Issue
from careloop.referral.enums import Channel
from careloop.referral.schemas import ReferralCreate
from careloop.web.problems import field_errors

REQUEST_TYPES = ("ServiceRequest", "DeviceRequest")
ACCEPTED_TYPES = frozenset(
    {"Patient", "Coverage", "Practitioner", "PractitionerRole", "Organization", "Condition"}
    | set(REQUEST_TYPES)
)
_PRIORITY = {"routine": "routine", "urgent": "urgent", "asap": "urgent", "stat": "urgent"}
_UNITS = {"h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    kind: str
    full_url: str | None
    resource: dict[str, Any]
    request: dict[str, Any] | None

    @property
    def if_none_exist(self) -> str | None:
        value = (self.request or {}).get("ifNoneExist")
        return value if isinstance(value, str) else None

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}].resource"


@dataclass
class ReferralBundle:
    """The bundle as a draft, with where each draft field came from."""

    draft: ReferralCreate
    entries: list[Entry]
    expressions: dict[str, str]
    conditional: tuple[str | None, str] | None  # (system, value) of ifNoneExist


@dataclass
class _Builder:
    entries: list[Entry]
    issues: list[Issue] = field(default_factory=list)
    expressions: dict[str, str] = field(default_factory=dict)
    by_url: dict[str, Entry] = field(default_factory=dict)
    #: The JSON text the Bundle was read from, when at hand.
    text: bytes | None = None
    #: 422 for entries that break the referral's rules; 400 for a malformed request.
    status: int = 422

    def bad(self, expression: str, message: str, code: str = "invalid") -> None:
        self.issues.append(Issue("error", code, message, expression))

    def resolve(self, reference: Any, where: str, kinds: tuple[str, ...]) -> Entry | None:
        """The entry a reference points to; a ``urn:uuid`` that resolves to nothing in
        the bundle is an error, an outside reference is ignored."""
        if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
            return None
        ref = reference["reference"]
        entry = self.by_url.get(ref)
        if entry is None:
            if ref.startswith("urn:uuid:"):
                self.bad(f"{where}.reference", f"{ref} is not the fullUrl of any entry.")
            elif kinds == ("Patient",):
                # Whose case it is comes from the bundle's Patient alone: a subject held
                # elsewhere (another case's Patient, another organisation's) is someone
                # else, and would be read as the bundle's without a word.
                self.bad(
                    f"{where}.reference",
                    "Must refer to the bundle's Patient entry by its fullUrl, not to a "
                    f"patient outside the bundle ({ref[:60]}).",
                )
            return None
        if entry.kind not in kinds:
            self.bad(f"{where}.reference", f"Must refer to a {' or '.join(kinds)}.")
            return None
        return entry


def parse_bundle(data: Any, text: bytes | None = None) -> ReferralBundle:
    """The referral in a transaction Bundle, or a FhirError listing every bad field.
    ``text``, the JSON the Bundle was read from, spares a walk over every element when
    it is given."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FhirError(400, [Issue("error", "structure", "Send a Bundle.", "Bundle")])
    issues, codes_checked = structure.structure_issues(data)
    if not issues and not codes_checked:
        issues = structure.codes_issues(data, ACCEPTED_TYPES)
    if issues:
        raise FhirError(422, issues)
    if data.get("type") != "transaction":
        raise FhirError(
            422, [Issue("error", "invalid", "The Bundle must be a transaction.", "Bundle.type")]
        )
    builder = _Builder(entries=_entries(data), text=text)
    draft_data = _draft(builder)
    draft = _validated(builder, draft_data)
    if builder.issues or draft is None:
        raise FhirError(builder.status, builder.issues)
    return ReferralBundle(draft, builder.entries, builder.expressions, _conditional(builder))


def _entries(data: dict[str, Any]) -> list[Entry]:
    out = []
    for index, raw in enumerate(data.get("entry") or []):
        resource = raw.get("resource") or {}
        out.append(
            Entry(
                index,
                str(resource.get("resourceType", "")),
                raw.get("fullUrl"),
                resource,
                raw.get("request"),
            )
        )
    return out


def _draft(b: _Builder) -> dict[str, Any]:
    for entry in b.entries:
        where = f"Bundle.entry[{entry.index}]"
        _taken(b, entry)
        raw_request = entry.request
        if raw_request is None:
            b.bad(f"{where}.request", "Each entry of a transaction needs a request.")
        elif raw_request.get("method") != "POST":
            b.bad(f"{where}.request.method", "Only POST (create) is taken here.", "not-supported")
        if isinstance(url := (raw_request or {}).get("url"), str) and url != entry.kind:
            # FHIR R4 http.html#transaction: a create's url is the type it creates.
            b.bad(
                f"{where}.request.url",
                f"The request's url must name the resource's type ({entry.kind}), not {url[:60]}.",
            )
            b.status = 400
        if entry.full_url:
            earlier = b.by_url.get(entry.full_url)
            if earlier is not None:
                b.bad(
                    f"{where}.fullUrl",
                    f"{entry.full_url} is also the fullUrl of Bundle.entry[{earlier.index}]; "
                    "each entry needs its own.",
                )
                continue
            b.by_url[entry.full_url] = entry
            if "id" in entry.resource:
                b.by_url[f"{entry.kind}/{entry.resource['id']}"] = entry
    _dangling_references(b)
    patients = [e for e in b.entries if e.kind == "Patient"]
    requests = [e for e in b.entries if e.kind in REQUEST_TYPES]
    if len(patients) != 1:
        b.bad("Bundle.entry", "A referral bundle holds exactly one Patient.", "required")
    if not requests:
        b.bad("Bundle.entry", "A referral bundle holds a ServiceRequest or a DeviceRequest.")
    if b.issues:
        return {}
    first = requests[0]
    draft: dict[str, Any] = {
        "channel": Channel.fhir.value,
        "member": _member(b, patients[0]),
        "items": [_item(b, e, n) for n, e in enumerate(requests)],
        "diagnoses": _diagnoses(b),
    }
    _order(b, first, draft)
    coverage = _coverage(b)
    if coverage is not None:
        draft["coverage"] = coverage
    return draft


def _taken(b: _Builder, entry: Entry) -> None:
    """An entry's resource is one a referral takes, and holds no contained resource."""
    if entry.kind not in ACCEPTED_TYPES:
        b.bad(
            f"{entry.path}.resourceType",
            f"A referral bundle does not take a {entry.kind}.",
            "not-supported",
        )
    if entry.resource.get("contained"):
        # What a contained resource says (a diagnosis, a coverage) would be dropped
        # without a word: refused, like any element the referral cannot keep.
        b.bad(
            f"{entry.path}.contained",
            "Contained resources are not read; send each as an entry of the bundle, "
            "referred to by its fullUrl.",
            "not-supported",
        )


def _dangling_references(b: _Builder) -> None:
    """Every ``urn:uuid`` reference, in any element of any entry, must be the fullUrl of
    an entry: the server cannot resolve it anywhere else (FHIR R4 transaction rules).
    Looked for first without the paths; the paths are worked out only for a bundle that
    has such a reference, or may have one."""
    if _all_resolved(b):
        return
    for entry in b.entries:
        stack: list[tuple[str, Any]] = [(entry.path, entry.resource)]
        while stack:
            path, node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("reference")
                if isinstance(ref, str) and ref.startswith("urn:uuid:") and ref not in b.by_url:
                    b.bad(f"{path}.reference", f"{ref} is not the fullUrl of any entry.")
                stack.extend((f"{path}.{key}", value) for key, value in node.items())
            elif isinstance(node, list):
                stack.extend((f"{path}[{n}]", value) for n, value in enumerate(node))


def _all_resolved(b: _Builder) -> bool:
    """Whether every ``urn:uuid`` reference is the fullUrl of an entry, found without
    paths. In a JSON text with no backslash every string is written as it is, so each
    match of :data:`_URN_REFERENCE` is a ``reference`` key and its value, and every
    such pair is a match: the Bundle's own elements are read with the entries', so a
    match that resolves to nothing only sends the entries to the walk that names it."""
    if b.text is not None and b"\\" not in b.text:
        return all(ref.decode() in b.by_url for ref in _URN_REFERENCE.findall(b.text))
    return all(_resolved(entry.resource, b.by_url) for entry in b.entries)


#: A ``reference`` holding a ``urn:uuid``, in a JSON text with no backslash.
_URN_REFERENCE = re.compile(rb'"reference"\s*:\s*"(urn:uuid:[^"]*)"')


def _resolved(resource: Any, by_url: Mapping[str, Any]) -> bool:
    """Whether every ``urn:uuid`` reference in ``resource`` is a key of ``by_url`` (the
    resource walked a level at a time, its objects and arrays only)."""
    level = [resource]
    while level:
        below: list[Any] = []
        for node in level:
            if type(node) is dict:
                ref = node.get("reference")
                if type(ref) is str and ref.startswith("urn:uuid:") and ref not in by_url:
                    return False
                node = node.values()  # noqa: PLW2901 - its children
            below += [child for child in node if type(child) in _CONTAINERS]
        level = below
    return True


_CONTAINERS = (dict, list)


def _name(resource: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    names = resource.get("name") or []
    for index, name in enumerate(names):
        if name.get("use") in ("official", "usual"):
            return index, name
    return (0, names[0]) if names else None


def _member(b: _Builder, entry: Entry) -> dict[str, Any]:
    r, base = entry.resource, entry.path
    member: dict[str, Any] = {}
    b.expressions["member"] = base
    found = _name(r)
    if found is not None:
        index, name = found
        given = name.get("given") or []
        if given:
            member["first_name"] = given[0]
        if name.get("family") is not None:
            member["last_name"] = name["family"]
        b.expressions["member.first_name"] = f"{base}.name[{index}].given[0]"
        b.expressions["member.last_name"] = f"{base}.name[{index}].family"
    else:
        b.expressions["member.first_name"] = b.expressions["member.last_name"] = f"{base}.name"
    if "birthDate" in r:
        member["birth_date"] = r["birthDate"]
    b.expressions["member.birth_date"] = f"{base}.birthDate"
    if "gender" in r:
        member["sex"] = r["gender"]
        b.expressions["member.sex"] = f"{base}.gender"
    mrn = _medical_record_number(b, r, base)
    if mrn is not None:
        member["hospital_mrn"] = mrn
    for index, telecom in enumerate(r.get("telecom") or []):
        if telecom.get("system") == "phone" and telecom.get("value"):
            member["phone"] = telecom["value"]
            b.expressions["member.phone"] = f"{base}.telecom[{index}].value"
            break
    for index, comm in enumerate(r.get("communication") or []):
        coding = (comm.get("language") or {}).get("coding") or []
        if coding and coding[0].get("code"):
            member["language"] = coding[0]["code"]
            b.expressions["member.language"] = f"{base}.communication[{index}].language"
            break
    addresses = r.get("address") or []
    if addresses:
        member["address"] = _address(b, addresses[0], f"{base}.address[0]")
    return member


def _medical_record_number(b: _Builder, r: dict[str, Any], base: str) -> dict[str, Any] | None:
    """The hospital's record number: the first identifier typed MR (v2-0203), with its
    assigning authority from ``assigner`` (identifier value or display), else ``system``."""
    for index, ident in enumerate(_identifiers(r)):
        codings = ((ident.get("type") or {}).get("coding")) or []
        if not any(
            c.get("code") == codes.MEDICAL_RECORD
            and c.get("system") in (None, codes.IDENTIFIER_TYPE)
            for c in codings
        ):
            continue
        where = f"{base}.identifier[{index}]"
        assigner = ident.get("assigner") or {}
        authority = (
            (assigner.get("identifier") or {}).get("value")
            or assigner.get("display")
            or ident.get("system")
        )
        b.expressions["member.hospital_mrn"] = where
        b.expressions["member.hospital_mrn.value"] = f"{where}.value"
        b.expressions["member.hospital_mrn.assigning_authority"] = f"{where}.assigner"
        return {"value": ident.get("value"), "assigning_authority": authority}
    return None


def _address(b: _Builder, a: dict[str, Any], base: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lines = a.get("line") or []
    for n, key in enumerate(("line1", "line2")):
        if len(lines) > n:
            out[key] = lines[n]
            b.expressions[f"member.address.{key}"] = f"{base}.line[{n}]"
    for fhir_key, key in (("city", "city"), ("state", "state"), ("postalCode", "zip")):
        if a.get(fhir_key):
            out[key] = a[fhir_key]
            b.expressions[f"member.address.{key}"] = f"{base}.{fhir_key}"
    b.expressions["member.address"] = base
    return out


def _coverage(b: _Builder) -> dict[str, Any] | None:
    found = [e for e in b.entries if e.kind == "Coverage"]
    if not found:
        return None
    if len(found) > 1:
        b.bad(f"{found[1].path}", "A referral bundle holds one Coverage.")
    entry = found[0]
    r, base = entry.resource, entry.path
    out: dict[str, Any] = {}
    b.expressions["coverage"] = base
    b.resolve(r.get("beneficiary"), f"{base}.beneficiary", ("Patient",))
    if r.get("subscriberId"):
        out["member_id"] = r["subscriberId"]
        b.expressions["coverage.member_id"] = f"{base}.subscriberId"
    elif r.get("identifier"):
        out["member_id"] = r["identifier"][0].get("value")
        b.expressions["coverage.member_id"] = f"{base}.identifier[0].value"
    for index, cls in enumerate(r.get("class") or []):
        kinds = {c.get("code") for c in (cls.get("type") or {}).get("coding") or []}
        if "group" in kinds:
            out["group_number"] = cls.get("value")
            b.expressions["coverage.group_number"] = f"{base}.class[{index}].value"
    payor = (r.get("payor") or [{}])[0]
    where = f"{base}.payor[0]"
    b.expressions["coverage.payer_id"] = b.expressions["coverage.payer_name"] = where
    org = b.resolve(payor, where, ("Organization",))
    source = org.resource if org else payor
    for ident in _identifiers(source):
        if ident.get("system") == codes.PAYER and ident.get("value"):
            out["payer_id"] = ident["value"]
    name = source.get("name") if org else payor.get("display")
    if name and "payer_id" not in out:
        out["payer_name"] = name
    return out


def _identifiers(source: dict[str, Any]) -> list[dict[str, Any]]:
    raw = source.get("identifier")
    if isinstance(raw, dict):
        return [raw]
    return list(raw or [])


def _practitioner(b: _Builder, requester: Any, where: str) -> dict[str, Any] | None:
    """The ordering clinician: the request's requester (a Practitioner, or a
    PractitionerRole naming one and its organisation), else the bundle's Practitioner."""
    target = b.resolve(requester, where, ("Practitioner", "PractitionerRole"))
    role: Entry | None = None
    if target is not None and target.kind == "PractitionerRole":
        role = target
        target = b.resolve(
            target.resource.get("practitioner"), f"{role.path}.practitioner", ("Practitioner",)
        )
    if target is None:
        found = [e for e in b.entries if e.kind == "Practitioner"]
        target = found[0] if len(found) == 1 else None
    if role is None and target is not None:
        role = next(
            (
                e
                for e in b.entries
                if e.kind == "PractitionerRole"
                and (e.resource.get("practitioner") or {}).get("reference") == target.full_url
            ),
            None,
        )
    if target is None:
        return None
    return _clinician(b, target, role)


def _clinician(b: _Builder, entry: Entry, role: Entry | None) -> dict[str, Any]:
    r, base = entry.resource, entry.path
    out: dict[str, Any] = {}
    b.expressions["ordering_provider"] = base
    for index, ident in enumerate(_identifiers(r)):
        if ident.get("system") != codes.NPI:
            continue
        where = f"{base}.identifier[{index}].value"
        value = str(ident.get("value") or "")
        problem = npi_problem(value)
        if problem:
            b.bad(where, f"The NPI {problem}.", "value")
        out["npi"] = value
        b.expressions["ordering_provider.npi"] = where
        b.expressions["signed_order.signer_npi"] = where
        break
    found = _name(r)
    if found is not None:
        index, name = found
        text = name.get("text") or " ".join(
            [*(name.get("prefix") or []), *(name.get("given") or []), name.get("family") or ""]
        )
        out["name"] = text.strip()
        b.expressions["ordering_provider.name"] = f"{base}.name[{index}]"
    telecoms = [(base, r.get("telecom") or [])]
    if role is not None:
        telecoms.append((role.path, role.resource.get("telecom") or []))
        org = b.resolve(
            role.resource.get("organization"), f"{role.path}.organization", ("Organization",)
        )
        if org is not None and org.resource.get("name"):
            out["organization"] = org.resource["name"]
            b.expressions["ordering_provider.organization"] = f"{org.path}.name"
    for path, items in telecoms:
        for index, telecom in enumerate(items):
            kind = telecom.get("system")
            if kind in ("phone", "fax") and kind not in out and telecom.get("value"):
                out[kind] = telecom["value"]
                b.expressions[f"ordering_provider.{kind}"] = f"{path}.telecom[{index}].value"
    return out


def _diagnoses(b: _Builder) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in (e for e in b.entries if e.kind == "Condition"):
        b.resolve(entry.resource.get("subject"), f"{entry.path}.subject", ("Patient",))
        coding = (entry.resource.get("code") or {}).get("coding") or []
        index = next(
            (i for i, c in enumerate(coding) if c.get("system") in codes.ICD10CM_SYSTEMS), None
        )
        if index is None:
            b.bad(
                f"{entry.path}.code.coding", f"Code the diagnosis in ICD-10-CM ({codes.ICD10CM})."
            )
            continue
        where = f"{entry.path}.code.coding[{index}].code"
        value = str(coding[index].get("code") or "")
        status = check_icd10(value).status
        if status is Icd10Status.malformed:
            b.bad(
                where,
                f"{value!r} is not written like an ICD-10-CM code (e.g. J44.1).",
                "code-invalid",
            )
        elif status is Icd10Status.unknown:
            b.bad(where, f"{value} is not in the ICD-10-CM code set.", "code-invalid")
        b.expressions[f"diagnoses.{len(out)}.code"] = where
        b.expressions[f"diagnoses.{len(out)}"] = where
        out.append({"code": value})
    if not out:
        b.expressions["diagnoses"] = "Bundle.entry"
    return out


def _item(b: _Builder, entry: Entry, n: int) -> dict[str, Any]:
    r, base = entry.resource, entry.path
    key = "code" if entry.kind == "ServiceRequest" else "codeCodeableConcept"
    concept = r.get(key) or {}
    coding = concept.get("coding") or []
    index = next((i for i, c in enumerate(coding) if c.get("system") in codes.ITEM_SYSTEMS), None)
    b.expressions[f"items.{n}"] = base
    b.resolve(r.get("subject"), f"{base}.subject", ("Patient",))
    if index is None:
        b.bad(f"{base}.{key}", "Code the order in HCPCS or CPT.", "required")
        return {"code": "?", "code_system": "HCPCS", "quantity": 1}
    where = f"{base}.{key}.coding[{index}].code"
    system = codes.ITEM_SYSTEMS[coding[index]["system"]]
    value = str(coding[index].get("code") or "")
    problem = code_format_problem(value, system.value)
    if problem:
        b.bad(where, f"{value!r}: {problem}.", "code-invalid")
    elif codes.request_type(value, system) != entry.kind:
        b.bad(
            f"{base}.resourceType",
            f"{value.upper()} is ordered as a {codes.request_type(value, system)}.",
            "business-rule",
        )
    b.expressions[f"items.{n}.code"] = where
    b.expressions[f"items.{n}.code_system"] = f"{base}.{key}.coding[{index}].system"
    item: dict[str, Any] = {"code": value, "code_system": system.value, "quantity": 1}
    text = concept.get("text") or coding[index].get("display")
    if text:
        item["description"] = text
        b.expressions[f"items.{n}.description"] = f"{base}.{key}"
    _quantity(b, entry, n, item)
    frequency = _frequency(r.get("occurrenceTiming"))
    if frequency:
        item["frequency"] = frequency
        b.expressions[f"items.{n}.frequency"] = f"{base}.occurrenceTiming"
    return item


def _quantity(b: _Builder, entry: Entry, n: int, item: dict[str, Any]) -> None:
    r, base = entry.resource, entry.path
    if entry.kind == "ServiceRequest" and "quantityQuantity" in r:
        value, where = r["quantityQuantity"].get("value"), f"{base}.quantityQuantity.value"
    else:
        found = next(
            (i for i, p in enumerate(r.get("parameter") or []) if "valueQuantity" in p), None
        )
        if found is None:
            return
        value = r["parameter"][found]["valueQuantity"].get("value")
        where = f"{base}.parameter[{found}].valueQuantity.value"
    b.expressions[f"items.{n}.quantity"] = where
    if isinstance(value, (int, float)) and float(value).is_integer():
        item["quantity"] = int(value)
    else:
        b.bad(where, "The quantity must be a whole number.")


def _frequency(timing: Any) -> str | None:
    if not isinstance(timing, dict):
        return None
    text = (timing.get("code") or {}).get("text")
    if text:
        return str(text)
    repeat = timing.get("repeat") or {}
    if not repeat.get("frequency") or not repeat.get("periodUnit"):
        return None
    unit = _UNITS.get(repeat["periodUnit"], repeat["periodUnit"])
    period = repeat.get("period") or 1
    every = f"per {unit}" if period == 1 else f"every {period:g} {unit}s"
    return f"{repeat['frequency']}x {every}"


def _order(b: _Builder, first: Entry, draft: dict[str, Any]) -> None:
    """What the first request says of the whole order: who ordered it, when it was
    signed, the order's id at the source, its priority and requested start, its notes."""
    r, base = first.resource, first.path
    clinician = _practitioner(b, r.get("requester"), f"{base}.requester")
    if clinician is not None:
        draft["ordering_provider"] = clinician
    for index, insurance in enumerate(r.get("insurance") or []):
        b.resolve(insurance, f"{base}.insurance[{index}]", ("Coverage",))
    identifiers = _identifiers(r)
    if identifiers and identifiers[0].get("value"):
        draft["external_id"] = identifiers[0]["value"]
        b.expressions["external_id"] = f"{base}.identifier[0].value"
    if r.get("priority") in _PRIORITY:
        draft["urgency"] = _PRIORITY[r["priority"]]
        b.expressions["urgency"] = f"{base}.priority"
    start = (r.get("occurrencePeriod") or {}).get("start") or r.get("occurrenceDateTime")
    if isinstance(start, str):
        draft["requested_start"] = start[:10]
        b.expressions["requested_start"] = f"{base}.occurrence"
    # An active order with its authoring date and requester is the signed order.
    if r.get("status") == "active" and isinstance(r.get("authoredOn"), str):
        signed: dict[str, Any] = {"signed_on": r["authoredOn"][:10]}
        if clinician and clinician.get("npi"):
            signed["signer_npi"] = clinician["npi"]
        draft["signed_order"] = signed
        b.expressions["signed_order.signed_on"] = f"{base}.authoredOn"
    b.expressions.setdefault("signed_order", f"{base}.authoredOn")
    notes = [n.get("text") for n in r.get("note") or [] if n.get("text")]
    if notes:
        draft["notes"] = "\n".join(notes)
        b.expressions["notes"] = f"{base}.note"


def _validated(b: _Builder, draft: dict[str, Any]) -> ReferralCreate | None:
    if b.issues:
        return None
    try:
        return ReferralCreate.model_validate_json(json.dumps(draft))
    except ValidationError as exc:
        for error in field_errors(list(exc.errors(include_url=False, include_input=False))):
            b.issues.append(_field_issue(b, error))
        return None


def _field_issue(b: _Builder, error: FieldError) -> Issue:
    path = error.field
    while path and path not in b.expressions:
        path = path.rpartition(".")[0]
    return Issue("error", "invalid", error.message, b.expressions.get(path, "Bundle"))


def _conditional(b: _Builder) -> tuple[str | None, str] | None:
    for entry in b.entries:
        if entry.kind not in REQUEST_TYPES or not entry.if_none_exist:
            continue
        query = parse_qs(entry.if_none_exist.lstrip("?"))
        values = query.get("identifier")
        if not values:
            b.bad(
                f"Bundle.entry[{entry.index}].request.ifNoneExist",
                "Conditional create is supported on identifier only.",
                "not-supported",
            )
            raise FhirError(422, b.issues)
        system, sep, value = values[0].rpartition("|")
        if value not in {str(i.get("value")) for i in _identifiers(entry.resource)}:
            b.bad(
                f"Bundle.entry[{entry.index}].request.ifNoneExist",
                "ifNoneExist must name the request's own identifier.",
            )
            raise FhirError(422, b.issues)
        return (system or None) if sep else None, value
    return None
