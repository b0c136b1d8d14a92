"""The provider onboarding contract (fields may be added, never renamed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from careloop.codes import HcpcsCategory, ServiceLine
from careloop.core.dates import RecordDate
from careloop.core.text import Line, Name, ShortCode, clean_line
from careloop.network.rules import CredentialKind, ItemState

_STRICT = ConfigDict(extra="forbid", strict=True)

Zip = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$"), AfterValidator(clean_line)]
State = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(clean_line)]


class ServiceLineIn(BaseModel):
    model_config = _STRICT
    service_line: ServiceLine
    categories: list[HcpcsCategory] = Field(min_length=1, max_length=30)
    daily_capacity: int = Field(ge=0, le=10_000, description="New referrals per day")


class CountyIn(BaseModel):
    model_config = _STRICT
    state: State
    county: Line = Field(examples=["Hartford County"])


class ServiceAreaIn(BaseModel):
    model_config = _STRICT
    zip_codes: list[Zip] = Field(default_factory=list, max_length=2000)
    counties: list[CountyIn] = Field(default_factory=list, max_length=200)


class FeeIn(BaseModel):
    model_config = _STRICT
    code: Annotated[str, StringConstraints(min_length=5, max_length=5), AfterValidator(clean_line)]
    mode: Literal["rental", "purchase", "service"]
    allowed_amount: Decimal = Field(gt=0, le=1_000_000, max_digits=10, decimal_places=2)


class NetworkIn(BaseModel):
    model_config = _STRICT
    payer_id: ShortCode = Field(description="The payer's CareLoop code, e.g. NEHP")
    effective_from: RecordDate
    effective_to: RecordDate | None = None
    fee_schedule: list[FeeIn] = Field(default_factory=list, max_length=2000)


class CredentialIn(BaseModel):
    model_config = _STRICT
    kind: CredentialKind
    identifier: ShortCode | None = Field(default=None, description="Licence or roster number")
    state: State | None = None
    attested_on: RecordDate | None = None
    expires_on: RecordDate | None = None


PROVIDER_EXAMPLE: dict[str, Any] = {
    "legal_name": "Charter Oak Home Medical LLC",
    "npi": "1245319599",
    "ein": "06-1234567",
    "taxonomy_code": "332B00000X",
    "phone": "860-555-0110",
    "after_hours_phone": "860-555-0111",
    "contact_name": "Luis Mendes",
    "contact_email": "intake@charteroak.example",
    "state": "CT",
    "languages": ["en", "es"],
    "service_lines": [
        {"service_line": "dme", "categories": ["oxygen", "hospital_bed"], "daily_capacity": 5}
    ],
    "service_area": {
        "zip_codes": ["06103"],
        "counties": [{"state": "CT", "county": "Hartford County"}],
    },
    "networks": [
        {
            "payer_id": "NEHP",
            "effective_from": "2026-01-01",
            "fee_schedule": [{"code": "E1390", "mode": "rental", "allowed_amount": "178.50"}],
        }
    ],
    "credentials": [
        {"kind": "licence", "identifier": "HME.0001234", "state": "CT", "expires_on": "2027-06-30"}
    ],
}


class ProviderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [cast(JsonValue, PROVIDER_EXAMPLE)]},
    )
    legal_name: Name
    npi: ShortCode
    ein: ShortCode
    taxonomy_code: ShortCode
    phone: ShortCode
    after_hours_phone: ShortCode | None = None
    contact_name: Line | None = None
    contact_email: Line | None = None
    state: State
    languages: list[ShortCode] = Field(default_factory=list, max_length=20)
    service_lines: list[ServiceLineIn] = Field(min_length=1, max_length=3)
    service_area: ServiceAreaIn
    networks: list[NetworkIn] = Field(default_factory=list, max_length=50)
    credentials: list[CredentialIn] = Field(default_factory=list, max_length=50)


class ChecklistItemRead(BaseModel):
    item: str
    state: ItemState
    message: str
    expires_on: date | None


class ServiceLineRead(BaseModel):
    service_line: str
    categories: list[str]
    daily_capacity: int


class NetworkRead(BaseModel):
    payer_id: str
    payer_name: str
    effective_from: date
    effective_to: date | None
    fee_schedule_entries: int


class CredentialRead(BaseModel):
    id: int
    kind: CredentialKind
    identifier: str | None
    state: str | None
    attested_on: date | None
    expires_on: date | None


class ProviderRead(BaseModel):
    id: int
    legal_name: str
    npi: str
    ein: str
    taxonomy_code: str
    phone: str
    after_hours_phone: str | None
    contact_name: str | None
    contact_email: str | None
    state: str
    languages: list[str]
    service_lines: list[ServiceLineRead]
    zip_codes: list[str]
    counties: list[str]
    networks: list[NetworkRead]
    credentials: list[CredentialRead]
    offerable: bool = Field(description="May be offered new referrals today")
    checklist: list[ChecklistItemRead]
    warnings: list[str]


class ProviderSummary(BaseModel):
    id: int
    legal_name: str
    npi: str
    state: str
    service_lines: list[str]
    offerable: bool
    offerable_until: date | None


class ProviderPage(BaseModel):
    items: list[ProviderSummary]
    total: int
    limit: int
    offset: int
