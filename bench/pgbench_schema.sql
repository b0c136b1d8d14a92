-- Scratch tables for the raw PostgreSQL baseline of bench/intake.py: the shape of the
-- referral row (~40 columns, JSONB lists, the same indexes) and of the audit row, with
-- no foreign keys and no application in front. Created in the bench database only.
DROP TABLE IF EXISTS bench_raw_referrals;
DROP TABLE IF EXISTS bench_raw_audit;
DROP SEQUENCE IF EXISTS bench_raw_case_seq;

CREATE SEQUENCE bench_raw_case_seq;

CREATE TABLE bench_raw_referrals (
    id serial PRIMARY KEY,
    case_number varchar(20) NOT NULL UNIQUE,
    external_id varchar(100),
    channel varchar(40) NOT NULL,
    urgency varchar(40) NOT NULL,
    status varchar(40) NOT NULL,
    version integer NOT NULL,
    member_first_name varchar(100) NOT NULL,
    member_last_name varchar(100) NOT NULL,
    member_birth_date date NOT NULL,
    member_sex varchar(10),
    member_phone varchar(40),
    member_language varchar(40),
    member_time_zone varchar(64),
    duplicate_key varchar(32) NOT NULL,
    address_line1 varchar(200),
    address_line2 varchar(200),
    address_city varchar(100),
    address_state varchar(2),
    address_zip varchar(10),
    access_barriers jsonb NOT NULL,
    payer_id integer,
    payer_reference varchar(200),
    member_id varchar(60),
    group_number varchar(60),
    ordering_npi varchar(20),
    ordering_name varchar(200),
    ordering_organization varchar(200),
    ordering_phone varchar(40),
    ordering_fax varchar(40),
    diagnoses jsonb NOT NULL,
    requested_start date,
    discharge_at timestamptz,
    signed_on date,
    signer_npi varchar(20),
    notes text,
    service_class varchar(30) NOT NULL,
    time_zone varchar(64) NOT NULL,
    findings jsonb NOT NULL,
    escalated boolean NOT NULL,
    escalation_reason varchar(300),
    ack_due_at timestamptz NOT NULL,
    service_due_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    referrer_organization_id integer,
    created_by_user_id integer
);
CREATE INDEX ON bench_raw_referrals (status, received_at);
CREATE INDEX ON bench_raw_referrals (referrer_organization_id, received_at);
CREATE INDEX ON bench_raw_referrals (duplicate_key, received_at);
CREATE INDEX ON bench_raw_referrals (external_id);
CREATE INDEX ON bench_raw_referrals (member_last_name);

CREATE TABLE bench_raw_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    actor_user_id integer,
    actor_role varchar(40) NOT NULL,
    actor_label varchar(200) NOT NULL,
    action varchar(60) NOT NULL,
    outcome varchar(20) NOT NULL,
    case_number varchar(40),
    referral_id integer,
    ip varchar(64),
    request_id varchar(64),
    detail jsonb
);
CREATE INDEX ON bench_raw_audit (case_number, at);
CREATE INDEX ON bench_raw_audit (actor_user_id, at);
