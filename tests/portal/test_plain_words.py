"""Plain words on every page: a crawler signs in as each demo role, follows every link
of the portal it can reach, and fails on words that are for engineers, not for the people
who use the pages (rule file names, section signs, ids, snake_case values, ISO
timestamps, bare language codes)."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from careloop.app import create_app
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.demo.seed import DemoSignIn, demo_sign_ins, seed_demo
from careloop.identity.secrets import totp_code
from careloop.settings import Settings
from tests.portal.conftest import csrf_of

#: Pages per role: enough to reach every kind of page (queue, case pages in every status,
#: search, forms), bounded so the crawl stays quick.
MAX_PAGES = 60

INTERNAL_TERMS: list[tuple[str, re.Pattern[str]]] = [
    ("a file name", re.compile(r"\b[\w/-]+\.(?:py|md|typ|jinja|json)\b")),
    ("a section sign", re.compile("§")),
    ("a rules document", re.compile(r"\b(?:DOMAIN|DESIGN|RELIABILITY)\b")),
    ("an ISO timestamp", re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")),
    ("a UTC offset", re.compile(r"[+-]\d{2}:\d{2}\b|\bUTC\b")),
    (
        "an internal id",
        re.compile(r"\b(?:clock|item|offer|authorization)[ _-]?(?:id|#)\s*\d*", re.I),
    ),
    ("a snake_case value", re.compile(r"(?<![\w@./-])[a-z]+(?:_[a-z0-9]+)+(?![\w@./-])")),
    ("an empty bracket (something taken out of it)", re.compile(r"\(\s*\)")),
]
#: A language code standing alone as a value ("es", "zh-Hans") instead of its name.
BARE_LANGUAGE = re.compile(r"^(?:[a-z]{2,3})(?:-[A-Za-z]{2,4})?$")
LANGUAGE_CODES = {"en", "es", "zh", "ru", "fr", "pt", "vi", "ko", "ar", "ht", "pl", "it", "de"}


class _Text(HTMLParser):
    """The text a person reads (not scripts, styles or attribute values), cell by cell,
    and the links to follow."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "template"}:
            self._skip += 1
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "template"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.chunks.append(data.strip())


def leaks(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    found = []
    for chunk in parser.chunks:
        if BARE_LANGUAGE.match(chunk) and chunk.split("-")[0] in LANGUAGE_CODES:
            found.append(f"a bare language code: {chunk!r}")
        for what, pattern in INTERNAL_TERMS:
            hit = pattern.search(chunk)
            if hit:
                found.append(f"{what}: {hit.group(0)!r} in {chunk[:80]!r}")
    return found


def _links(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.links


def _followable(path: str) -> bool:
    return not (
        path.startswith(("/static", "/signout", "/api", "/docs", "/openapi", "/codes"))
        or path.endswith(".pdf")
    )


@pytest.fixture
def demo_app(database: Database, database_url: str, clock: FixedClock) -> FastAPI:
    settings = Settings(
        environment="demo",
        database_url=database_url,
        log_level="WARNING",
        token_cache_seconds=0,
        demo_skip_totp=True,
    )
    return create_app(settings, database=database, clock=clock)


@pytest.fixture
def sign_ins(database: Database, clock: FixedClock) -> list[DemoSignIn]:
    roles = seed_demo(database, clock=clock)
    return demo_sign_ins(database, clock=clock, roles=roles)


@pytest.fixture
def browser(demo_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(demo_app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def _sign_in(client: TestClient, who: DemoSignIn, clock: FixedClock) -> None:
    form = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "email": who.email,
            "password": who.password,
            "csrf_token": csrf_of(form.text),
            "next": "/",
        },
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    if location.startswith("/signin/totp"):
        assert who.totp_secret, f"{who.label} asked for a code without a secret"
        page = client.get("/signin/totp")
        done = client.post(
            "/signin/totp",
            data={
                "code": totp_code(who.totp_secret, clock.now()),
                "csrf_token": csrf_of(page.text),
            },
        )
        assert done.status_code == 303, done.text


def crawl(client: TestClient) -> dict[str, list[str]]:
    """Every page reachable from / (bounded): path -> what leaked on it."""
    seen: set[str] = set()
    queue: deque[str] = deque(["/"])
    out: dict[str, list[str]] = {}
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path, follow_redirects=True)
        if path == "/":
            assert response.status_code == 200, "the home page does not open"
        if response.status_code != 200 or "text/html" not in response.headers["content-type"]:
            continue
        found = leaks(response.text)
        if found:
            out[path] = found
        for href in _links(response.text):
            target = urlsplit(urljoin("http://testserver" + path, href))
            if target.netloc not in {"", "testserver"}:
                continue
            next_path = target.path + (f"?{target.query}" if target.query else "")
            if _followable(target.path) and next_path not in seen:
                queue.append(next_path)
    return out


@pytest.fixture
def on_sqlite(db_kind: str) -> None:
    if db_kind != "sqlite":
        pytest.skip("a page's words do not depend on the database: the crawl runs on SQLite")


def test_every_page_speaks_plain_words_to_every_role(
    on_sqlite: None, browser: TestClient, sign_ins: list[DemoSignIn], clock: FixedClock
) -> None:
    problems: dict[str, dict[str, list[str]]] = {}
    for who in sign_ins:
        browser.cookies.clear()
        _sign_in(browser, who, clock)
        found = crawl(browser)
        if found:
            problems[who.label] = found
    assert not problems, "\n".join(
        f"{role} {path}: {leak}"
        for role, pages in problems.items()
        for path, found in pages.items()
        for leak in found[:5]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rule: DOMAIN.md §4", 3),
        ("standard_dme", 1),
        ("2026-11-24T14:00:00+00:00", 2),
        ("es", 1),
        ("Service start due Tue 24 Nov, 09:00", 0),
        ("jane@careloop.test", 0),
        ("A claim is prepared for each delivery or visit done ()", 1),
    ],
)
def test_the_detector_finds_internal_words_and_leaves_plain_ones(text: str, expected: int) -> None:
    assert len(leaks(f"<p>{text}</p>")) == expected
