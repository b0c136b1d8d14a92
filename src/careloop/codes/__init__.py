"""Reference code sets and pure checks used on referrals: NPI, ICD-10-CM, HCPCS/CPT, ZIP and
state codes, and phone numbers. No database; shipped or packaged data loads on first use."""

from careloop.codes.geo import US_STATES, ZipInfo, state_problem, zip_info, zip_problem
from careloop.codes.hcpcs import (
    CPT_FORMAT,
    HCPCS_FORMAT,
    HcpcsCategory,
    HcpcsItem,
    HcpcsTableError,
    ServiceLine,
    SupplyMode,
    code_format_problem,
    hcpcs_table,
    lookup_hcpcs,
    search_hcpcs,
)
from careloop.codes.icd10 import (
    Icd10Check,
    Icd10Status,
    check_icd10,
    icd10_description,
    normalise_icd10,
    search_icd10,
)
from careloop.codes.npi import is_valid_npi, make_npi, npi_check_digit, npi_problem
from careloop.codes.phone import normalise_phone

__all__ = [
    "CPT_FORMAT",
    "HCPCS_FORMAT",
    "US_STATES",
    "HcpcsCategory",
    "HcpcsItem",
    "HcpcsTableError",
    "Icd10Check",
    "Icd10Status",
    "ServiceLine",
    "SupplyMode",
    "ZipInfo",
    "check_icd10",
    "code_format_problem",
    "hcpcs_table",
    "icd10_description",
    "is_valid_npi",
    "lookup_hcpcs",
    "make_npi",
    "normalise_icd10",
    "normalise_phone",
    "npi_check_digit",
    "npi_problem",
    "search_hcpcs",
    "search_icd10",
    "state_problem",
    "warm_up",
    "zip_info",
    "zip_problem",
]


def warm_up() -> None:
    """Load every code set now (ICD-10-CM takes over a second), not on a first request."""
    check_icd10("J44.1")
    zip_info("06103")
    hcpcs_table()
