"""HMAC-SHA256 signing and verification of supplier webhook bodies (see supplier-protocols.md)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
EVENT_ID_HEADER = "X-Event-Id"
SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300
# Receivers remember event ids to refuse replays; longer ones are refused rather than truncated.
MAX_EVENT_ID_LENGTH = 200


class SignatureError(Exception):
    """A signed request failed verification; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """What a successful verification vouches for."""

    event_id: str
    timestamp: int


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def compute_signature(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """Return ``sha256=<hex>`` of HMAC-SHA256 over ``b"<timestamp>.<body>"``."""
    if not _key(secret):
        raise ValueError("signing secret must not be empty")
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(_key(secret), message, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def sign(
    secret: str | bytes,
    body: bytes,
    *,
    timestamp: int | None = None,
    event_id: str | None = None,
) -> dict[str, str]:
    """Return the headers (X-Timestamp, X-Event-Id, X-Signature) that sign ``body``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        TIMESTAMP_HEADER: str(ts),
        EVENT_ID_HEADER: event_id or str(uuid.uuid4()),
        SIGNATURE_HEADER: compute_signature(secret, ts, body),
    }


def verify(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> VerifiedRequest:
    """Check the signature headers of ``body``; raise :class:`SignatureError` if not valid.

    Header names are matched case-insensitively. Replay detection (an already seen
    X-Event-Id) is the receiver's job: it must remember the returned ``event_id``.
    Reasons: ``missing_header``, ``bad_event_id``, ``bad_timestamp``, ``stale_timestamp``,
    ``bad_signature_format``, ``signature_mismatch``.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ts = lowered.get(TIMESTAMP_HEADER.lower())
    event_id = lowered.get(EVENT_ID_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower())
    if not raw_ts or not event_id or not signature:
        raise SignatureError("missing_header", "X-Timestamp, X-Event-Id and X-Signature are required")
    if len(event_id.strip()) > MAX_EVENT_ID_LENGTH:
        raise SignatureError("bad_event_id", f"X-Event-Id must be at most {MAX_EVENT_ID_LENGTH} characters")
    raw_ts = raw_ts.strip()
    if not raw_ts.isascii() or not raw_ts.isdigit():
        raise SignatureError("bad_timestamp", "X-Timestamp must be unix seconds")
    timestamp = int(raw_ts)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError("stale_timestamp", "X-Timestamp outside the accepted window")
    signature = signature.strip()
    if not signature.startswith(SIGNATURE_PREFIX):
        raise SignatureError("bad_signature_format", "X-Signature must be sha256=<hex>")
    expected = compute_signature(secret, raw_ts, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise SignatureError("signature_mismatch", "X-Signature does not match the body")
    return VerifiedRequest(event_id=event_id.strip(), timestamp=timestamp)


def is_valid(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Boolean form of :func:`verify`."""
    try:
        verify(secret, body, headers, tolerance_seconds=tolerance_seconds, now=now)
    except SignatureError:
        return False
    return True
