"""The hospital's admission and discharge feed: HL7 v2 ADT messages over MLLP (A01
admission, A03 discharge, A08 update). A reported or expected discharge sets
``discharge_at`` on the member's open cases, found by the hospital's record number,
then by name and birth date, never on a weak match (that is a person's work).

Public surface: ``service.receive`` (apply one message, get its ACK/NAK) and
``listener`` (the MLLP server: ``serve_forever``, ``ListenerThread``, ``Limits``). Pure
helpers: ``rules`` (reading, matching), ``structure`` (the hl7apy check and where a
broken rule is), ``answer`` (the ACK as the message's version writes it), ``checkdigit``
(M10, M11) and ``escapes`` (HL7 escape sequences). The adt domain
is the only writer of ``adt_messages``; the case changes go through
``referral.moves.report_discharge``.
"""
