"""Envelope validation: each count / control-number problem reported with its 997 (AK5/AK9) or TA1 code."""

from __future__ import annotations

import pytest

from dropship_x12 import (
    GroupError,
    InterchangeError,
    InterchangeReport,
    SetError,
    read_interchange,
    validate_interchange,
)

ISA = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240102*0304*U*00401*000000042*0*P*>~"
SET_1 = "ST*855*0001~BAK*00*AD*PO1*20240102~SE*3*0001~"
SET_2 = "ST*856*0002~BSN*00*S1*20240102*1200~SE*3*0002~"


def doc(body: str = SET_1 + SET_2, ge: str = "GE*2*7~", iea: str = "IEA*1*000000042~") -> str:
    return ISA + "GS*PR*SENDER*RECEIVER*20240102*0304*7*X*004010~" + body + ge + iea


def report_for(text: str, supported: set[str] | None = None) -> InterchangeReport:
    return validate_interchange(read_interchange(text), supported)


def test_clean_document_is_accepted() -> None:
    report = report_for(doc())
    assert report.accepted and report.envelope_ok
    [group] = report.groups
    assert (group.ak901, group.received, group.accepted_count, group.ak9_codes) == ("A", 2, 2, ())


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (SET_1.replace("SE*3", "SE*4") + SET_2, SetError.SEGMENT_COUNT_MISMATCH),
        (SET_1.replace("SE*3", "SE*x") + SET_2, SetError.SEGMENT_COUNT_MISMATCH),
        (SET_1.replace("SE*3*0001", "SE*3*0009") + SET_2, SetError.CONTROL_NUMBER_MISMATCH),
        (SET_1.replace("SE*3*0001~", "") + SET_2, SetError.TRAILER_MISSING),
        (
            SET_1.replace("ST*855*0001", "ST*855*01").replace("SE*3*0001", "SE*3*01") + SET_2,
            SetError.INVALID_CONTROL_NUMBER,
        ),
        (SET_1.replace("ST*855", "ST*X55") + SET_2, SetError.INVALID_SET_ID),
        (SET_1.replace("BAK*", "bak*") + SET_2, SetError.SEGMENTS_IN_ERROR),
        (SET_1 + SET_2.replace("0002", "0001"), SetError.CONTROL_NUMBER_NOT_UNIQUE),
    ],
)
def test_set_errors_make_the_group_partially_accepted(body: str, code: SetError) -> None:
    report = report_for(doc(body=body))
    [group] = report.groups
    first, second = group.sets
    assert code in first.ak5_codes or code in second.ak5_codes
    assert group.ak901 == "P"
    assert group.accepted_count == 1
    assert report.envelope_ok and not report.accepted


def test_unsupported_set_is_rejected_with_code_1() -> None:
    report = report_for(doc(), supported={"855"})
    first, second = report.groups[0].sets
    assert first.accepted
    assert second.ak5_codes == (SetError.NOT_SUPPORTED,)
    assert second.ak501 == "R"


def test_invalid_segment_position_is_recorded_for_ak3() -> None:
    report = report_for(doc(body=SET_1.replace("BAK*", "b@k*") + SET_2))
    [issue] = report.groups[0].sets[0].errors
    assert (issue.code, issue.segment_position, issue.segment_id) == (5, 2, "b@k")


@pytest.mark.parametrize(
    ("ge", "code"),
    [
        ("GE*3*7~", GroupError.SET_COUNT_MISMATCH),
        ("GE*two*7~", GroupError.SET_COUNT_MISMATCH),
        ("GE*2*8~", GroupError.CONTROL_NUMBER_MISMATCH),
        ("", GroupError.TRAILER_MISSING),
    ],
)
def test_group_errors_reject_the_group(ge: str, code: GroupError) -> None:
    report = report_for(doc(ge=ge))
    [group] = report.groups
    assert code in group.ak9_codes
    assert group.ak901 == "R"


def test_ge02_compared_numerically() -> None:
    assert report_for(doc(ge="GE*2*0007~")).accepted


def test_all_sets_rejected_means_group_rejected_without_group_code() -> None:
    report = report_for(doc(), supported={"997"})
    [group] = report.groups
    assert group.ak901 == "R" and group.ak9_codes == () and group.accepted_count == 0


@pytest.mark.parametrize(
    ("iea", "code"),
    [
        ("IEA*2*000000042~", InterchangeError.GROUP_COUNT_MISMATCH),
        ("IEA*1*000000043~", InterchangeError.CONTROL_NUMBER_MISMATCH),
        ("IEA*1~", InterchangeError.CONTROL_NUMBER_MISMATCH),
        ("", InterchangeError.PREMATURE_END_OF_FILE),
    ],
)
def test_interchange_errors_are_ta1_codes(iea: str, code: InterchangeError) -> None:
    report = report_for(doc(iea=iea))
    assert code.value in report.ta1_codes
    assert not report.envelope_ok and not report.accepted
    assert report.groups[0].accepted  # the group itself is fine


def test_unpadded_iea02_is_accepted_as_the_same_number() -> None:
    """Decision: IEA02/ISA13 are N0 elements, compared as numbers (documented in validation.py)."""
    assert report_for(doc(iea="IEA*1*42~")).accepted


def test_segments_outside_sets_are_invalid_content() -> None:
    report = report_for(doc(body="REF*ZZ*X~" + SET_1 + SET_2))
    assert report.ta1_codes == (InterchangeError.INVALID_CONTENT.value,)
    stray_before_group = ISA + "BAK*1~" + doc()[len(ISA) :]
    assert InterchangeError.INVALID_CONTENT.value in report_for(stray_before_group).ta1_codes


def test_truncated_mid_segment_reports_missing_trailers() -> None:
    text = doc()
    cut = text.index("BSN") + 5
    report = report_for(text[:cut])
    [group] = report.groups
    assert group.sets[1].ak5_codes == (SetError.TRAILER_MISSING,)
    assert GroupError.TRAILER_MISSING in group.ak9_codes
    assert InterchangeError.PREMATURE_END_OF_FILE.value in report.ta1_codes


def test_issue_messages_name_the_envelope() -> None:
    report = report_for(doc(body=SET_1.replace("SE*3", "SE*9") + SET_2))
    [issue] = report.all_issues()
    assert "855" in issue.message and "0001" in issue.message and "SE01" in issue.message
