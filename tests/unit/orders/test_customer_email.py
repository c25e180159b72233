"""The customer's email address accepts, refuses and normalizes exactly as pydantic's `EmailStr` (email-validator):
its plain fast path only ever answers what email-validator answers, and every other address is email-validator's,
checked on generated addresses near every rule's edge (quoted local parts, IDN and Punycode domains, dots and
hyphens out of place, special-use names, lengths at the limits, display names, whitespace)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, EmailStr, ValidationError
from pydantic.networks import validate_email

from orders.entrypoints.customer_email import EmailAddress, plain_address

ATEXT = "abcXYZ019_!#$%&'*+-/=?^`{|}~"
LOCAL_CHARS = ATEXT + '."\\ @<>é\u0301ßİ\x00\t'
LABEL_CHARS = "abzAZ09-"
NASTY_LABEL_CHARS = LABEL_CHARS + "éüßİK\uff0e\u3002\u2488_ 💩"
SPECIAL = ["arpa", "invalid", "local", "localhost", "onion", "test", "in-addr.arpa"]


def label(chars: str, max_size: int = 70) -> st.SearchStrategy[str]:
    return st.text(chars, min_size=0, max_size=max_size) | st.sampled_from(
        ["xn--ls8h", "xn--bcher-kva", "ab--cd", "XN--BCHER-KVA"]
    )


@st.composite
def domains(draw: st.DrawFn, chars: str) -> str:
    labels = draw(st.lists(label(chars), min_size=1, max_size=5))
    tld = draw(st.sampled_from(["com", "COM", "de", "c1", "x-y", "-com", "com-", *SPECIAL]) | label(chars, 8))
    return ".".join([*labels, tld]) + draw(st.sampled_from(["", "", ".", "-"]))


@st.composite
def local_parts(draw: st.DrawFn, chars: str) -> str:
    local = draw(
        st.text(chars, min_size=0, max_size=80)
        | st.sampled_from(["info", "Info", "POSTMASTER", "www", "a.b", ".a", "a.", "a..b"])
    )
    return f'"{local}"' if draw(st.integers(0, 5)) == 0 else local


@st.composite
def addresses(draw: st.DrawFn, local_chars: str, domain_chars: str) -> str:
    address = f"{draw(local_parts(local_chars))}@{draw(domains(domain_chars))}"
    if draw(st.integers(0, 3)) == 0:  # lengths right at email-validator's limits (254 in all, 63 a label)
        pad = draw(st.sampled_from([61, 62, 63, 64, 250, 251, 252, 253, 254, 255])) - len(address)
        if pad > 2:
            address = address.replace("@", "@" + "a" * (pad - 1) + ".", 1) if pad <= 64 else "a" * pad + address
    wrapped = draw(st.sampled_from(["{}", " {}", "{} ", "Ann <{}>", '"Ann B" <{}>', "<{}>", "{}\n", "{}\u00a0"]))
    return wrapped.format(address)


@st.composite
def plain_addresses(draw: st.DrawFn) -> str:
    """Addresses in (or one slip away from) the fast path's shape: dot-atoms, letter-digit-hyphen labels."""
    local = ".".join(draw(st.lists(st.text(ATEXT, min_size=1, max_size=30), min_size=1, max_size=3)))
    labels = draw(st.lists(st.from_regex(r"[a-zA-Z0-9]{1,30}(-[a-zA-Z0-9]{1,30}){0,2}", fullmatch=True), min_size=1))
    tld = draw(st.from_regex(r"[a-zA-Z0-9-]{0,5}[a-zA-Z0-9]", fullmatch=True) | st.sampled_from(SPECIAL))
    address = f"{local}@{'.'.join([*labels, tld])}"
    if draw(st.booleans()):  # up to the limits: 254 in all, 63 a label
        address = address.replace("@", "@" + "b" * draw(st.integers(55, 70)) + ".", 1)
        address = "a" * draw(st.integers(0, max(0, 254 - len(address) + 2))) + address
    return address


PLAIN = plain_addresses() | addresses(ATEXT + ".", LABEL_CHARS + ".")
NASTY = addresses(LOCAL_CHARS, NASTY_LABEL_CHARS)


class Customer(BaseModel):
    email: EmailAddress


class CustomerBefore(BaseModel):
    email: EmailStr


def outcome(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate({"email": value}, strict=True).model_dump()
    except ValidationError as exc:
        return exc.errors(include_url=False)


@settings(max_examples=3000, deadline=None)
@given(address=PLAIN | NASTY | st.emails())
@example("Bench@Example.COM")
@example("INFO@example.com")
@example("a@b.local")
@example("a@xn--ls8h.la")
@example("a@ab--cd.com")
@example("a@b.c1")
@example(f"a@{'b' * 63}.com")
@example(f"a@{'b' * 64}.com")
@example(f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com")
@example(f"{'a' * 65}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com")
def test_the_fast_path_answers_only_what_email_validator_answers(address: str) -> None:
    plain = plain_address(address)
    if plain is not None:
        assert plain == validate_email(address)[1]


@settings(max_examples=1500, deadline=None)
@given(value=PLAIN | NASTY | st.emails() | st.text(max_size=300) | st.integers() | st.none())
def test_every_address_is_accepted_refused_and_normalized_as_emailstr_does(value: Any) -> None:
    assert outcome(Customer, value) == outcome(CustomerBefore, value)


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("bench@example.com", "bench@example.com"),
        ("Ann.Lee+orders@Mail.Example.CO.UK", "Ann.Lee+orders@mail.example.co.uk"),
        ("Support@shop-1.example.com", "support@shop-1.example.com"),
        ("o'brien@x.io", "o'brien@x.io"),
    ],
)
def test_common_addresses_take_the_fast_path(address: str, normalized: str) -> None:
    assert plain_address(address) == normalized == validate_email(address)[1]


def test_it_is_documented_as_emailstr() -> None:
    schema, before = Customer.model_json_schema(), CustomerBefore.model_json_schema()
    assert schema["properties"] == before["properties"]
