"""US phone numbers, normalised to E.164 ("+18605550123") with the ``phonenumbers`` package.

Synthetic demo data uses real area codes with the exchange 555 and line numbers 0100-0199
(for example 860-555-0100 to 860-555-0199). That range is reserved for fiction and is never
assigned to a subscriber, yet phonenumbers' metadata accepts it as a valid US fixed-line or
mobile number (``is_valid_number`` is True, checked in tests/unit/codes/test_phone.py), so
demo records pass the same strict check as real ones and no looser "possible number" rule
is needed. Other 555 numbers (555-1234) and made-up area codes (123-456-7890) are rejected.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = ["normalise_phone"]

# North American Numbering Plan regions under US jurisdiction, matching the service areas
# in geo.US_STATES. Canadian and Caribbean nation numbers share the +1 country code but are
# not US numbers.
_US_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})


#: The everyday spellings of a ten-digit US number: 860-555-0123, 860.555.0123,
#: 860 555 0123, 8605550123, (860) 555-0123. Area code and exchange never start with 0 or
#: 1, so ``phonenumbers.parse`` reads these digits as the national number, unchanged.
_PLAIN = re.compile(r"(?:\(([2-9]\d\d)\) ?|([2-9]\d\d)[-. ]?)([2-9]\d\d)[-. ]?(\d{4})")


@functools.lru_cache(maxsize=4096)
def normalise_phone(value: str) -> str | None:
    """E.164 form of a valid US phone number, or None if ``value`` is not one.

    National ("(860) 555-0123") and international ("+1 860 555 0123") spellings are accepted.
    An extension ("x12") is dropped, as E.164 cannot carry one.
    """
    number = _plain_number(value)
    if number is None:
        try:
            number = phonenumbers.parse(value, "US")
        except phonenumbers.NumberParseException:
            return None
    # ``is_valid_number`` is ``is_valid_number_for_region`` of the number's region; the
    # region is wanted anyway, so it is worked out once (bulk imports check many numbers).
    region = phonenumbers.region_code_for_number(number)
    if region not in _US_REGIONS:
        return None
    if region not in _found_only_when_valid() and not phonenumbers.is_valid_number_for_region(
        number, region
    ):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.cache
def _found_only_when_valid() -> frozenset[str]:
    """The regions that ``region_code_for_number`` names only for a valid number: among
    the regions sharing +1 it tries each in turn, by its leading digits where the region
    has some, else by validating the number for it. The first of the list without leading
    digits (the US) is thus named only once the number is valid there."""
    first = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1][0]
    metadata = PhoneMetadata.metadata_for_region(first)
    return (
        frozenset({first})
        if metadata is not None and metadata.leading_digits is None
        else frozenset()
    )


def _plain_number(value: str) -> phonenumbers.PhoneNumber | None:
    """The number ``phonenumbers.parse(value, "US")`` gives, without its general parsing,
    when ``value`` is written in one of the everyday ways (:data:`_PLAIN`)."""
    match = _PLAIN.fullmatch(value)
    if match is None:
        return None
    area = match.group(1) or match.group(2)
    return phonenumbers.PhoneNumber(
        country_code=1, national_number=int(area + match.group(3) + match.group(4))
    )
