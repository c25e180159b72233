"""The customer's email address, accepted and normalized exactly as pydantic's `EmailStr` does, cheaply when plain.

`EmailStr` runs email-validator on every address: about 50 µs of CPU per POST /orders, most of it spent on
Unicode normalization and IDNA checks that a plain ASCII address cannot need. A plain address (an ASCII dot-atom
before the @-sign; after it, ASCII letter-digit-hyphen labels with no doubled hyphen, so neither Punycode nor a
reserved "ab--" label, and a last label ending with a letter) whose domain is not special-use and whose length is
within email-validator's limits is one email-validator accepts, normalized by lowercasing the domain (UTS-46) and
the RFC 2142 mailbox names. Every other address goes to `EmailStr`'s own check, so each refusal, and its
message, is email-validator's (tests/unit/orders/test_customer_email.py holds both to it on generated addresses).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from email_validator.rfc_constants import ATEXT, CASE_INSENSITIVE_MAILBOX_NAMES, EMAIL_MAX_LENGTH
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic.networks import import_email_validator, validate_email
from pydantic_core import CoreSchema, core_schema

_LABEL = r"[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*"
_PLAIN_ADDRESS = re.compile(rf"([{ATEXT}]+(?:\.[{ATEXT}]+)*)@((?:{_LABEL}\.)+{_LABEL})(?<=[a-zA-Z])")
_MAX_LABEL = 63  # octets between two periods (RFC 1035 2.3.1), as email-validator checks
_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_SPECIAL_USE = re.compile(rf"(?:.*\.)?(?:{'|'.join(map(re.escape, SPECIAL_USE_DOMAIN_NAMES))})")
"""A domain email-validator refuses as special-use or reserved: the name or one under it."""


def plain_address(value: str) -> str | None:
    """The normalized form of a plain address, as email-validator gives it; None when it is not plain (which
    says nothing of its validity: email-validator decides)."""
    if len(value) > EMAIL_MAX_LENGTH or (match := _PLAIN_ADDRESS.fullmatch(value)) is None:
        return None
    local, domain = match.groups()
    domain = domain.lower()
    if any(len(label) > _MAX_LABEL for label in domain.split(".")):
        return None
    if _SPECIAL_USE.fullmatch(domain):
        return None
    if local.lower() in _MAILBOX_NAMES:
        local = local.lower()
    return f"{local}@{domain}"


def normalized_email(value: str) -> str:
    """The address as `EmailStr` validates and normalizes it (the same refusals, with the same messages)."""
    return plain_address(value) or validate_email(value)[1]


class _EmailAddress:
    """`EmailStr`'s schema (a string, then the check; documented as a string of format email) with our check."""

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: type[Any], _handler: GetCoreSchemaHandler) -> CoreSchema:
        import_email_validator()
        return core_schema.no_info_after_validator_function(normalized_email, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        field_schema = handler(schema)
        field_schema.update(type="string", format="email")
        return field_schema


EmailAddress = Annotated[str, _EmailAddress]
"""A validated, normalized email address: what `EmailStr` accepts, normalized as it normalizes."""
