"""Runtime configuration: one validated object, built once and passed down.

No module reads the environment on import; ``Settings()`` is built by the entry point
(``careloop serve``, ``careloop demo``, the tests) and handed to ``create_app``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "careloop.sqlite3"


class Settings(BaseSettings):
    """Everything an operator can set, with the prefix ``CARELOOP_``."""

    model_config = SettingsConfigDict(env_prefix="CARELOOP_", extra="ignore")

    environment: Literal["development", "demo", "test", "production"] = "development"
    database_url: str = Field(default=f"sqlite:///{DEFAULT_SQLITE_PATH}")
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    # Largest JSON body the API parses; larger ones answer 413 before parsing.
    max_body_bytes: int = Field(default=1_000_000, ge=1_000)
    # Largest referral file the import API takes (multipart); the command line reads any.
    max_import_bytes: int = Field(default=64 * 1024 * 1024, ge=1_000)
    # Deepest JSON nesting accepted; deeper bodies answer 400 before validation.
    max_json_depth: int = Field(default=32, ge=4)
    # How long an Idempotency-Key is honoured (seconds); Stripe keeps keys for 24 h.
    idempotency_ttl_seconds: int = Field(default=48 * 3600, ge=24 * 3600)
    # Public URL prefix used for links and problem types.
    public_url: str = "http://127.0.0.1:8000"
    db_pool_size: int = Field(default=10, ge=1)
    # Matching weights overriding the defaults of matching/rules.py, as JSON, e.g.
    # {"on_time": 4, "same_county": 1.5}; checked when the app or worker starts
    # (careloop.startup.check_configuration), so a misspelt weight refuses to start.
    matching_weights: dict[str, float] = Field(default_factory=dict)
    # Seconds a bearer token is trusted without asking the database again; a revoked
    # token stops working at most this long after (RELIABILITY.md row 19: 60 s).
    token_cache_seconds: float = Field(default=30, ge=0, le=60)
    # Portal session cookie flag Secure. Unset: Secure everywhere but the demo (which
    # serves plain HTTP on 127.0.0.1); production refuses False.
    cookie_secure: bool | None = None
    # DEMO ONLY: staff and provider users without an enrolled authenticator skip the TOTP
    # step. The app refuses to start with it outside CARELOOP_ENVIRONMENT=demo
    # (careloop.startup.check_configuration).
    demo_skip_totp: bool = False
    # The number a member calls about their case (shown on the member page).
    member_help_phone: str = "1-800-555-0199"
    # The time zone the coordination centre reads times in (work queue, charts).
    display_time_zone: str = "America/New_York"
    # Outgoing e-mail (SMTP). Without a host, e-mails are written to files under
    # ``notification_dir`` instead (the development and demo default).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # "starttls" upgrades a plain connection (port 587), "tls" connects over TLS (port 465),
    # "none" sends in clear (a relay on the same host only).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "CareLoop <no-reply@careloop.example>"
    smtp_timeout_seconds: float = Field(default=15, gt=0, le=120)
    # DEMO ONLY: webhooks may call receivers on this machine or a private network, over
    # plain HTTP too. Elsewhere a receiver must be https on a public address (SSRF);
    # refused outside CARELOOP_ENVIRONMENT=demo or test (careloop.startup).
    webhook_allow_private_addresses: bool = False
    # Worker processes that store a large referral file's batches side by side
    # (PostgreSQL; 1 stores them one after the other).
    import_processes: int = Field(default=2, ge=1, le=16)
    # Where the file adapters write (SMS, fax, and e-mail without an SMTP host).
    notification_dir: Path = Path("var") / "notifications"
    # X12 with payers through a clearinghouse drop folder: outbound/ holds what CareLoop
    # sends, inbound/ what the clearinghouse drops for it (careloop x12, payer-sim).
    clearinghouse_dir: Path = Path("var") / "clearinghouse"
    # A real-time connection instead of the folder: the clearinghouse's URL (https).
    clearinghouse_url: str | None = None
    # CareLoop in the interchange (ISA06, qualifier ZZ) and as requester (NM1*1P).
    clearinghouse_sender_id: str = Field(default="CARELOOP", min_length=2, max_length=15)
    clearinghouse_npi: str = Field(default="1234567893", pattern=r"^\d{10}$")
    # The id a clearinghouse knows each payer by, where it is not the payer's code, e.g.
    # {"NEHP": "04271"}.
    clearinghouse_payer_ids: dict[str, str] = Field(default_factory=dict)
    # Send the 278 as soon as a payer's 271 says an item needs prior authorisation.
    clearinghouse_auto_review: bool = False
    # The largest inbound X12 file read, in bytes (clearinghouse.rules.MAX_FILE_BYTES):
    # one over it is refused unread, with its size.
    clearinghouse_max_file_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    # The payer simulator's rules per payer code, e.g. {"NEHP": {"deny_codes": ["E0260"]}}.
    payer_simulator_rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # The coordinator's billing identity on the claims it sends (837P submitter and, when a
    # payer's contract has the coordinator bill, billing provider). The defaults are the
    # demo's synthetic figures; each is checked at start (claim.rules.coordinator_identity:
    # the NPI's Luhn check digit, a 9-digit EIN, a NUCC taxonomy code).
    billing_name: str = "CARELOOP CARE COORDINATION"
    billing_npi: str = "1234567893"
    billing_taxonomy: str = "171M00000X"
    billing_tax_id: str = "123456789"
    billing_street: str = "1 CARE WAY"
    billing_city: str = "BOSTON"
    billing_state: str = "MA"
    billing_zip: str = "021100000"
    billing_submitter_id: str = "CARELOOP"
    billing_phone: str = "6175550100"
    # The document store (document.store.FolderStore): files by SHA-256 under this folder.
    document_dir: Path = Path("var") / "documents"
    # Largest file a document upload may be (bytes); larger ones answer 413 while they
    # stream, before the whole body is read.
    max_document_bytes: int = Field(default=20_000_000, ge=1_000)
    # How old a staged file without a row, or a row without its file, must be before the
    # worker's sweep removes it (seconds).
    document_sweep_grace_seconds: int = Field(default=3600, ge=60)

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_driver(cls, value: str) -> str:
        # Operators paste libpq URLs; SQLAlchemy needs the psycopg 3 driver named.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith(("sqlite:", "postgresql+psycopg://")):
            scheme = f", not {value.split('://', 1)[0]}://" if "://" in value else ""
            raise ValueError(
                "must be a SQLite (sqlite:///path/to/file.sqlite3) or PostgreSQL "
                f"(postgresql://user@host/database) URL{scheme}"
            )
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            raise ValueError(
                "CARELOOP_DATABASE_URL: production refuses the embedded SQLite file; "
                "point it at PostgreSQL"
            )
        if (
            self.environment == "production"
            and self.smtp_host
            and self.smtp_security == "none"
            and self.smtp_host not in {"localhost", "127.0.0.1", "::1"}
        ):
            raise ValueError(
                "CARELOOP_SMTP_SECURITY: production refuses to send e-mail in clear to "
                "another host; use starttls or tls"
            )
        if self.environment == "production" and self.cookie_secure is False:
            raise ValueError("CARELOOP_COOKIE_SECURE: production refuses cookies without Secure")
        demo_identity = [
            f"CARELOOP_{name.upper()}"
            for name in ("billing_npi", "billing_tax_id", "clearinghouse_npi")
            if getattr(self, name) == type(self).model_fields[name].default
        ]
        if self.environment == "production" and demo_identity:
            raise ValueError(
                f"{', '.join(demo_identity)}: production refuses the demo's synthetic "
                "identity (claims and X12 would carry it to payers); set your organisation's"
            )
        return self

    @property
    def secure_cookies(self) -> bool:
        """Portal cookies carry Secure unless this is the plain-HTTP demo."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment != "demo"

    def database_config(self) -> dict[str, object]:
        """What the use cases read from their session (see db.session.session_config)."""
        return {
            "matching_weights": dict(self.matching_weights),
            "webhook_allow_private_addresses": self.webhook_allow_private_addresses,
            "import_processes": self.import_processes,
            "coordinator_billing": self.coordinator_billing(),
        }

    def coordinator_billing(self) -> dict[str, str]:
        """The coordinator's billing identity as claim.rules.coordinator_identity reads it."""
        return {
            "name": self.billing_name,
            "npi": self.billing_npi,
            "taxonomy": self.billing_taxonomy,
            "tax_id": self.billing_tax_id,
            "street": self.billing_street,
            "city": self.billing_city,
            "state": self.billing_state,
            "zip_code": self.billing_zip,
            "submitter_id": self.billing_submitter_id,
            "phone": self.billing_phone,
        }

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
