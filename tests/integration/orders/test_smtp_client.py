"""The sender's SMTP client against a server double written from RFC 5321, RFC 2920 and RFC 3030 (not the bench's
sink): a pipelined transaction, a server without PIPELINING, a refused recipient in the middle of pipelined
messages, a whole run in one write with CHUNKING."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dropship_shared.events import utcnow
from orders.adapters.channels import EmailChannel
from orders.adapters.smtp import SmtpBroken, SmtpConnection, SmtpRefused, Transaction
from orders.service_layer.ports import OutgoingMessage
from support.servers import free_port

SHORT = 2.0  # seconds: how long a client waits for a reply the double never sends (only a broken client waits)


@dataclass
class Mailbox:
    """What the double saw: the commands answered in each of its writes (a pipelined group is answered in one),
    the messages accepted (recipient, un-stuffed data), and the connections made."""

    pipelining: bool
    chunking: bool = False  # CHUNKING advertised (BDAT), beside PIPELINING
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> the reply to their RCPT
    groups: list[list[str]] = field(default_factory=list)
    accepted: list[tuple[str, bytes]] = field(default_factory=list)
    connections: int = 0

    @property
    def commands(self) -> list[str]:
        return [command for group in self.groups for command in group]


class SmtpDouble(asyncio.Protocol):
    """An SMTP server after RFC 5321: EHLO, MAIL, RCPT, DATA (554 without a valid recipient; the data up to the
    lone dot, un-stuffed), RSET, QUIT. With PIPELINING it does what RFC 2920 3.2 asks of a server: it keeps the
    replies to MAIL, RCPT, RSET and the end of data while more commands wait in its input, and sends what it
    keeps at once after DATA or when its input is empty. Without PIPELINING it answers each command alone. A
    recipient refused with 421 closes the connection (RFC 5321 3.8). With CHUNKING, BDAT <size> LAST takes the
    size's bytes as the message (554 without a valid recipient); the state a refused BDAT leaves is not defined
    (RFC 3030 2), and this double keeps the transaction open then: a MAIL before RSET gets 503."""

    def __init__(self, box: Mailbox) -> None:
        self._box = box
        self._buffer = b""
        self._sender: str | None = None
        self._recipients: list[str] = []
        self._in_data = False
        self._chunk: int | None = None  # bytes of a BDAT chunk still to come
        self._held: list[bytes] = []
        self._group: list[str] = []
        self._quitting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._box.connections += 1
        transport.write(b"220 double.example ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while not self._transport.is_closing():
            if self._chunk is not None:
                if len(self._buffer) < self._chunk:
                    return
                content, self._buffer = self._buffer[: self._chunk], self._buffer[self._chunk :]
                self._chunk = None
                self._end_of_message(content)
                if not self._buffer:
                    self._flush()
                continue
            if self._in_data:
                end = self._buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                lines = self._buffer[:end].split(b"\r\n")[1:]
                self._buffer = self._buffer[end + 5 :]
                self._in_data = False
                content = b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)
                self._box.accepted += [(recipient, content) for recipient in self._recipients]
                self._sender, self._recipients = None, []
                self._held.append(b"250 2.0.0 queued\r\n")
                self._group.append("(data)")
                if not self._box.pipelining or not self._buffer:
                    self._flush()
                continue
            line, found, rest = self._buffer.partition(b"\r\n")
            if not found:
                return
            self._buffer = rest
            command = line.decode()
            verb = command[:4].upper()
            self._group.append(verb)
            self._answer(command)
            if self._chunk is not None:
                continue  # answered once its bytes are in
            if self._quitting or not self._box.pipelining or verb not in ("MAIL", "RCPT", "RSET") or not self._buffer:
                self._flush()

    def _flush(self) -> None:
        self._transport.write(b"".join(self._held))
        self._box.groups.append(self._group)
        self._held, self._group = [], []
        if self._quitting:
            self._transport.close()

    def _end_of_message(self, content: bytes) -> None:
        """A BDAT LAST chunk is in: the message accepted, or refused with the transaction left open."""
        if self._sender is None or not self._recipients:
            self._held.append(b"554 5.5.1 no valid recipients\r\n")
            return
        self._box.accepted += [(recipient, content) for recipient in self._recipients]
        self._sender, self._recipients = None, []
        self._held.append(b"250 2.0.0 queued\r\n")

    def _answer(self, command: str) -> None:
        verb = command[:4].upper()
        if verb == "EHLO":
            extensions = ["SIZE 1000000", "8BITMIME", *(["PIPELINING"] if self._box.pipelining else [])]
            extensions += ["CHUNKING"] if self._box.chunking else []
            self._held.append(b"".join(f"250-{e}\r\n".encode() for e in ["double.example", *extensions[:-1]]))
            self._held.append(f"250 {extensions[-1]}\r\n".encode())
        elif verb == "MAIL" and self._sender is not None:
            self._held.append(b"503 5.5.1 nested MAIL command\r\n")
        elif verb == "MAIL":
            self._sender = command[10:].split(">")[0]
            self._held.append(b"250 2.1.0 OK\r\n")
        elif verb == "RCPT":
            recipient = command[9:].split(">")[0]
            if recipient in self._box.refuse:
                self._held.append(self._box.refuse[recipient].encode() + b"\r\n")
                self._quitting = self._box.refuse[recipient].startswith("421")
            else:
                self._recipients.append(recipient)
                self._held.append(b"250 2.1.5 OK\r\n")
        elif verb == "DATA":
            if self._sender is None or not self._recipients:
                self._held.append(b"554 5.5.1 no valid recipients\r\n")
            else:
                self._in_data = True
                self._buffer = b"\r\n" + self._buffer
                self._held.append(b"354 end with <CRLF>.<CRLF>\r\n")
        elif verb == "BDAT" and self._box.chunking:
            size, last = command.split()[1:]
            assert last == "LAST", "the client sends each message in one chunk"
            self._chunk = int(size)
        elif verb == "RSET":
            self._sender, self._recipients = None, []
            self._held.append(b"250 2.0.0 OK\r\n")
        elif verb == "QUIT":
            self._held.append(b"221 2.0.0 bye\r\n")
            self._quitting = True
        else:
            self._held.append(b"502 5.5.2 not implemented\r\n")


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Mailbox], asyncio.Future[int]]]:
    servers: list[asyncio.Server] = []

    async def start(box: Mailbox) -> int:
        server = await asyncio.get_running_loop().create_server(lambda: SmtpDouble(box), "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


def message(number: int, recipient: str, body: str = "Your order is on its way.\n") -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=number,
        message_key=f"order-{number}:shipped",
        kind="shipped",
        order_id=f"order-{number}",
        line_no=None,
        recipient=recipient,
        subject="Shipped",
        body=body,
        context={},
        attempts=1,
        created_at=utcnow(),
    )


def to(*recipients: str, content: bytes = b"Subject: hi\r\n\r\nhello\r\n") -> list[Transaction]:
    return [Transaction("shop@example.com", recipient, content) for recipient in recipients]


def nothing_around(index: int) -> AbstractContextManager[object]:
    return nullcontext()


async def send(box: Mailbox, port: int, transactions: list[Transaction]) -> list[datetime | Exception]:
    connection = await SmtpConnection.open("127.0.0.1", port, wait_seconds=SHORT)
    assert connection.pipelining == box.pipelining
    results = await connection.send_all(transactions, nothing_around)
    if connection.is_connected:
        await connection.quit()
    return results


GROUP = ["MAIL", "RCPT", "DATA"]


async def test_pipelined_messages_go_one_group_each_behind_the_last_ones_data(serve: Callable) -> None:
    box = Mailbox(pipelining=True)
    stuffed, bare = b"Subject: hi\r\n\r\n.hidden dot\r\nbye\r\n", b"Subject: hi\r\n\r\nagain\n"
    messages = [*to("ann@example.com", content=stuffed), *to("bob@example.com", content=bare)]
    results = await send(box, await serve(box), messages)
    assert all(isinstance(result, datetime) for result in results)
    assert box.groups == [["EHLO"], GROUP, ["(data)", *GROUP], ["(data)"], ["QUIT"]]
    assert box.accepted == [("ann@example.com", stuffed), ("bob@example.com", b"Subject: hi\r\n\r\nagain\r\n")]


async def test_a_server_without_pipelining_gets_one_command_at_a_time(serve: Callable) -> None:
    box = Mailbox(pipelining=False, refuse={"nobody@example.com": "550 5.1.1 no such user"})
    results = await send(box, await serve(box), to("ann@example.com", "nobody@example.com", "bob@example.com"))
    assert isinstance(results[0], datetime) and isinstance(results[2], datetime)
    assert isinstance(results[1], SmtpRefused) and (results[1].command, results[1].reply.code) == ("RCPT", 550)
    transaction = [["MAIL"], ["RCPT"], ["DATA"], ["(data)"]]
    assert box.groups == [["EHLO"], *transaction, ["MAIL"], ["RCPT"], ["RSET"], *transaction, ["QUIT"]]
    assert [recipient for recipient, _ in box.accepted] == ["ann@example.com", "bob@example.com"]


async def test_a_refused_recipient_fails_its_message_alone_in_a_pipelined_batch(serve: Callable) -> None:
    box = Mailbox(pipelining=True, refuse={"gone@example.com": "550 5.1.1 mailbox unavailable"})
    channel = EmailChannel("127.0.0.1", await serve(box), "Shop <shop@example.com>", timeout=SHORT, connections=1)
    try:
        recipients = ["ann@example.com", "gone@example.com", "bob@example.com"]
        results = await channel.send_many([message(n, to) for n, to in enumerate(recipients)])
        again = await channel.send_many([message(9, "cy@example.com")])
    finally:
        await channel.close()
    assert isinstance(results[0], datetime) and isinstance(results[2], datetime)
    assert isinstance(results[1], SmtpRefused) and results[1].reply.code == 550
    assert isinstance(again[0], datetime)
    assert [to for to, _ in box.accepted] == ["ann@example.com", "bob@example.com", "cy@example.com"]
    # the refused transaction (RCPT 550, so DATA 554) is reset before the next; one connection carried them all
    assert box.groups[1:] == [GROUP, ["(data)", *GROUP], ["RSET"], GROUP, ["(data)"], GROUP, ["(data)"], ["QUIT"]]
    assert box.connections == 1


async def test_a_temporary_refusal_is_told_apart_and_the_message_goes_on_a_later_try(serve: Callable) -> None:
    box = Mailbox(pipelining=True, refuse={"busy@example.com": "451 4.3.0 try again later"})
    port = await serve(box)
    (refused,) = await send(box, port, to("busy@example.com"))
    assert isinstance(refused, SmtpRefused) and refused.temporary
    del box.refuse["busy@example.com"]
    (went,) = await send(box, port, to("busy@example.com"))
    assert isinstance(went, datetime)
    assert [recipient for recipient, _ in box.accepted] == ["busy@example.com"]


async def test_a_broken_connection_fails_the_messages_in_flight_and_after_not_those_accepted(serve: Callable) -> None:
    box = Mailbox(pipelining=True, refuse={"down@example.com": "421 4.3.2 shutting down"})
    results = await send(box, await serve(box), to("ann@example.com", "down@example.com", "bob@example.com"))
    assert isinstance(results[0], datetime)  # its data's 250 came before the server closed
    assert isinstance(results[1], SmtpBroken) and isinstance(results[2], SmtpBroken)
    assert [recipient for recipient, _ in box.accepted] == ["ann@example.com"]


async def test_an_address_that_would_inject_a_command_is_refused_before_anything_is_written(serve: Callable) -> None:
    box = Mailbox(pipelining=True)
    (refused, went) = await send(
        box, await serve(box), to("ann@example.com>\r\nRCPT TO:<eve@example.com", "bob@example.com")
    )
    assert isinstance(refused, ValueError) and isinstance(went, datetime)
    assert box.groups == [["EHLO"], GROUP, ["(data)"], ["QUIT"]]


CHUNKED = ["MAIL", "RCPT", "BDAT"]
AGAIN = ["RSET", *CHUNKED]  # each message after the first of a run: the server's state after a refusal is not known


async def test_with_chunking_a_run_goes_in_one_write_and_its_data_unstuffed(serve: Callable) -> None:
    box = Mailbox(pipelining=True, chunking=True)
    stuffed, bare = b"Subject: hi\r\n\r\n.hidden dot\r\nbye\r\n", b"Subject: hi\r\n\r\nagain\n"
    messages = [*to("ann@example.com", content=stuffed), *to("bob@example.com", "cy@example.com", content=bare)]
    results = await send(box, await serve(box), messages)
    assert all(isinstance(result, datetime) for result in results)
    assert box.groups == [["EHLO"], [*CHUNKED, *AGAIN, *AGAIN], ["QUIT"]]
    again = b"Subject: hi\r\n\r\nagain\r\n"
    assert box.accepted == [("ann@example.com", stuffed), ("bob@example.com", again), ("cy@example.com", again)]


async def test_with_chunking_a_refused_recipient_fails_its_message_alone(serve: Callable) -> None:
    box = Mailbox(pipelining=True, chunking=True, refuse={"gone@example.com": "550 5.1.1 mailbox unavailable"})
    channel = EmailChannel("127.0.0.1", await serve(box), "Shop <shop@example.com>", timeout=SHORT, connections=1)
    try:
        recipients = ["ann@example.com", "gone@example.com", "bob@example.com", "nobody@example.com"]
        box.refuse["nobody@example.com"] = "550 5.1.1 no such user"
        results = await channel.send_many([message(n, to) for n, to in enumerate(recipients)])
        again = await channel.send_many([message(9, "cy@example.com")])
    finally:
        await channel.close()
    assert isinstance(results[0], datetime) and isinstance(results[2], datetime)
    assert all(isinstance(results[n], SmtpRefused) and results[n].command == "RCPT" for n in (1, 3)), results
    assert isinstance(again[0], datetime)
    assert [to for to, _ in box.accepted] == ["ann@example.com", "bob@example.com", "cy@example.com"]
    # the last message refused: the transaction it left open is reset before the connection carries the next run
    assert box.groups[1:] == [[*CHUNKED, *AGAIN, *AGAIN, *AGAIN], ["RSET"], CHUNKED, ["QUIT"]]
    assert box.connections == 1


async def test_with_chunking_a_broken_connection_fails_the_messages_after_the_last_accepted(serve: Callable) -> None:
    box = Mailbox(pipelining=True, chunking=True, refuse={"down@example.com": "421 4.3.2 shutting down"})
    results = await send(box, await serve(box), to("ann@example.com", "down@example.com", "bob@example.com"))
    assert isinstance(results[0], datetime)
    assert isinstance(results[1], SmtpBroken) and isinstance(results[2], SmtpBroken)
    assert [recipient for recipient, _ in box.accepted] == ["ann@example.com"]


class LoggedInMailbox:
    """An aiosmtpd handler that keeps what it receives, with the login it came under."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes | None, Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login if session.authenticated else None
        self.received.append((login, email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


def shop_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=auth_data == LoginPassword(b"shop", b"secret"), auth_data=auth_data)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_a_server_that_asks_for_a_login_is_sent_to_through_aiosmtplib() -> None:
    """AUTH (and STARTTLS) settings keep aiosmtplib's client: logged in, one command at a time, plain and
    non-ASCII messages alike."""
    mailbox = LoggedInMailbox()
    port = free_port()
    server = Controller(
        mailbox, hostname="127.0.0.1", port=port, auth_required=True, auth_require_tls=False, authenticator=shop_login
    )
    server.start()
    channel = EmailChannel("127.0.0.1", port, "Shop <shop@example.com>", username="shop", password="secret")
    try:
        results = await channel.send_many(
            [message(1, "ann@example.com"), message(2, "zoë@example.com", body="Ihre Bestellung ist unterwegs, Zoë.\n")]
        )
    finally:
        await channel.close()
        server.stop()
    assert all(isinstance(result, datetime) for result in results), results
    by_recipient = {str(received["To"]): (login, received) for login, received in mailbox.received}
    assert sorted(by_recipient) == ["ann@example.com", "zoë@example.com"]
    assert {login for login, _ in by_recipient.values()} == {b"shop"}
    assert by_recipient["zoë@example.com"][1].get_content().rstrip() == "Ihre Bestellung ist unterwegs, Zoë."
