"""Webhook signing: HMAC-SHA256 over "<timestamp>.<body>", with a freshness window."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest

from dropship_shared.signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    compute_signature,
    is_valid,
    sign,
    verify,
)

SECRET = "s3cret-shared-with-the-gateway"
BODY = b'{"po_number":"PO-1","status":"accepted","lines":[]}'
NOW = 1_700_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, NOW, BODY) == f"sha256={expected}"
    assert compute_signature(SECRET.encode(), str(NOW), BODY) == f"sha256={expected}"


def test_sign_produces_the_three_headers() -> None:
    headers = sign(SECRET, BODY, timestamp=NOW)
    assert headers[TIMESTAMP_HEADER] == str(NOW)
    assert uuid.UUID(headers[EVENT_ID_HEADER]).version == 4
    assert headers[SIGNATURE_HEADER] == compute_signature(SECRET, NOW, BODY)
    assert sign(SECRET, BODY, event_id="evt-1")[EVENT_ID_HEADER] == "evt-1"


def test_verify_accepts_a_fresh_valid_signature_with_any_header_case() -> None:
    headers = {k.lower(): v for k, v in sign(SECRET, BODY, timestamp=NOW, event_id="evt-7").items()}
    verified = verify(SECRET, BODY, headers, now=NOW + 10)
    assert verified.event_id == "evt-7"
    assert verified.timestamp == NOW
    assert is_valid(SECRET, BODY, headers, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, 10_000])
def test_stale_or_future_timestamp_is_refused(skew: int) -> None:
    headers = sign(SECRET, BODY, timestamp=NOW)
    with pytest.raises(SignatureError) as err:
        verify(SECRET, BODY, headers, now=NOW + skew)
    assert err.value.reason == "stale_timestamp"


def test_window_edges_are_inclusive_and_configurable() -> None:
    headers = sign(SECRET, BODY, timestamp=NOW)
    verify(SECRET, BODY, headers, now=NOW + 300)
    verify(SECRET, BODY, headers, now=NOW - 300)
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, headers, now=NOW + 61, tolerance_seconds=60)


@pytest.mark.parametrize(
    "body",
    [BODY.replace(b"accepted", b"rejected"), BODY + b" ", b"", BODY[:-1]],
)
def test_tampered_body_is_refused(body: bytes) -> None:
    headers = sign(SECRET, BODY, timestamp=NOW)
    with pytest.raises(SignatureError) as err:
        verify(SECRET, body, headers, now=NOW)
    assert err.value.reason == "signature_mismatch"


def test_wrong_secret_and_moved_timestamp_are_refused() -> None:
    headers = sign(SECRET, BODY, timestamp=NOW)
    assert not is_valid("other-secret", BODY, headers, now=NOW)
    moved = {**headers, TIMESTAMP_HEADER: str(NOW + 1)}
    with pytest.raises(SignatureError) as err:
        verify(SECRET, BODY, moved, now=NOW)
    assert err.value.reason == "signature_mismatch"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({SIGNATURE_HEADER: None}, "missing_header"),
        ({TIMESTAMP_HEADER: None}, "missing_header"),
        ({EVENT_ID_HEADER: None}, "missing_header"),
        ({EVENT_ID_HEADER: "e" * 201}, "bad_event_id"),  # longer than any receiver remembers
        ({TIMESTAMP_HEADER: "yesterday"}, "bad_timestamp"),
        ({TIMESTAMP_HEADER: "-5"}, "bad_timestamp"),
        ({SIGNATURE_HEADER: "md5=abc"}, "bad_signature_format"),
        ({SIGNATURE_HEADER: "sha256=" + "0" * 64}, "signature_mismatch"),
        ({SIGNATURE_HEADER: "sha256=zz\u00e9"}, "signature_mismatch"),
    ],
)
def test_malformed_headers_are_refused_with_a_reason(change: dict[str, str | None], reason: str) -> None:
    headers: dict[str, str] = {**sign(SECRET, BODY, timestamp=NOW)}
    for name, value in change.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    with pytest.raises(SignatureError) as err:
        verify(SECRET, BODY, headers, now=NOW)
    assert err.value.reason == reason


def test_empty_secret_cannot_sign() -> None:
    with pytest.raises(ValueError):
        sign("", BODY)
