"""Matching latency: ranked candidates for one referral through the service, next to the bare
SQL pre-filter measured in the same run, and the throughput of a batch of referrals.

    make bench                        # or: .venv/bin/python bench/matching.py
    .venv/bin/python bench/matching.py --quick
    .venv/bin/python bench/matching.py --explain   # + EXPLAIN ANALYZE of the pre-filter
    .venv/bin/python bench/matching.py --keep-db   # then --reuse-db: skip generating it again

What runs (DESIGN.md §7: figures are ratios against the machine's own limit):

* a dedicated database, ``careloop_bench_matching`` on the server that
  CARELOOP_BENCH_POSTGRES_URL names (default postgresql://postgres@127.0.0.1:5432/postgres),
  dropped, recreated and migrated with ``upgrade_database`` on every run;
* synthetic data loaded with COPY (not through the services): 4 payers; 10,000 providers
  with home ZIP codes in 10 states (``zipcodes``), placed where ZIP codes are dense (a
  proxy for population), each serving its 10-60 nearest ZIP codes and/or 1-3 counties
  around it, with service lines, item categories, daily capacity, 1-4 payer networks with
  effective dates, credentials and the stored offerability summary (~90 % checklist
  complete, a few % lapsed); 100,000 referrals received over the last 90 days, placed the
  same way, with real HCPCS items (``careloop.codes.hcpcs_table``) and the service class
  the items give, ~80 % acknowledged (the ones matched), the rest placed or offered today;
  offers (declined, expired, accepted, pending) and timeline events with their provider,
  so that the track-record and capacity look-ups have rows to count; then VACUUM ANALYZE;
* every measurement runs in worker processes started like a server worker (code sets
  loaded, then ``gc.freeze()``, as careloop.app does), not in the process that generated
  the rows;
* bare SQL: the ranking pre-filter, the statement ``matching.repository.candidates``
  builds for the eligible providers, captured from that function with a stand-in session
  and compiled by SQLAlchemy for psycopg, executed with plain psycopg (autocommit, rows
  fetched) for sampled acknowledged referrals, with the inputs the service derives;
* service: ``matching.service.find_candidates`` for the same referrals, each in its own
  ``Database.unit_of_work()`` (reading the case with its items and payer, writing its audit
  record, one statement for the same pre-filter with the first 20 other providers of the
  area and the track records, ranking, the response model and the durable commit), on a
  fixed clock, as SYSTEM_ACTOR when its role may match, else as a case manager;
* batch: 10,000 referrals through ``matching.service.rank_batch`` (the batch use case:
  ranked candidates without the explanation of the others, each case audited), one unit
  of work per 100 referrals, spread over ``--workers`` processes (default: one per core),
  next to the bare pre-filter of the same referrals on as many connections; stopped after
  ``--batch-limit`` seconds;
* the bare and service passes alternate over ``--runs`` runs; a run during which other
  processes on the machine used more than a fifth of a core is repeated (at most as many
  times again) and not counted; figures are medians over the counted runs, and each ratio
  is the median of the per-run ratios; then the steps of ``find_candidates`` are timed in
  a separate pass, and the pre-filter of a typical referral is explained.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import math
import multiprocessing
import os
import random
import signal
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import psycopg
import zipcodes
from psycopg import sql
from sqlalchemy.dialects.postgresql import psycopg as sa_psycopg

from _common import (
    HOST,
    BenchError,
    add_database_options,
    descendants_of_me,
    drop_database,
    machine_cpu,
    median,
    percentile,
    proc_entries,
    recreate_database,
    run_main,
    say,
    server_facts,
    sqlalchemy_url,
    wait_for_quiet,
    with_database,
)
from careloop.audit import service as audit_service
from careloop.codes import (
    HcpcsCategory,
    HcpcsItem,
    ServiceLine,
    SupplyMode,
    hcpcs_table,
    warm_up,
    zip_info,
)
from careloop.codes.npi import make_npi
from careloop.core.actor import SYSTEM_ACTOR, Actor, Role
from careloop.core.clock import FixedClock
from careloop.db.migrate import upgrade_database
from careloop.db.session import Database
from careloop.identity.permissions import may
from careloop.matching import repository as matching_repository
from careloop.matching import rules as matching_rules
from careloop.matching import service as matching_service
from careloop.matching.repository import PrefilterInputs
from careloop.referral import assignment
from careloop.referral.enums import Channel, CodeSystem, Urgency
from careloop.referral.rules import duplicate_key, service_class

DEFAULT_DB_NAME = "careloop_bench_matching"

# Targets of the matching issue.
TARGET_MEDIAN_MS = 10.0
TARGET_P99_MS = 30.0
TARGET_BATCH_S = 30.0
TARGET_BATCH_SIZE = 10_000

# Ten states, north-east to Georgia: big cities, suburbs and rural counties.
STATES = ("CT", "MA", "RI", "NH", "NY", "NJ", "PA", "OH", "IL", "GA")
PAYERS = (
    ("NEHP", "New England Health Plan"),
    ("ATLC", "Atlantic Care Medicaid"),
    ("LKMA", "Lakes Medicare Advantage"),
    ("PDMT", "Piedmont Commercial"),
)
PAYER_WEIGHTS = (35, 30, 20, 15)
CASE_MANAGER_ID = 1
COORDINATOR_ORG_ID = 1
REFERRER_ORGS = 60
# Machine busy above this share of all cores (other work) makes the figures unreliable.
QUIET_PCT = 15.0
# A run during which other processes used more than this share of one core is repeated.
DISTURBED_PCT = 20.0
# ---- small utilities ----------------------------------------------------------------------


def check_local(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in (HOST, "localhost"):
        raise BenchError(f"the bench only targets PostgreSQL on {HOST}, not {host!r}")


def own_cpu_seconds(bench_backends: Iterable[int]) -> float:
    """CPU seconds of this bench, its workers and their PostgreSQL backends."""
    entries = list(proc_entries())
    ours = descendants_of_me(entries) | set(bench_backends)
    return sum(cpu for pid, _, _, cpu in entries if pid in ours)


class OtherWork:
    """Share of one core that other work used during a pass: the whole machine's busy time
    less this bench's processes and its database's backends (other sessions' PostgreSQL
    work counts as other work)."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.busy0 = self.own0 = self.started = 0.0
        self.pct = 0.0

    def _backends(self) -> list[int]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def start(self) -> OtherWork:
        self.own0 = own_cpu_seconds(self._backends())
        self.busy0 = machine_cpu()[0]
        self.started = time.perf_counter()
        return self

    def stop(self) -> float:
        seconds = time.perf_counter() - self.started
        busy = machine_cpu()[0] - self.busy0
        own = own_cpu_seconds(self._backends()) - self.own0
        self.pct = max(0.0, 100 * (busy - own) / seconds) if seconds else 0.0
        return self.pct


# ---- geography ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Zip:
    code: str
    city: str
    state: str
    county: str
    time_zone: str
    lat: float
    lon: float


class Geography:
    """Standard, active ZIP codes of ``STATES`` with a county and time zone, on a grid of
    0.1 degree cells for nearest-neighbour look-ups, weighted by local ZIP density (a
    proxy for population: cities have many small ZIP codes)."""

    CELL = 0.1

    def __init__(self, states: Iterable[str], *, uniform: bool = False) -> None:
        wanted = set(states)
        zips = []
        for row in zipcodes.list_all():  # type: ignore[no-untyped-call]
            if (
                row["active"]
                and row["state"] in wanted
                and row["zip_code_type"] == "STANDARD"
                and row["county"]
                and row["timezone"]
                and row["lat"]
            ):
                zips.append(
                    Zip(
                        code=str(row["zip_code"]),
                        city=str(row["city"]),
                        state=str(row["state"]),
                        county=str(row["county"]),
                        time_zone=str(row["timezone"]),
                        lat=float(row["lat"]),
                        lon=float(row["long"]),
                    )
                )
        self.zips = zips
        self.grid: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, z in enumerate(zips):
            self.grid[self._cell(z.lat, z.lon)].append(index)
        self.weights = [1.0 if uniform else float(len(self._ring(i, 1))) for i in range(len(zips))]
        self._nearest: dict[int, list[int]] = {}

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self.CELL), math.floor(lon / self.CELL)

    def _ring(self, index: int, radius: int) -> list[int]:
        z = self.zips[index]
        cy, cx = self._cell(z.lat, z.lon)
        out: list[int] = []
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                out.extend(self.grid.get((cy + dy, cx + dx), ()))
        return out

    def nearest(self, index: int, k: int) -> list[int]:
        """The ``k`` ZIP codes nearest ``index`` (itself first)."""
        known = self._nearest.get(index)
        if known is not None and len(known) >= k:
            return known[:k]
        radius = 1
        found = self._ring(index, radius)
        while len(found) < 2 * k and radius < 40:
            radius += 1
            found = self._ring(index, radius)
        z = self.zips[index]
        scale = math.cos(math.radians(z.lat))

        def distance(other: int) -> float:
            o = self.zips[other]
            return (o.lat - z.lat) ** 2 + ((o.lon - z.lon) * scale) ** 2

        found.sort(key=distance)
        self._nearest[index] = found
        return found[:k]


# ---- synthetic data -----------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Maria James Linda Robert Patricia John Jennifer Michael Elizabeth David Barbara William "
    "Susan Richard Jessica Joseph Sarah Thomas Karen Charles Nancy Daniel Lisa Matthew Betty "
    "Anthony Margaret Mark Sandra Donald Ashley Steven Dorothy Paul Kimberly Andrew Emily Luis "
    "Rosa Wei Mei Nguyen Olga Ivan Ana Jose Carmen"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "O'Neil Kowalski Chen Wang Patel Cohen Murphy Sullivan"
)
# Languages a provider's staff speak (besides English) and a member may prefer.
LANGUAGES = (("es", 25), ("zh", 4), ("vi", 3), ("ru", 3), ("pt", 3), ("ht", 2), ("pl", 2))
MEMBER_LANGUAGES = ((None, 78), ("es", 12), ("es-MX", 2), ("zh", 2), ("vi", 2), ("ru", 2))
DIAGNOSES = {
    ServiceLine.dme: ("J44.1", "J96.11", "G47.33", "M17.11", "E11.9", "L89.154", "G35"),
    ServiceLine.home_health: ("I50.9", "J44.1", "Z48.812", "S72.001D", "E11.9", "I63.9"),
    ServiceLine.infusion: ("A41.9", "K50.90", "B20", "C50.911", "E43", "N39.0"),
}
TAXONOMY = {
    ServiceLine.dme: "332B00000X",
    ServiceLine.home_health: "251E00000X",
    ServiceLine.infusion: "3336H0001X",
}
LINE_OF_PROVIDER = (
    (ServiceLine.dme, 45),
    (ServiceLine.home_health, 35),
    (ServiceLine.infusion, 20),
)
LINE_OF_REFERRAL = (
    (ServiceLine.dme, 60),
    (ServiceLine.home_health, 25),
    (ServiceLine.infusion, 15),
)
# How often a supplier of the line offers each category (DME: the common ones most often).
CATEGORY_SHARE = {
    ServiceLine.dme: {
        HcpcsCategory.oxygen: 0.55,
        HcpcsCategory.respiratory: 0.55,
        HcpcsCategory.hospital_bed: 0.6,
        HcpcsCategory.support_surface: 0.45,
        HcpcsCategory.mobility: 0.75,
        HcpcsCategory.complex_rehab: 0.15,
        HcpcsCategory.patient_lift: 0.4,
        HcpcsCategory.bath_safety: 0.7,
        HcpcsCategory.wound_care: 0.45,
        HcpcsCategory.enteral: 0.3,
        HcpcsCategory.diabetic: 0.5,
        HcpcsCategory.orthotics: 0.35,
        HcpcsCategory.urological: 0.35,
        HcpcsCategory.ostomy: 0.35,
    },
    ServiceLine.home_health: {
        HcpcsCategory.nursing: 1.0,
        HcpcsCategory.therapy: 0.8,
        HcpcsCategory.aide: 0.7,
        HcpcsCategory.social_work: 0.4,
    },
    ServiceLine.infusion: {HcpcsCategory.infusion: 1.0, HcpcsCategory.enteral: 0.5},
}
CAPACITY = {
    ServiceLine.dme: (5, 40),
    ServiceLine.home_health: (2, 15),
    ServiceLine.infusion: (2, 10),
}


def weighted(rng: random.Random, pairs: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


@dataclass
class Dataset:
    """Rows per table (in COPY column order) and what the measurement needs to know."""

    now: datetime
    tables: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)  # case numbers that can be matched

    def add(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        self.tables[table] = (columns, rows)

    def count(self, table: str) -> int:
        return len(self.tables[table][1]) if table in self.tables else 0


@dataclass
class ProviderIndex:
    """Which providers serve a ZIP or a county, and which service lines each offers."""

    by_zip: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_county: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    lines: dict[int, set[ServiceLine]] = field(default_factory=lambda: defaultdict(set))

    def serving(self, z: Zip, line: ServiceLine) -> list[int]:
        found = set(self.by_zip.get(z.code, ())) | set(self.by_county.get((z.state, z.county), ()))
        return sorted(p for p in found if line in self.lines[p])


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def generate(
    geo: Geography, *, providers: int, referrals: int, now: datetime, seed: int
) -> Dataset:
    rng = random.Random(seed)
    data = Dataset(now=now)
    today = now.date()
    index = ProviderIndex()
    _reference_rows(data, now)
    _provider_rows(data, geo, index, providers, rng, now, today)
    _referral_rows(data, geo, index, referrals, rng, now, today)
    return data


def _reference_rows(data: Dataset, now: datetime) -> None:
    data.add(
        "payers",
        ("id", "code", "name", "rules", "active", "created_at"),
        [(i, code, name, "{}", True, now) for i, (code, name) in enumerate(PAYERS, start=1)],
    )
    data.add(
        "users",
        ("id", "email", "display_name", "role", "organization_id", "active", "created_at"),
        [
            (
                CASE_MANAGER_ID,
                "bench.case.manager@example.test",
                "Bench Case Manager",
                Role.case_manager.value,
                COORDINATOR_ORG_ID,
                True,
                now,
            )
        ],
    )


def _provider_rows(  # noqa: PLR0912, PLR0915 - one pass that builds every provider table
    data: Dataset,
    geo: Geography,
    index: ProviderIndex,
    count: int,
    rng: random.Random,
    now: datetime,
    today: date,
) -> None:
    orgs: list[tuple[Any, ...]] = [
        (COORDINATOR_ORG_ID, "CareLoop Coordination", "coordinator", now)
    ]
    for i in range(REFERRER_ORGS):
        orgs.append((2 + i, f"Referring Hospital {i + 1}", "referrer", now))
    providers, lines, areas, networks, credentials = [], [], [], [], []
    homes = rng.choices(range(len(geo.zips)), weights=geo.weights, k=count)
    first_org = 2 + REFERRER_ORGS
    for n, home_index in enumerate(homes):
        pid = n + 1
        home = geo.zips[home_index]
        primary: ServiceLine = weighted(rng, LINE_OF_PROVIDER)
        offered = [primary]
        if rng.random() < 0.15:
            offered.append(rng.choice([s for s in ServiceLine if s is not primary]))
        kind = {"dme": "Medical Supply", "home_health": "Home Health", "infusion": "Infusion"}
        name = f"{home.city} {kind[primary.value]} {pid}"
        orgs.append((first_org + n, name, "provider", now))
        complete = rng.random() < 0.9
        if not complete:
            until = None
        elif rng.random() < 0.04:
            until = today - timedelta(days=rng.randint(0, 90))  # a credential lapsed
        else:
            until = today + timedelta(days=rng.randint(1, 730))
        spoken = ["en"] + [lang for lang, pct in LANGUAGES if rng.random() * 100 < pct]
        providers.append(
            (
                pid,
                first_org + n,
                name,
                make_npi(f"1{pid:08d}"),
                f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}",
                TAXONOMY[primary],
                f"+1{rng.randint(2000000000, 9899999999)}",
                None,
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                f"intake{pid}@provider.example.test",
                home.state,
                json_text(spoken),
                rng.random() < 0.99,
                complete,
                until,
                now - timedelta(days=rng.randint(30, 1500)),
                now,
            )
        )
        for line in offered:
            shares = CATEGORY_SHARE[line]
            cats = sorted(c.value for c, share in shares.items() if rng.random() < share)
            if not cats:
                cats = [max(shares, key=lambda c: shares[c]).value]
            low, high = CAPACITY[line]
            lines.append((len(lines) + 1, pid, line.value, json_text(cats), rng.randint(low, high)))
            index.lines[pid].add(line)
        # Service area: ZIP codes around the home, counties around it, or both.
        shape = rng.random()
        if shape < 0.85:
            for zi in geo.nearest(home_index, rng.randint(10, 60)):
                z = geo.zips[zi]
                areas.append((len(areas) + 1, pid, z.code, z.state, None))
                index.by_zip[z.code].append(pid)
        if shape >= 0.55:
            counties: list[tuple[str, str]] = []
            for zi in geo.nearest(home_index, 120):
                z = geo.zips[zi]
                if (z.state, z.county) not in counties:
                    counties.append((z.state, z.county))
            for state, county in counties[: rng.randint(1, 3)]:
                areas.append((len(areas) + 1, pid, None, state, county))
                index.by_county[(state, county)].append(pid)
        # Payer networks: 1-4 payers, most open-ended, a few ended or starting later.
        for payer in rng.sample(
            range(1, len(PAYERS) + 1), weighted(rng, ((1, 30), (2, 35), (3, 25), (4, 10)))
        ):
            start = today - timedelta(days=rng.randint(30, 1500))
            end = None
            roll = rng.random()
            if roll < 0.06:
                end = today - timedelta(days=rng.randint(1, 25))
            elif roll < 0.10:
                end = today + timedelta(days=rng.randint(10, 300))
            elif roll < 0.13:
                start = today + timedelta(days=rng.randint(5, 60))
            networks.append((len(networks) + 1, pid, payer, start, end))
        # Credentials: the earliest required expiry is the stored offerable_until.
        kinds = ["licence", "w9", "caqh", "liability_insurance"]
        if primary is ServiceLine.dme:
            kinds.append("accreditation")
        if not complete:
            kinds.remove(rng.choice(kinds[:4]))
        for position, kind_name in enumerate(kinds):
            expires = None if kind_name == "w9" else today + timedelta(days=rng.randint(200, 1100))
            if until is not None and position == 0:
                expires = until
            credentials.append(
                (
                    len(credentials) + 1,
                    pid,
                    kind_name,
                    f"{kind_name.upper()}-{pid}",
                    home.state if kind_name == "licence" else None,
                    today - timedelta(days=rng.randint(1, 100)) if kind_name == "caqh" else None,
                    expires,
                    None,
                    now,
                )
            )
    data.add("organizations", ("id", "name", "kind", "created_at"), orgs)
    data.add(
        "providers",
        (
            "id",
            "organization_id",
            "legal_name",
            "npi",
            "ein",
            "taxonomy_code",
            "phone",
            "after_hours_phone",
            "contact_name",
            "contact_email",
            "state",
            "languages",
            "active",
            "checklist_complete",
            "offerable_until",
            "created_at",
            "updated_at",
        ),
        providers,
    )
    data.add(
        "provider_service_lines",
        ("id", "provider_id", "service_line", "categories", "daily_capacity"),
        lines,
    )
    data.add("provider_service_areas", ("id", "provider_id", "zip_code", "state", "county"), areas)
    data.add(
        "provider_networks",
        ("id", "provider_id", "payer_id", "effective_from", "effective_to"),
        networks,
    )
    data.add(
        "credentials",
        (
            "id",
            "provider_id",
            "kind",
            "identifier",
            "state",
            "attested_on",
            "expires_on",
            "detail",
            "created_at",
        ),
        credentials,
    )


REFERRAL_COLUMNS = (
    "id",
    "case_number",
    "external_id",
    "channel",
    "urgency",
    "status",
    "version",
    "member_first_name",
    "member_last_name",
    "member_birth_date",
    "member_sex",
    "member_phone",
    "member_language",
    "member_time_zone",
    "duplicate_key",
    "address_line1",
    "address_line2",
    "address_city",
    "address_state",
    "address_zip",
    "access_barriers",
    "payer_id",
    "payer_reference",
    "member_id",
    "group_number",
    "ordering_npi",
    "ordering_name",
    "ordering_organization",
    "ordering_phone",
    "ordering_fax",
    "diagnoses",
    "requested_start",
    "discharge_at",
    "signed_on",
    "signer_npi",
    "notes",
    "service_class",
    "time_zone",
    "findings",
    "escalated",
    "escalation_reason",
    "ack_due_at",
    "service_due_at",
    "received_at",
    "updated_at",
    "acknowledged_at",
    "acknowledged_by_user_id",
    "case_manager_name",
    "case_manager_extension",
    "cancelled_at",
    "cancel_reason",
    "referrer_organization_id",
    "created_by_user_id",
    "assigned_provider_id",
)
OFFER_COLUMNS = (
    "id",
    "referral_id",
    "provider_id",
    "status",
    "service_line",
    "rank",
    "score",
    "reasons",
    "offered_at",
    "respond_by",
    "offered_by_user_id",
    "responded_at",
    "responded_by_user_id",
    "decline_reason",
    "decline_note",
    "detail",
)
EVENT_COLUMNS = (
    "id",
    "referral_id",
    "at",
    "type",
    "actor_user_id",
    "actor_label",
    "channel",
    "provider_id",
    "data",
)


def _items_by_line() -> dict[ServiceLine, tuple[list[HcpcsItem], list[HcpcsItem]]]:
    """(common, complex) table rows of each service line."""
    out: dict[ServiceLine, tuple[list[HcpcsItem], list[HcpcsItem]]] = {
        line: ([], []) for line in ServiceLine
    }
    for item in sorted(hcpcs_table().values(), key=lambda i: i.code):
        out[item.service_line][1 if item.complex else 0].append(item)
    return out


def _rental(item: HcpcsItem, rng: random.Random) -> bool | None:
    if item.supply_mode is SupplyMode.rental:
        return True
    if item.supply_mode is SupplyMode.purchase:
        return False
    if item.supply_mode is SupplyMode.either:
        return rng.random() < 0.5
    return None


def _referral_rows(  # noqa: PLR0912, PLR0915 - one pass that builds the referral tables
    data: Dataset,
    geo: Geography,
    index: ProviderIndex,
    count: int,
    rng: random.Random,
    now: datetime,
    today: date,
) -> None:
    catalogue = _items_by_line()
    referrals, items, offers, events, audits = [], [], [], [], []
    places = rng.choices(range(len(geo.zips)), weights=geo.weights, k=count)
    channels = list(Channel)
    reasons = ("out_of_service_area", "no_capacity", "payer_not_accepted", "clinical_complexity")
    year = now.year

    def event(
        rid: int, at: datetime, kind: str, provider: int | None, payload: dict[str, Any]
    ) -> None:
        events.append(
            (
                len(events) + 1,
                rid,
                at,
                kind,
                CASE_MANAGER_ID,
                "Bench Case Manager",
                None,
                provider,
                json_text(payload),
            )
        )

    def offer(
        rid: int,
        provider: int,
        status: str,
        line: ServiceLine,
        at: datetime,
        answered: datetime | None,
    ) -> None:
        offers.append(
            (
                len(offers) + 1,
                rid,
                provider,
                status,
                line.value,
                1,
                round(rng.uniform(4.0, 9.5), 4),
                "[]",
                at,
                at + timedelta(hours=2),
                CASE_MANAGER_ID,
                answered,
                None,
                rng.choice(reasons) if status == "declined" else None,
                None,
                None,
            )
        )
        event(rid, at, "offer.made", provider, {"from": "acknowledged", "to": "offered"})
        if answered is not None:
            back = "accepted" if status == "accepted" else "acknowledged"
            event(rid, answered, f"offer.{status}", provider, {"from": "offered", "to": back})

    for n, place in enumerate(places):
        rid = n + 1
        z = geo.zips[place]
        line: ServiceLine = weighted(rng, LINE_OF_REFERRAL)
        common, complex_items = catalogue[line]
        chosen: list[HcpcsItem] = []
        for _ in range(weighted(rng, ((1, 60), (2, 30), (3, 10)))):
            pool = complex_items if complex_items and rng.random() < 0.06 else common
            item = rng.choice(pool)
            if item not in chosen:
                chosen.append(item)
        klass = service_class([(i.code, CodeSystem.HCPCS) for i in chosen])
        received = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        urgency = weighted(
            rng, ((Urgency.routine, 70), (Urgency.urgent, 20), (Urgency.discharge, 10))
        )
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        born = date(1930, 1, 1) + timedelta(days=rng.randint(0, 30000))
        age_days = (now - received).days
        serving = index.serving(z, line)
        # What happened to the case so far: most are acknowledged and waiting for an offer
        # (some after an offer lapsed), a fifth were placed, a few have an offer pending today.
        roll = rng.random()
        status = "acknowledged"
        if serving and age_days >= 2 and roll < 0.20:
            status = "accepted"
        elif serving and roll > 0.98:
            status = "offered"
            received = now - timedelta(seconds=rng.uniform(0, 6 * 3600))
        acknowledged = received + timedelta(minutes=rng.randint(10, 240))
        if status == "offered":
            acknowledged = received + timedelta(minutes=rng.randint(1, 30))
        assigned = None
        cursor = acknowledged + timedelta(minutes=rng.randint(15, 180))
        event(rid, received, "referral.received", None, {"channel": "portal"})
        event(rid, acknowledged, "referral.acknowledged", None, {"to": "acknowledged"})
        lapses = 0
        if status == "accepted":
            lapses = weighted(rng, ((0, 60), (1, 25), (2, 10), (3, 5)))
        elif status == "acknowledged" and serving and rng.random() < 0.15:
            lapses = rng.randint(1, 2)
        tried = rng.sample(serving, min(len(serving), lapses + 1)) if serving else []
        for provider in tried[:lapses]:
            answered = cursor + timedelta(minutes=rng.randint(5, 120))
            outcome = "declined" if rng.random() < 0.7 else "expired"
            if answered >= now:
                break
            offer(rid, provider, outcome, line, cursor, answered)
            cursor = answered + timedelta(minutes=rng.randint(1, 30))
        if status in ("accepted", "offered") and len(tried) > lapses:
            provider = tried[lapses]
            if status == "accepted":
                answered = min(cursor + timedelta(minutes=rng.randint(5, 120)), now)
                offer(rid, provider, "accepted", line, min(cursor, now), answered)
                assigned = provider
                start = answered + timedelta(days=rng.randint(0, 3))
                if start < now:
                    late = rng.random() < 0.15
                    kind = "service.started_late" if late else "service.started_on_time"
                    event(rid, start, kind, provider, {})
            else:
                offer(rid, provider, "pending", line, min(cursor, now), None)
        elif status in ("accepted", "offered"):
            status = "acknowledged"
        case_number = f"CL-{year}-{rid:06d}"
        if status == "acknowledged":
            data.acknowledged.append(case_number)
        for position, item in enumerate(chosen, start=1):
            items.append(
                (
                    len(items) + 1,
                    rid,
                    position,
                    item.code,
                    CodeSystem.HCPCS.value,
                    1,
                    "daily" if line is ServiceLine.infusion else None,
                    _rental(item, rng),
                    item.description[:300],
                )
            )
        referrals.append(
            (
                rid,
                case_number,
                f"EXT-{rid}" if rng.random() < 0.3 else None,
                rng.choice(channels).value,
                urgency.value,
                status,
                1,
                first,
                last,
                born,
                rng.choice(("F", "M")),
                f"+1{rng.randint(2000000000, 9899999999)}",
                weighted(rng, MEMBER_LANGUAGES),
                None,
                duplicate_key(first, last, born),
                f"{rng.randint(1, 9999)} {rng.choice(LAST_NAMES)} St",
                None,
                z.city,
                z.state,
                z.code,
                "[]",
                rng.choices(range(1, len(PAYERS) + 1), weights=PAYER_WEIGHTS)[0],
                None,
                f"M{rng.randint(10000000, 99999999)}",
                None,
                make_npi(f"2{rng.randint(0, 99999999):08d}"),
                f"Dr {rng.choice(LAST_NAMES)}",
                None,
                None,
                None,
                json_text([rng.choice(DIAGNOSES[line])]),
                received.date() + timedelta(days=rng.randint(0, 5)),
                received + timedelta(hours=rng.randint(4, 48))
                if urgency is Urgency.discharge
                else None,
                received.date(),
                None,
                None,
                klass.value,
                z.time_zone,
                "[]",
                False,
                None,
                received + timedelta(hours=4),
                received + timedelta(hours=72),
                received,
                max(cursor, acknowledged) if status != "acknowledged" else acknowledged,
                acknowledged,
                CASE_MANAGER_ID,
                None,
                None,
                None,
                None,
                2 + rng.randrange(REFERRER_ORGS),
                None,
                assigned,
            )
        )
        audits.append(
            (
                len(audits) + 1,
                received,
                None,
                "service",
                "intake",
                "referral.create",
                "success",
                case_number,
                rid,
                None,
                None,
                None,
            )
        )
    data.add("referrals", REFERRAL_COLUMNS, referrals)
    data.add(
        "referral_items",
        (
            "id",
            "referral_id",
            "line",
            "code",
            "code_system",
            "quantity",
            "frequency",
            "rental",
            "description",
        ),
        items,
    )
    data.add("offers", OFFER_COLUMNS, offers)
    data.add("referral_events", EVENT_COLUMNS, events)
    data.add(
        "audit_records",
        (
            "id",
            "at",
            "actor_user_id",
            "actor_role",
            "actor_label",
            "action",
            "outcome",
            "case_number",
            "referral_id",
            "ip",
            "request_id",
            "detail",
        ),
        audits,
    )


# ---- the database -------------------------------------------------------------------------


LOAD_ORDER = (
    "organizations",
    "users",
    "payers",
    "providers",
    "provider_service_lines",
    "provider_service_areas",
    "provider_networks",
    "credentials",
    "referrals",
    "referral_items",
    "offers",
    "referral_events",
    "audit_records",
)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def load(url: str, data: Dataset) -> dict[str, float]:
    """COPY every table in text format (rows formatted here, one write per ~1 MB), then
    move the id sequences past the loaded ids and ANALYZE. Returns seconds per step."""
    timings: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        for table in LOAD_ORDER:
            columns, rows = data.tables[table]
            started = time.perf_counter()
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with conn.cursor() as cur, cur.copy(statement) as copy:
                buffer = io.StringIO()
                for row in rows:
                    buffer.write("\t".join(map(_copy_text, row)))
                    buffer.write("\n")
                    if buffer.tell() > 1 << 20:
                        copy.write(buffer.getvalue())
                        buffer = io.StringIO()
                copy.write(buffer.getvalue())
            timings[table] = time.perf_counter() - started
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({}, 'id'), "
                        "(SELECT coalesce(max(id), 0) + 1 FROM {}), false)"
                    ).format(sql.Literal(table), sql.Identifier(table))
                )
        conn.execute("SELECT setval('case_number_seq', %s, false)", (data.count("referrals") + 1,))
        conn.commit()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


# ---- measuring: worker processes ----------------------------------------------------------
#
# Every measurement runs in a worker started with "spawn": a fresh interpreter that holds
# what a server process holds (the code sets, an engine), not the bench's generated rows,
# whose millions of objects would make the garbage collector's pauses part of the figures.

CASE_MANAGER = Actor(
    user_id=CASE_MANAGER_ID,
    role=Role.case_manager,
    organization_id=COORDINATOR_ORG_ID,
    display_name="Bench Case Manager",
)
# The issue asks for a service identity; it may match only when its role holds the
# permission find_candidates checks. Otherwise a case manager (whose work it is) matches.
MATCH_PERMISSION = "offer:manage"


def bench_actor() -> Actor:
    return SYSTEM_ACTOR if may(SYSTEM_ACTOR, MATCH_PERMISSION) else CASE_MANAGER


#: Referrals per transaction in the batch (matching.service.rank_batch).
BATCH_CHUNK = 100


class _NoRows(list[Any]):
    """The result of a captured statement: no rows, as a list or through ``all()``."""

    def all(self) -> list[Any]:
        return []


class _CapturingSession:
    """Stands in for a Session: keeps the statement ``repository.candidates`` builds."""

    def __init__(self) -> None:
        self.statement: Any = None
        self.params: dict[str, Any] | None = None

    def execute(self, statement: Any, params: Any = None, *_: Any, **__: Any) -> _NoRows:
        self.statement = statement
        self.params = params
        return _NoRows()

    def compile(self, dialect: Any) -> tuple[str, dict[str, Any]]:
        """The captured statement as SQL text for ``dialect`` and its parameter values
        (the ones bound at execution over those built into the statement)."""
        state = self.statement.compile(dialect=dialect).construct_expanded_state(self.params)
        return state.statement, {k: _plain(v) for k, v in state.parameters.items()}

    def connection(self) -> _CapturingSession:
        return self

    @property
    def dialect(self) -> Any:
        # Not PostgreSQL's: careloop.db.raw hands the statement to execute() rather than to
        # the driver's cursor, so that it is kept here.
        return SimpleNamespace(name="capture")

    def get_bind(self) -> Any:
        # The statements are compiled for PostgreSQL, which the bench runs on.
        return SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class PrefilterSql:
    """The pre-filter statement as SQL text for plain psycopg.

    The statement is built by ``repository.candidates`` itself (with a session that keeps
    it instead of executing it) and compiled by SQLAlchemy's psycopg dialect with its IN
    lists expanded, so the text is the one the service sends. Compiling costs ~2 ms, so
    each shape of the statement (payer and county known or not) is compiled once and its
    parameters are mapped to the inputs they come from; the mapping is checked against a
    full compile of a few referrals, and when it cannot be trusted every referral is
    compiled."""

    def __init__(self) -> None:
        self.dialect = sa_psycopg.dialect()  # type: ignore[no-untyped-call]
        self._templates: dict[tuple[bool, bool], tuple[str, dict[str, Any]] | None] = {}

    def compile(self, inputs: PrefilterInputs) -> tuple[str, dict[str, Any]]:
        capture = _CapturingSession()
        matching_repository.candidates(capture, eligible_only=True, **inputs)  # type: ignore[arg-type]
        return capture.compile(self.dialect)

    def _template(self, inputs: PrefilterInputs) -> tuple[str, dict[str, Any]] | None:
        """(SQL, {parameter: input name, or ("const", value)}), or None if ambiguous."""
        text, params = self.compile(inputs)
        sources = {name: _plain(value) for name, value in inputs.items()}
        mapping: dict[str, Any] = {}
        for param, value in params.items():
            found = [n for n, v in sources.items() if type(v) is type(value) and v == value]
            if len(found) > 1:
                return None
            mapping[param] = found[0] if found else ("const", value)
        return text, mapping

    def render(self, inputs: PrefilterInputs) -> tuple[str, dict[str, Any]]:
        shape = (inputs["payer_id"] is None, inputs["county"] is None)
        if shape not in self._templates:
            # Probe values no referral has, so that each parameter names its input.
            probe = PrefilterInputs(
                referral_id=987_654_321,
                payer_id=None if inputs["payer_id"] is None else 424_242,
                service_line="probe_line",
                zip_code="00000",
                state="QQ",
                county=None if inputs["county"] is None else "Probe County",
                service_date=date(2001, 2, 3),
                day_starts_at=datetime(2001, 2, 4, 5, tzinfo=UTC),
                today=date(2001, 2, 1),
            )
            template = self._template(probe)
            if template is not None and not self._trusted(template, probe):
                template = None
            self._templates[shape] = template
        template = self._templates[shape]
        if template is None:
            return self.compile(inputs)
        text, mapping = template
        return text, {
            param: source[1] if isinstance(source, tuple) else _plain(inputs[source])
            for param, source in mapping.items()
        }

    def _trusted(self, template: tuple[str, dict[str, Any]], probe: PrefilterInputs) -> bool:
        """The mapping gives what a full compile gives, for inputs that differ in each field."""
        text, mapping = template
        other = PrefilterInputs(
            referral_id=probe["referral_id"] + 7919,
            payer_id=None if probe["payer_id"] is None else probe["payer_id"] + 101,
            service_line=f"{probe['service_line']}_x",
            zip_code="99999" if probe["zip_code"] != "99999" else "99998",
            state="ZZ",
            county=None if probe["county"] is None else f"{probe['county']} X",
            service_date=probe["service_date"] + timedelta(days=3),
            day_starts_at=probe["day_starts_at"] + timedelta(hours=5),
            today=probe["today"] + timedelta(days=1),
        )
        expected = self.compile(other)
        mapped = {
            param: source[1] if isinstance(source, tuple) else _plain(other[source])
            for param, source in mapping.items()
        }
        return expected == (text, mapped)


_LINE_OF_CLASS = {
    "standard_dme": "dme",
    "complex_dme": "dme",
    "home_health": "home_health",
    "infusion": "infusion",
}


def prefilter_inputs(
    conn: psycopg.Connection[Any], case_numbers: Sequence[str], now: datetime
) -> dict[str, PrefilterInputs]:
    """The pre-filter inputs of many referrals from one query, derived as
    ``matching.service._match`` and ``referral.assignment`` derive them (checked against
    the service for a few referrals by ``check_inputs``)."""
    rows = conn.execute(
        "SELECT id, case_number, payer_id, service_class, address_zip, address_state, "
        "time_zone, requested_start FROM referrals WHERE case_number = ANY(%s)",
        (list(case_numbers),),
    ).fetchall()
    out = {}
    for rid, case_number, payer_id, klass, zip_code, state, zone, requested in rows:
        info = zip_info(zip_code) if zip_code else None
        today = now.astimezone(ZoneInfo(zone)).date()
        out[case_number] = PrefilterInputs(
            referral_id=rid,
            payer_id=payer_id,
            service_line=_LINE_OF_CLASS[klass],
            zip_code=(zip_code or "")[:5],
            state=state or (info.state if info else ""),
            county=info.county if info else None,
            service_date=max(requested or today, today),
            day_starts_at=datetime.combine(today, datetime.min.time(), ZoneInfo(zone)),
            today=today,
        )
    return out


class _CapturedError(Exception):
    """Raised inside a rolled-back unit of work once the inputs are captured."""


#: What ``repository.explained_candidates`` takes beyond the ranking pre-filter's inputs.
_EXPLAINED_ONLY = ("explained", "since", "limit")


def service_inputs(db: Database, case_number: str, clock: FixedClock) -> PrefilterInputs:
    """The inputs ``find_candidates`` really passes to its pre-filter,
    ``repository.explained_candidates`` (captured in a unit of work that is rolled back,
    so no audit record stays), less what only the explanations and track records take:
    the bare statement is the ranking pre-filter of those inputs."""
    captured: dict[str, Any] = {}
    original = matching_repository.explained_candidates

    def capture(_session: Any, **kwargs: Any) -> list[Any]:
        captured.update(kwargs)
        raise _CapturedError

    matching_repository.explained_candidates = capture  # type: ignore[assignment]
    try:
        with contextlib.suppress(_CapturedError), db.unit_of_work() as session:
            matching_service.find_candidates(session, bench_actor(), case_number, clock=clock)
    finally:
        matching_repository.explained_candidates = original  # type: ignore[assignment]
    for name in _EXPLAINED_ONLY:
        captured.pop(name, None)
    return PrefilterInputs(**captured)


@dataclass
class PassResult:
    """Per-referral wall times (ms) of one pass and what each call returned."""

    ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # pre-filter rows / ranked candidates
    excluded: list[int] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the whole pass
    stopped_early: bool = False

    @property
    def p50(self) -> float:
        return median(self.ms)

    @property
    def p99(self) -> float:
        return percentile(self.ms, 99)

    @property
    def count(self) -> int:
        return len(self.ms)

    def merge(self, other: PassResult) -> None:
        self.ms += other.ms
        self.rows += other.rows
        self.excluded += other.excluded
        self.stopped_early = self.stopped_early or other.stopped_early


class WorkerState:
    """What a worker process keeps between commands."""

    def __init__(self, url: str, now: datetime) -> None:
        # As the server's lifespan does (careloop.app): load the code sets, then keep their
        # few hundred thousand objects out of the collector's full passes (~250 ms each).
        warm_up()
        gc.freeze()
        self.now = now
        self.clock = FixedClock(now)
        self.actor = bench_actor()
        self.db = Database.from_url(sqlalchemy_url(url), pool_size=2)
        self.raw: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True)
        self.sql = PrefilterSql()
        self.inputs: dict[str, PrefilterInputs] = {}
        self.rendered: dict[str, tuple[str, dict[str, Any]]] = {}

    def prepare(self, case_numbers: Sequence[str], check: int) -> int:
        """Derive and render the pre-filter of each referral; check ``check`` of them
        against the inputs the service itself passes. Returns how many differ."""
        self.inputs.update(prefilter_inputs(self.raw, case_numbers, self.now))
        for case_number in case_numbers:
            self.rendered[case_number] = self.sql.render(self.inputs[case_number])
        return sum(
            service_inputs(self.db, c, self.clock) != self.inputs[c] for c in case_numbers[:check]
        )

    def bare(self, case_numbers: Sequence[str], limit_s: float) -> PassResult:
        result = PassResult()
        started = time.perf_counter()
        with self.raw.cursor() as cur:
            for case_number in case_numbers:
                text, params = self.rendered[case_number]
                t0 = time.perf_counter()
                cur.execute(text, params)
                rows = cur.fetchall()
                t1 = time.perf_counter()
                result.ms.append((t1 - t0) * 1000)
                result.rows.append(len(rows))
                if t1 - started > limit_s:
                    result.stopped_early = True
                    break
        result.seconds = time.perf_counter() - started
        return result

    def service_batch(self, case_numbers: Sequence[str], limit_s: float) -> PassResult:
        """The batch use case: ``rank_batch`` over chunks of BATCH_CHUNK referrals, one
        unit of work (one durable commit) per chunk."""
        result = PassResult()
        started = time.perf_counter()
        for start in range(0, len(case_numbers), BATCH_CHUNK):
            chunk = list(case_numbers[start : start + BATCH_CHUNK])
            t0 = time.perf_counter()
            with self.db.unit_of_work() as session:
                found = matching_service.rank_batch(session, self.actor, chunk, clock=self.clock)
            t1 = time.perf_counter()
            result.ms.extend([(t1 - t0) * 1000 / len(chunk)] * len(chunk))
            result.rows.extend(len(ranked) for ranked in found.values())
            result.excluded.extend([0] * len(chunk))
            if t1 - started > limit_s:
                result.stopped_early = True
                break
        result.seconds = time.perf_counter() - started
        return result

    def service(self, case_numbers: Sequence[str], limit_s: float) -> PassResult:
        result = PassResult()
        started = time.perf_counter()
        for case_number in case_numbers:
            t0 = time.perf_counter()
            with self.db.unit_of_work() as session:
                found = matching_service.find_candidates(
                    session, self.actor, case_number, clock=self.clock
                )
            t1 = time.perf_counter()
            result.ms.append((t1 - t0) * 1000)
            result.rows.append(len(found.ranked))
            result.excluded.append(len(found.excluded))
            if t1 - started > limit_s:
                result.stopped_early = True
                break
        result.seconds = time.perf_counter() - started
        return result

    def breakdown(self, case_numbers: Sequence[str]) -> dict[str, dict[str, float]]:
        """Mean ms per call of each step of find_candidates, over all calls and over the
        slowest 1 %, timed by wrapping the module functions the service calls (a separate,
        unmeasured pass)."""
        targets = [
            (assignment, "case_for_matching", "read the case (+ audit)"),
            # On PostgreSQL the audit insert is a CTE of the case read: no statement of its own.
            (audit_service, "record_many", "  of which a separate audit insert"),
            (
                matching_repository,
                "explained_candidates",
                "pre-filter, 20 others and track records (one statement + rows)",
            ),
            (matching_rules, "rank", "rank (rules, no I/O)"),
        ]
        labels = [label for _, _, label in targets] + ["commit"]
        rest = "the rest (facts, response model, session)"
        originals = [(module, name, getattr(module, name)) for module, name, _ in targets]
        spent: dict[str, float] = {}

        def timed(function: Callable[..., Any], label: str) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0

            return wrapper

        calls: list[dict[str, float]] = []
        for module, name, label in targets:
            setattr(module, name, timed(getattr(module, name), label))
        try:
            for case_number in case_numbers:
                spent = {}
                t0 = time.perf_counter()
                with self.db.unit_of_work() as session:
                    matching_service.find_candidates(
                        session, self.actor, case_number, clock=self.clock
                    )
                    t1 = time.perf_counter()
                t2 = time.perf_counter()
                spent["commit"] = t2 - t1
                steps = sum(v for k, v in spent.items() if not k.startswith(" "))
                spent[rest] = t2 - t0 - steps
                spent["total"] = t2 - t0
                calls.append(spent)
        finally:
            for module, name, original in originals:
                setattr(module, name, original)
        slowest = sorted(calls, key=lambda c: c["total"])[-max(1, len(calls) // 100) :]

        def mean_of(group: list[dict[str, float]]) -> dict[str, float]:
            return {
                label: 1000 * sum(c.get(label, 0.0) for c in group) / len(group)
                for label in [*labels, rest, "total"]
            }

        return {"all": mean_of(calls), "slowest": mean_of(slowest)}

    def explain(self, case_number: str) -> dict[str, Any]:
        """EXPLAIN (ANALYZE, BUFFERS) of the bare pre-filter and of the statement
        ``find_candidates`` sends for it (the same with 20 others and the track records)."""
        text, params = self.rendered[case_number]
        for _ in range(3):
            self.raw.execute(text, params).fetchall()
        plan = [r[0] for r in self.raw.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", params)]
        inputs = self.inputs[case_number]
        capture = _CapturingSession()
        matching_repository.explained_candidates(
            capture,  # type: ignore[arg-type]
            **inputs,
            explained=matching_service.EXPLAINED_EXCLUSIONS,
            since=self.now - matching_repository.TRACK_RECORD_WINDOW,
        )
        service_text, service_params = capture.compile(self.sql.dialect)
        for _ in range(3):
            self.raw.execute(service_text, service_params).fetchall()
        service_plan = [
            r[0]
            for r in self.raw.execute(f"EXPLAIN (ANALYZE, BUFFERS) {service_text}", service_params)
        ]
        return {
            "case_number": case_number,
            "sql": text,
            "plan": plan,
            "service_plan": service_plan,
        }


def _worker_main(pipe: Any, url: str, now: datetime) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers
    state = WorkerState(url, now)
    pipe.send(("ready", None))
    while True:
        command, args = pipe.recv()
        if command == "stop":
            return
        try:
            result = getattr(state, command)(*args)
        except Exception as exc:  # reported to the parent, which stops
            pipe.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        else:
            pipe.send(("ok", result))


class Worker:
    """One spawned measuring process and its pipe."""

    def __init__(self, url: str, now: datetime) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, url, now), daemon=True)
        self.process.start()

    def wait_ready(self, timeout: float = 120.0) -> None:
        self._receive(timeout)

    def send(self, command: str, *args: Any) -> None:
        self.pipe.send((command, args))

    def _receive(self, timeout: float) -> Any:
        if not self.pipe.poll(timeout):
            raise BenchError(f"a measuring worker did not answer in {timeout:.0f} s")
        status, value = self.pipe.recv()
        if status == "error":
            raise BenchError(f"a measuring worker failed: {value}")
        return value

    def call(self, command: str, *args: Any, timeout: float = 900.0) -> Any:
        self.send(command, *args)
        return self._receive(timeout)

    def result(self, timeout: float = 900.0) -> Any:
        return self._receive(timeout)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.pipe.send(("stop", ()))
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


def run_parallel(
    workers: Sequence[Worker], command: str, chunks: Sequence[Sequence[str]], limit_s: float
) -> PassResult:
    """Each worker takes its chunk at once; the wall time is until the last one is done."""
    started = time.perf_counter()
    for worker, chunk in zip(workers, chunks, strict=True):
        worker.send(command, chunk, limit_s)
    merged = PassResult()
    for worker in workers:
        merged.merge(worker.result(limit_s + 600))
    merged.seconds = time.perf_counter() - started
    return merged


# ---- the report ----------------------------------------------------------------------------


@dataclass
class Run:
    bare: PassResult
    service: PassResult
    background_pct: float  # all cores busy before the run (%)
    other_pct: float  # other processes during the run (% of one core)

    @property
    def disturbed(self) -> bool:
        return self.other_pct > DISTURBED_PCT


@dataclass
class Batch:
    bare: PassResult
    service: PassResult
    size: int
    background_pct: float
    other_pct: float


@dataclass
class Report:
    args: argparse.Namespace
    workers: int
    actor: Actor
    counts: dict[str, int]
    load_seconds: float
    runs: list[Run]
    batches: list[Batch]
    breakdown: dict[str, dict[str, float]]
    explain: dict[str, Any]
    facts: dict[str, str]

    @property
    def counted(self) -> list[Run]:
        """The runs the figures come from: those not disturbed by other work, or all."""
        clean = [r for r in self.runs if not r.disturbed]
        return clean or self.runs

    def p50_ratios(self) -> list[float]:
        return [r.service.p50 / r.bare.p50 for r in self.counted if r.bare.p50]

    def p99_ratios(self) -> list[float]:
        return [r.service.p99 / r.bare.p99 for r in self.counted if r.bare.p99]

    def batch_seconds(self) -> list[float]:
        """Seconds for a batch of the target's size: measured when the batch had that size
        and ran to the end, else scaled from the rate reached."""
        return [
            b.service.seconds * TARGET_BATCH_SIZE / max(b.service.count, 1) for b in self.batches
        ]

    def batch_scaled(self) -> bool:
        return any(b.service.stopped_early or b.size != TARGET_BATCH_SIZE for b in self.batches)

    def batch_ratios(self) -> list[float]:
        return [
            (b.service.seconds / max(b.service.count, 1)) / (b.bare.seconds / max(b.bare.count, 1))
            for b in self.batches
            if b.bare.seconds
        ]

    def verdicts(self) -> dict[str, bool]:
        return {
            "p50": median([r.service.p50 for r in self.counted]) < TARGET_MEDIAN_MS,
            "p99": median([r.service.p99 for r in self.counted]) < TARGET_P99_MS,
            "batch": median(self.batch_seconds()) < TARGET_BATCH_S,
        }

    def render(self) -> str:
        ok = self.verdicts()

        def verdict(passed: bool) -> str:
            return "PASS" if passed else "FAIL"

        def runs_of(values: Sequence[float], fmt: str) -> str:
            return " ".join(format(v, fmt) for v in values)

        bare50 = [r.bare.p50 for r in self.counted]
        bare99 = [r.bare.p99 for r in self.counted]
        svc50 = [r.service.p50 for r in self.counted]
        svc99 = [r.service.p99 for r in self.counted]
        batch_s = self.batch_seconds()
        batch_rate = [b.service.count / b.service.seconds for b in self.batches]
        bare_batch_s = [
            b.bare.seconds * TARGET_BATCH_SIZE / max(b.bare.count, 1) for b in self.batches
        ]
        bare_rate = [b.bare.count / b.bare.seconds for b in self.batches]
        size = self.batches[0].size if self.batches else 0
        sample = self.runs[0].service.count if self.runs else 0
        projected = self.batch_scaled()
        rows = [
            ("what", "median", "runs", "target", ""),
            (f"bare SQL pre-filter, p50 (ms, {sample:,} referrals)", f"{median(bare50):.2f}",
             runs_of(bare50, ".2f"), "", ""),
            ("bare SQL pre-filter, p99 (ms)", f"{median(bare99):.2f}", runs_of(bare99, ".2f"),
             "", ""),
            ("find_candidates, p50 (ms)", f"{median(svc50):.2f}", runs_of(svc50, ".2f"),
             f"< {TARGET_MEDIAN_MS:.0f}", verdict(ok["p50"])),
            ("find_candidates, p99 (ms)", f"{median(svc99):.2f}", runs_of(svc99, ".2f"),
             f"< {TARGET_P99_MS:.0f}", verdict(ok["p99"])),
            ("  service / bare, p50", f"{median(self.p50_ratios()):.1f} x",
             runs_of(self.p50_ratios(), ".1f"), "", ""),
            ("  service / bare, p99", f"{median(self.p99_ratios()):.1f} x",
             runs_of(self.p99_ratios(), ".1f"), "", ""),
            (f"batch of {TARGET_BATCH_SIZE:,} through rank_batch (s)"
             + (f", scaled from {size:,}" if projected else ""), f"{median(batch_s):.1f}",
             runs_of(batch_s, ".1f"), f"< {TARGET_BATCH_S:.0f}", verdict(ok["batch"])),
            ("  batch rate (referrals/s)", f"{median(batch_rate):,.0f}",
             runs_of(batch_rate, ",.0f"), f">= {TARGET_BATCH_SIZE / TARGET_BATCH_S:,.0f}", ""),
            ("  bare SQL pre-filter, same referrals (s)", f"{median(bare_batch_s):.1f}",
             runs_of(bare_batch_s, ".1f"), "", ""),
            ("  bare SQL rate (referrals/s)", f"{median(bare_rate):,.0f}",
             runs_of(bare_rate, ",.0f"), "", ""),
            ("  batch / bare (time per referral)", f"{median(self.batch_ratios()):.1f} x",
             runs_of(self.batch_ratios(), ".1f"), "", ""),
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        f = self.facts
        out = [
            f"CareLoop matching benchmark: {len(self.counted)} run(s) of {sample:,} referrals one "
            f"at a time, {len(self.batches)} batch(es) of {size:,} over {self.workers} "
            f"process(es); PostgreSQL {f.get('server_version', '?')} (shared_buffers "
            f"{f.get('shared_buffers', '?')}, synchronous_commit "
            f"{f.get('synchronous_commit', '?')}), {os.cpu_count()} cores",
            "",
        ]
        for index, row in enumerate(rows):
            line = "  ".join(
                cell.rjust(widths[i]) if i == 1 else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            )
            out.append(line.rstrip())
            if index == 0:
                out.append("-" * len(line))
        out.append("")
        out += self._notes()
        return "\n".join(out)

    def _notes(self) -> list[str]:
        out = []
        c = self.counts
        out.append(
            f"data: {c.get('providers', 0):,} providers ({c.get('provider_service_areas', 0):,} "
            f"service-area rows, {c.get('provider_networks', 0):,} network rows, "
            f"{c.get('provider_service_lines', 0):,} service lines), "
            f"{c.get('referrals', 0):,} referrals ({c.get('referral_items', 0):,} items, "
            f"{c.get('offers', 0):,} offers, {c.get('referral_events', 0):,} events); "
            + (
                "reused as an earlier run left it (--reuse-db); "
                if self.args.reuse_db
                else f"generated and loaded with COPY in {self.load_seconds:.0f} s; "
            )
            + "database "
            f"{self.facts.get('database_size', '?')}"
        )
        if self.runs:
            rows = self.runs[0].bare.rows
            ranked = self.runs[0].service.rows
            excluded = self.runs[0].service.excluded
            capped = sum(n >= matching_repository.MAX_CANDIDATES for n in rows)
            out.append(
                f"pre-filter rows per referral: median {median(rows):.0f}, p99 "
                f"{percentile(rows, 99):.0f}, max {max(rows)}; {capped} of {len(rows)} hit "
                f"the cap of {matching_repository.MAX_CANDIDATES}; ranked (eligible) median "
                f"{median(ranked):.0f}, excluded median {median(excluded):.0f}, none eligible "
                f"for {sum(n == 0 for n in ranked)}"
            )
        explain = self.explain
        if explain:
            out.append(
                f"typical referral {explain['case_number']} ({explain.get('rows', '?')} rows): "
                f"server-side planning {explain.get('planning', '?')} ms, execution "
                f"{explain.get('execution', '?')} ms; the service's statement (the same, 20 "
                f"others, track records): execution {explain.get('service_execution', '?')} "
                "ms (EXPLAIN ANALYZE; --explain prints the plans)"
            )
        for group, title in (("all", "all calls"), ("slowest", "the slowest 1 %")):
            spent = self.breakdown.get(group)
            if not spent:
                continue
            parts = ", ".join(
                f"{label.strip()} {ms:.2f}" for label, ms in spent.items() if label != "total"
            )
            out.append(
                f"where find_candidates spends its time, {title} (mean ms of "
                f"{spent['total']:.2f}): {parts}"
            )
        out.append(
            f"actor: {self.actor.display_name} (role {self.actor.role.value})"
            + (
                ""
                if self.actor is SYSTEM_ACTOR
                else f"; SYSTEM_ACTOR (role service) lacks {MATCH_PERMISSION!r}, which "
                "find_candidates requires"
            )
            + "; clock: FixedClock at the data's 'now'; one unit of work (transaction with "
            "its audit record, durable commit) per referral, in the sample and the batch"
        )
        others = [f"{r.other_pct:.0f}" + ("*" if r.disturbed else "") for r in self.runs]
        out.append(
            "other processes on the machine during each run (% of one core; * = disturbed, "
            f"repeated and not counted): {' '.join(others)}; during the batch: "
            + " ".join(f"{b.other_pct:.0f}" for b in self.batches)
        )
        disturbed = all(r.disturbed for r in self.runs) or any(
            b.other_pct > DISTURBED_PCT for b in self.batches
        )
        if disturbed:
            out.append(
                "WARNING: other work competed for the CPU: figures are slower and noisier "
                "than on an idle machine (rerun when it is quiet)"
            )
        if any(b.service.stopped_early for b in self.batches):
            out.append(
                f"NOTE: the batch was stopped after {self.args.batch_limit:.0f} s; its time is "
                "projected from the rate reached"
            )
        if self.args.explain and explain:
            out += ["", "pre-filter SQL (as compiled by SQLAlchemy for psycopg):", explain["sql"]]
            out += ["", "EXPLAIN (ANALYZE, BUFFERS) of the pre-filter:", *explain["plan"]]
            out += ["", "EXPLAIN (ANALYZE, BUFFERS) of the statement find_candidates sends:"]
            out += explain["service_plan"]
        return out


# ---- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Ranked candidates per referral through the service, next to the bare "
        "SQL pre-filter (see module docs)."
    )
    parser.add_argument("--quick", action="store_true", help="1 run, smaller samples")
    parser.add_argument("--runs", type=int, help="runs of the one-at-a-time passes (default 3)")
    parser.add_argument("--sample", type=int, help="referrals per one-at-a-time pass (1,000)")
    parser.add_argument("--batch", type=int, help="referrals in the batch (10,000)")
    parser.add_argument("--batch-runs", type=int, help="batches (default 1)")
    parser.add_argument(
        "--batch-limit",
        type=float,
        help="stop a batch after this many seconds and project its time (default 120)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="processes for the batch"
    )
    parser.add_argument("--providers", type=int, default=10_000)
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument(
        "--spread",
        choices=("density", "uniform"),
        default="density",
        help="place providers and referrals where ZIP codes are dense (default) or evenly",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        help="seconds to wait for other work on the machine to calm down before each run "
        "(default 20; 10 with --quick)",
    )
    add_database_options(parser, DEFAULT_DB_NAME)
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="measure on the database a run with --keep-db left (same sizes and seed), "
        "without generating and loading it again",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.sample = args.sample or (200 if args.quick else 1_000)
    args.batch = args.batch or (2_000 if args.quick else TARGET_BATCH_SIZE)
    args.batch_runs = args.batch_runs if args.batch_runs is not None else 1
    args.batch_limit = args.batch_limit or (60.0 if args.quick else 120.0)
    args.max_wait = args.max_wait if args.max_wait is not None else (10.0 if args.quick else 20.0)
    args.workers = max(1, args.workers)
    return args


def split(items: Sequence[str], parts: int) -> list[list[str]]:
    return [list(items[i::parts]) for i in range(parts)]


def prepare_data(
    args: argparse.Namespace, url: str, now: datetime
) -> tuple[dict[str, int], list[str], float]:
    started = time.perf_counter()
    if args.reuse_db:
        say(f"reusing database {args.db_name} as a run with --keep-db left it ...")
        with psycopg.connect(url, autocommit=True) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ]
            counts = {
                t: int(
                    conn.execute(
                        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
                    ).fetchone()[0]
                )  # type: ignore[index]
                for t in tables
            }
            counts = {t: n for t, n in counts.items() if n}
            acknowledged = [
                r[0]
                for r in conn.execute(
                    "SELECT case_number FROM referrals WHERE status = 'acknowledged' ORDER BY id"
                )
            ]
        return counts, acknowledged, time.perf_counter() - started
    say(f"generating {args.providers:,} providers and {args.referrals:,} referrals ...")
    geo = Geography(STATES, uniform=args.spread == "uniform")
    data = generate(
        geo, providers=args.providers, referrals=args.referrals, now=now, seed=args.seed
    )
    say(f"recreating database {args.db_name} and migrating it ...")
    recreate_database(args.postgres_url, args.db_name)
    upgrade_database(sqlalchemy_url(url))
    say("loading with COPY ...")
    load(url, data)
    counts = {table: len(rows) for table, (_, rows) in data.tables.items()}
    return counts, list(data.acknowledged), time.perf_counter() - started


def measure(
    args: argparse.Namespace, workers: list[Worker], acknowledged: list[str]
) -> tuple[list[Run], list[Batch], dict[str, dict[str, float]], dict[str, Any]]:
    rng = random.Random(args.seed + 1)
    sample = rng.sample(acknowledged, min(args.sample, len(acknowledged)))
    batch = rng.sample(acknowledged, min(args.batch, len(acknowledged)))
    chunks = split(batch, len(workers))
    first = workers[0]
    say("deriving the pre-filter of each referral and checking it against the service ...")
    for worker, chunk in zip(workers, chunks, strict=True):
        worker.send("prepare", chunk, 5)
    differing = sum(worker.result() for worker in workers)
    differing += first.call("prepare", sample, 20)
    if differing:
        raise BenchError(
            f"{differing} referral(s): the pre-filter inputs derived for the bare SQL differ "
            "from those find_candidates passes; update prefilter_inputs() to match the service"
        )
    say("warming up ...")
    warm = [chunk[:150] for chunk in chunks]
    run_parallel(workers, "bare", warm, 60)
    run_parallel(workers, "service", warm, 60)
    first.call("bare", sample, 60)
    runs: list[Run] = []
    # A run disturbed by other work is repeated, up to as many extra runs as asked for.
    while sum(not r.disturbed for r in runs) < args.runs and len(runs) < 2 * args.runs:
        quiet = wait_for_quiet(QUIET_PCT, args.max_wait)
        other = OtherWork(args.postgres_url, args.db_name).start()
        bare = first.call("bare", sample, args.batch_limit)
        service = first.call("service", sample, args.batch_limit)
        runs.append(Run(bare, service, quiet, other.stop()))
        say(
            f"run {len(runs)}: bare p50 {bare.p50:.2f} ms p99 {bare.p99:.2f} ms; "
            f"find_candidates p50 {service.p50:.2f} ms p99 {service.p99:.2f} ms; other work "
            f"{runs[-1].other_pct:.0f} % of a core"
            + (" (disturbed: not counted)" if runs[-1].disturbed else "")
        )
    batches: list[Batch] = []
    for number in range(args.batch_runs):
        quiet = wait_for_quiet(QUIET_PCT, args.max_wait)
        other = OtherWork(args.postgres_url, args.db_name).start()
        bare = run_parallel(workers, "bare", chunks, args.batch_limit)
        service = run_parallel(workers, "service_batch", chunks, args.batch_limit)
        batches.append(Batch(bare, service, len(batch), quiet, other.stop()))
        say(
            f"batch {number + 1}/{args.batch_runs}: {service.count:,} referrals through "
            f"rank_batch in {service.seconds:.1f} s ({service.count / service.seconds:,.0f}"
            f"/s); bare pre-filter {bare.seconds:.1f} s; other work "
            f"{batches[-1].other_pct:.0f} % of a core"
        )
    say("timing the steps of find_candidates ...")
    breakdown = first.call("breakdown", sample)
    explain: dict[str, Any] = {}
    if runs:
        # The typical referral: as many pre-filter rows as the median.
        rows = runs[0].bare.rows
        middle = median(rows)
        position = min(range(len(rows)), key=lambda i: abs(rows[i] - middle))
        explain = first.call("explain", sample[position])
        explain["rows"] = rows[position]
        for key, plan in (("", explain["plan"]), ("service_", explain["service_plan"])):
            for line in plan:
                if line.startswith("Planning Time:"):
                    explain[f"{key}planning"] = line.split(":")[1].strip().removesuffix(" ms")
                if line.startswith("Execution Time:"):
                    explain[f"{key}execution"] = line.split(":")[1].strip().removesuffix(" ms")
    return runs, batches, breakdown, explain


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    check_local(args.postgres_url)
    url = with_database(args.postgres_url, args.db_name)
    now = datetime.now(UTC).replace(microsecond=0)
    workers: list[Worker] = []
    try:
        counts, acknowledged, load_seconds = prepare_data(args, url, now)
        say(f"starting {args.workers} measuring process(es) ...")
        workers = [Worker(url, now) for _ in range(args.workers)]
        for worker in workers:
            worker.wait_ready()
        runs, batches, breakdown, explain = measure(args, workers, acknowledged)
        report = Report(
            args=args,
            workers=len(workers),
            actor=bench_actor(),
            counts=counts,
            load_seconds=load_seconds,
            runs=runs,
            batches=batches,
            breakdown=breakdown,
            explain=explain,
            facts=server_facts(url, args.db_name),
        )
    finally:
        for worker in workers:
            worker.stop()
        if not args.keep_db:
            with contextlib.suppress(psycopg.Error):
                drop_database(args.postgres_url, args.db_name)
    print(report.render())
    if args.strict and not all(report.verdicts().values()):
        return 1
    return 0


if __name__ == "__main__":
    run_main(main, interrupted="interrupted; the measuring processes were stopped")
