"""ZIP and state checks backed by the zipcodes package."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.codes import US_STATES, ZipInfo, state_problem, zip_info, zip_problem

ZIP_MESSAGES = {
    "must be 5 digits or ZIP+4",
    "is not a known US ZIP code",
    "is a retired ZIP code that is no longer in use",
}


class TestZipInfo:
    @pytest.mark.parametrize("zip_code", ["06103", "06103-1234", "061031234", " 06103 "])
    def test_returns_city_state_county_and_zone_when_zip_is_known(self, zip_code: str) -> None:
        assert zip_info(zip_code) == ZipInfo(
            zip_code="06103",
            city="Hartford",
            state="CT",
            county="Hartford County",
            time_zone="America/New_York",
        )

    def test_returns_territory_without_county_when_zip_is_in_virgin_islands(self) -> None:
        info = zip_info("00802")
        assert info is not None
        assert (info.state, info.county, info.time_zone) == ("VI", None, "America/St_Thomas")

    @pytest.mark.parametrize("zip_code", ["6103", "ABCDE", "", "06103-12", "99999"])
    def test_returns_none_when_zip_is_malformed_or_unknown(self, zip_code: str) -> None:
        assert zip_info(zip_code) is None


class TestZipProblem:
    @pytest.mark.parametrize("state", ["CT", "ct", " CT "])
    def test_returns_none_when_zip_is_in_given_state(self, state: str) -> None:
        assert zip_problem("06103", state) is None

    def test_names_both_states_when_zip_is_in_another_state(self) -> None:
        assert zip_problem("06103", "NY") == "ZIP 06103 is in CT, not NY"

    def test_skips_state_comparison_when_state_is_blank(self) -> None:
        assert zip_problem("06103", "") is None

    @pytest.mark.parametrize("zip_code", ["6103", "061-03", "ABCDE", "06103-12", ""])
    def test_asks_for_five_digits_when_zip_is_malformed(self, zip_code: str) -> None:
        assert zip_problem(zip_code, "CT") == "must be 5 digits or ZIP+4"

    def test_reports_unknown_when_zip_does_not_exist(self) -> None:
        assert zip_problem("99999", "AK") == "is not a known US ZIP code"

    def test_reports_retired_when_zip_is_no_longer_active(self) -> None:
        assert zip_problem("01133", "MA") == "is a retired ZIP code that is no longer in use"

    @settings(deadline=None)
    @given(st.from_regex(r"\A[0-9]{5}\Z"), st.sampled_from(sorted(US_STATES)))
    def test_returns_known_message_when_given_any_five_digits(
        self, zip_code: str, state: str
    ) -> None:
        problem = zip_problem(zip_code, state)
        assert problem is None or problem in ZIP_MESSAGES or problem.startswith("ZIP ")


class TestStateProblem:
    def test_counts_50_states_dc_and_5_territories_when_listed(self) -> None:
        assert len(US_STATES) == 56
        assert {"DC", "PR", "VI", "GU", "AS", "MP"} <= US_STATES
        assert not {"AA", "AE", "AP", "FM", "MH", "PW"} & US_STATES

    @pytest.mark.parametrize("state", ["CT", "ct", " PR ", "DC"])
    def test_returns_none_when_state_is_known(self, state: str) -> None:
        assert state_problem(state) is None

    @pytest.mark.parametrize("state", ["XX", "AE", "FM"])
    def test_reports_unknown_when_two_letters_are_not_a_service_area(self, state: str) -> None:
        assert state_problem(state) == "is not a US state or territory code"

    @pytest.mark.parametrize("state", ["Conn", "C", "", "C1"])
    def test_asks_for_two_letters_when_state_is_malformed(self, state: str) -> None:
        assert state_problem(state) == "must be a two-letter state code, like CT"
