"""Reading what a supplier's HTTP API answers, in the shapes real APIs give it: a refusal's reason (kept
verbatim, bounded, for people) and whether a cancel request was accepted, refused or left unclear."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

REASON_LIMIT = 500
# Where real APIs put the words of a refusal (RFC 9457 problem details, OAuth, JSON:API, ad-hoc APIs).
REASON_FIELDS = ("detail", "message", "error_description", "reason", "errors", "error", "title", "description")
ACCEPTED_WORDS = frozenset({"accepted", "cancelled", "canceled", "cancellation_accepted", "ok", "success"})
UNDECIDED_WORDS = frozenset({"pending", "processing", "received", "queued", "in_progress", "requested"})


class CancelVerdict(StrEnum):
    ACCEPTED = "accepted"  # a 2xx whose status, if any, says accepted or cancelled
    REFUSED = "refused"  # any 4xx, or a 2xx whose status says anything else that is not "still deciding"
    UNKNOWN = "unknown"  # an unreadable answer or one still deciding: ask again, never assume


def _words(value: Any, depth: int = 0) -> str | None:
    """The human words in a value: a string, the first reason field of an object, a list's items joined."""
    if depth > 4 or value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, Mapping):
        for name in (*REASON_FIELDS, "code"):
            found = _words(value.get(name), depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list):
        parts = [part for part in (_words(item, depth + 1) for item in value) if part]
        return "; ".join(parts) or None
    return None


def refusal_reason(status: int, body: Any) -> str:
    """The supplier's own words for a refusal: `detail`, `message`, `error`, `reason`, `errors[]` (strings or
    objects with a message), else the text body; bounded. Only the status code when it said nothing."""
    reason = None
    if isinstance(body, Mapping):
        for name in REASON_FIELDS:
            reason = _words(body.get(name))
            if reason:
                break
    elif isinstance(body, list):
        reason = _words(body)
    elif isinstance(body, str):
        reason = body.strip() or None
    return (reason or f"HTTP {status} with no reason given")[:REASON_LIMIT]


def cancel_verdict(status: int, body: Any) -> tuple[CancelVerdict, str | None]:
    """Only an explicit acceptance cancels; the reason comes with a refusal."""
    if 400 <= status < 500:
        return CancelVerdict.REFUSED, refusal_reason(status, body)
    if not 200 <= status < 300:
        return CancelVerdict.UNKNOWN, None
    if isinstance(body, str) and not body.strip():
        return CancelVerdict.ACCEPTED, None  # 200/202/204 with no body: nothing says otherwise
    if not isinstance(body, Mapping):
        return CancelVerdict.UNKNOWN, None
    said = body.get("status")
    if said is None:
        has_reason = any(body.get(name) for name in REASON_FIELDS)
        return (CancelVerdict.REFUSED, refusal_reason(status, body)) if has_reason else (CancelVerdict.ACCEPTED, None)
    word = str(said).strip().lower().replace(" ", "_").replace("-", "_")
    if word in ACCEPTED_WORDS:
        return CancelVerdict.ACCEPTED, None
    if word in UNDECIDED_WORDS:
        return CancelVerdict.UNKNOWN, None
    words = refusal_reason(status, body)
    return CancelVerdict.REFUSED, words if not words.startswith("HTTP ") else str(said)[:REASON_LIMIT]
