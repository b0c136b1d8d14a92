-- One intake transaction without the application: a referral-sized row (~40 columns,
-- ~1.5 kB) and an audit-sized row, committed durably. Run by bench/intake.py as
-- `pgbench -n -M prepared -c 8 -f bench/pgbench_referral.sql` on the scratch tables of
-- bench/pgbench_schema.sql.
\set n random(1, 2000000000)
\set days random(0, 30000)
BEGIN;
INSERT INTO bench_raw_referrals (
    case_number, external_id, channel, urgency, status, version,
    member_first_name, member_last_name, member_birth_date, member_sex, member_phone,
    member_language, member_time_zone, duplicate_key,
    address_line1, address_line2, address_city, address_state, address_zip, access_barriers,
    payer_id, payer_reference, member_id, group_number,
    ordering_npi, ordering_name, ordering_organization, ordering_phone, ordering_fax,
    diagnoses, requested_start, discharge_at, signed_on, signer_npi, notes,
    service_class, time_zone, findings, escalated, escalation_reason,
    ack_due_at, service_due_at, received_at, updated_at,
    referrer_organization_id, created_by_user_id
) VALUES (
    'CL-2026-' || lpad(nextval('bench_raw_case_seq')::text, 8, '0'), 'HOSP-ORD-' || :n,
    'fhir', 'routine', 'received', 1,
    'Dorothy', 'Hale' || :client_id, date '1930-01-01' + (:days)::int, 'female', '860-555-0142',
    'en', 'America/New_York', left(md5(:n::text), 32),
    '41 Asylum St', 'Apartment 3, third floor, rear entrance', 'Hartford', 'CT', '06103',
    '["third-floor walk-up", "oxygen in use: no open flames"]'::jsonb,
    1, 'NEHP', 'NEH448812301', 'GRP-7781',
    '1234567893', 'Dr. Amara Osei', 'Hartford General Hospital', '860-555-0100',
    '860-555-0101',
    '["J44.1", "Z99.81", "I50.9"]'::jsonb, current_date + 2, now() + interval '1 day',
    current_date - 1, '1234567893',
    'Oxygen 2 L/min continuous; concentrator and portable cylinders. ' || repeat(md5(:n::text), 20),
    'standard_dme', 'America/New_York',
    '[{"code": "ordering_contact_missing", "field": "ordering_provider.phone", "message": "No phone or fax for the ordering clinician''s office: clarification questions need somewhere to go.", "severity": "warning", "related_case_number": null}]'::jsonb,
    false, NULL,
    now() + interval '1 day', now() + interval '3 days', now(), now(),
    NULL, 1
);
INSERT INTO bench_raw_audit (
    at, actor_user_id, actor_role, actor_label, action, outcome, case_number, referral_id,
    ip, request_id, detail
) VALUES (
    now(), 1, 'intake_agent', 'bench@example.test', 'referral.create', 'success',
    'CL-2026-' || :n, currval('bench_raw_referrals_id_seq'), '127.0.0.1', md5(:n::text),
    '{"status": "received", "findings": 1}'::jsonb
);
END;
