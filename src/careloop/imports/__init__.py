"""Bulk files: a payer's or a health system's daily referrals as CSV or NDJSON.

Each row is checked with the JSON API's intake rules; good rows become cases through
``referral.bulk`` (with everything a case gets at intake); refused rows are kept with
their line, field and rule for the error file; a row whose external id a case already
carries is counted as already imported, so a file sent twice creates nothing new.

The imports domain owns ``import_jobs`` and ``import_row_errors`` (their only writer).
A job's state is its row: the worker (``tasks.run_pending``) runs queued jobs and
resumes one whose worker stopped, after its last stored batch.
"""

from careloop.imports import service as service
from careloop.imports import tasks as tasks
from careloop.imports.schemas import ImportJobRead as ImportJobRead

__all__ = ["ImportJobRead", "service", "tasks"]
