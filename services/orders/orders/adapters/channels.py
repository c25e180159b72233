"""Customer-message channels: SMTP email (adapters.smtp, a pool of open connections) and a webhook signed
with HMAC-SHA256 (one HTTP client, its connections kept alive), each talking to the network from an event
loop of its own, to which the service's loop hands a claimed batch of messages at once."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import io
import json
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from email import quoprimime
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import parseaddr
from functools import partial
from typing import Any, TypeVar

import httpx

from dropship_shared.events import utcnow
from dropship_shared.signing import sign
from dropship_shared.tracing import continuing
from orders.adapters.smtp import AiosmtplibConnection, SmtpConnection, Transaction
from orders.service_layer.ports import OutgoingMessage

T = TypeVar("T")

MAX_LINE = 78  # RFC 5322's recommended line length, which email's generator keeps to
HEADER_NAMES = ("From", "To", "Subject", "Message-ID")  # of a plain message, in the order EmailChannel sets them


def plain_ascii_email(sender: str, message: OutgoingMessage) -> bytes | None:
    """The message as SMTP bytes, written directly when it is plain: ASCII only, no line break in a header.
    That is every message the shop's own templates make for an ASCII customer, and it costs a twentieth of
    building an `EmailMessage` (whose header registry parses every header) and flattening it. The body is
    encoded as `EmailMessage.set_content` would: 7bit, or quoted-printable when a line is longer than 78
    characters. Anything else (non-ASCII) gives None: the caller takes email's own path."""
    values = (sender, message.recipient, message.subject, _message_id(message))
    in_headers = "".join(values)
    if not (message.body.isascii() and in_headers.isascii()) or "\r" in in_headers or "\n" in in_headers:
        return None
    lines = message.body.splitlines()
    if max(map(len, lines), default=0) <= MAX_LINE:
        encoding = "7bit"
    else:  # as set_content: quoted-printable unless base64 is shorter (never, for ASCII prose; checked alike) in
        # a sniff of the first ten lines, which is the whole body when it has no more
        encoding = "quoted-printable"
        sniff = "\n".join(lines[:10]) + "\n"
        encoded = quoprimime.body_encode(sniff, MAX_LINE)
        if len(encoded) > len(binascii.b2a_base64(sniff.encode("ascii"))):
            return None
        if len(lines) > 10:
            encoded = quoprimime.body_encode("\n".join(lines) + "\n", MAX_LINE)
        lines = encoded.splitlines()
    head = [_header(name, value) for name, value in zip(HEADER_NAMES, values, strict=True)]
    head += ['Content-Type: text/plain; charset="utf-8"', f"Content-Transfer-Encoding: {encoding}", "MIME-Version: 1.0"]
    return ("\r\n".join([*head, "", *lines]) + "\r\n").encode("ascii")


# An address alone, as the shop stores its customers' (RFC 5322 3.4.1's dot-atom, at a domain of dot-separated labels)
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
BARE_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*", re.ASCII)


def envelope_address(recipient: str) -> str:
    """The address RCPT names for a To value: the value itself when it is a bare address (which parseaddr reads
    as it is, at a tenth of the cost), else what parseaddr reads in it."""
    if BARE_ADDRESS.fullmatch(recipient):
        return recipient
    return parseaddr(recipient)[1] or recipient.strip()


def _header(name: str, value: str) -> str:
    line = f"{name}: {value}"
    if len(line) <= MAX_LINE:
        return line
    return f"{name}: " + Header(value, header_name=name).encode(linesep="\r\n")  # folded at spaces


def _message_id(message: OutgoingMessage) -> str:
    # A stable Message-ID: if a crash makes us send twice, mail systems can tell it is the same message.
    return f"<{message.message_key.replace(':', '.')}@orders>"


def message_span(channel: str, message: OutgoingMessage) -> AbstractContextManager[None]:
    """The span of one message's sending, continuing its order's trace."""
    return continuing(
        f"send customer message {message.kind}", message.traceparent, channel=channel, order_id=message.order_id
    )


class NetworkThread:
    """An event loop in a thread of its own, where a channel does its round trips. Under load the service's
    loop takes a long turn through requests and event handlers between two callbacks, and a message that
    needs several round trips (SMTP: MAIL, RCPT, DATA) would wait one turn for each; here a round trip waits
    only for the interpreter. The service's loop hands over a claimed batch and sees one callback for it: the
    outcome of each message (a hand-over per message cost a wake-up of each loop per message)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the thread's loop (started on first use); cancelling the caller cancels it."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name=self._name, daemon=True)
            self._thread.start()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    async def send_each(
        self, channel: str, sends: Sequence[tuple[OutgoingMessage, Callable[[], Awaitable[None]]]]
    ) -> list[datetime | Exception]:
        """Run each message's send on the thread's loop, all at once (the channel bounds how many are on the wire),
        each in a span continuing its order's trace: for each, when it went or what it failed with."""

        async def sent(message: OutgoingMessage, send: Callable[[], Awaitable[None]]) -> datetime | Exception:
            try:
                with message_span(channel, message):
                    await send()
            except Exception as exc:
                return exc
            return utcnow()

        async def all_of_them() -> list[datetime | Exception]:
            return list(await asyncio.gather(*(sent(message, send) for message, send in sends)))

        return await self.run(all_of_them())

    async def stop(self, farewell: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `farewell` on the thread's loop (letting go of connections), then end the thread."""
        if self._loop is None or self._thread is None:
            return
        await self.run(farewell())
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()
        self._loop = self._thread = None


class EmailChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        timeout: float = 10.0,
        connections: int = 4,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._envelope_sender = parseaddr(sender)[1] or sender
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._timeout = timeout
        # Open connections waiting for the next message: a message costs one SMTP transaction, not a
        # TCP connect, EHLO and login each. At most `connections` are in use at once. Both live on the
        # network thread's loop.
        self._idle: asyncio.LifoQueue[SmtpConnection | AiosmtplibConnection] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(connections)
        self._connections = connections
        self._network = NetworkThread("smtp")

    async def send_many(self, messages: Sequence[OutgoingMessage]) -> list[datetime | Exception]:
        return await self._network.run(self._send_runs(messages, [self._email(message) for message in messages]))

    def _email(self, message: OutgoingMessage) -> EmailMessage | bytes:
        plain = plain_ascii_email(self._sender, message)
        if plain is not None:
            return plain
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Message-ID"] = _message_id(message)
        email.set_content(message.body)
        return email

    async def _send_runs(
        self, messages: Sequence[OutgoingMessage], emails: Sequence[EmailMessage | bytes]
    ) -> list[datetime | Exception]:
        """On the network thread: the batch split into a run of messages per connection, the runs side by side
        (a connection sends its run back to back, pipelined when the server allows). For each message, when
        it went or what it failed with."""
        results: list[datetime | Exception] = [ConnectionError("not sent")] * len(messages)  # each set below
        runs = min(self._connections, len(messages))

        async def run(indexes: Sequence[int]) -> None:
            async with self._slots:
                try:
                    connection = await self._connection()
                except Exception as exc:
                    for index in indexes:
                        results[index] = exc
                    return
                sendable = []
                for index in indexes:
                    try:
                        sendable.append((index, self._transaction(messages[index], emails[index], connection)))
                    except ValueError as exc:
                        results[index] = exc
                try:
                    sent = await connection.send_all(
                        [transaction for _, transaction in sendable],
                        lambda at: message_span(self.name, messages[sendable[at][0]]),
                    )
                except BaseException:  # cancelled (shutdown) mid-run: in an unknown state, never reused
                    connection.close()
                    raise
                for (index, _), result in zip(sendable, sent, strict=True):
                    results[index] = result
                if connection.is_connected:
                    self._idle.put_nowait(connection)

        await asyncio.gather(*(run(range(first, len(messages), runs)) for first in range(runs)))
        return results

    def _transaction(
        self, message: OutgoingMessage, email: EmailMessage | bytes, connection: SmtpConnection | AiosmtplibConnection
    ) -> Transaction:
        recipient = envelope_address(message.recipient)
        if isinstance(email, bytes):
            return Transaction(self._envelope_sender, recipient, email)
        content, options = _flattened(email, self._envelope_sender + recipient, connection.extensions)
        return Transaction(self._envelope_sender, recipient, content, options)

    async def _connection(self) -> SmtpConnection | AiosmtplibConnection:
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection.is_connected:
                return connection
        if self._start_tls or self._username:
            return await AiosmtplibConnection.open(
                self._host, self._port, self._timeout, self._username, self._password, self._start_tls
            )
        return await SmtpConnection.open(self._host, self._port, self._timeout)

    async def close(self) -> None:
        await self._network.stop(self._quit)

    async def _quit(self) -> None:
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection.is_connected:
                with contextlib.suppress(Exception):
                    await connection.quit()
            connection.close()


def _flattened(email: EmailMessage, addresses: str, extensions: dict[str, str]) -> tuple[bytes, list[str]]:
    """A message that is not plain ASCII, as SMTP bytes and the MAIL options it needs, as aiosmtplib's
    send_message made them: SMTPUTF8 when an address is not ASCII (refused by a server without it), 8bit
    content with BODY=8BITMIME when the server takes it, 7bit otherwise."""
    options = []
    utf8 = not addresses.isascii()
    if utf8:
        if "SMTPUTF8" not in extensions:
            raise ValueError("an address is not ASCII and the mail server does not offer SMTPUTF8")
        options.append("SMTPUTF8")
    policy = SMTPUTF8 if utf8 else SMTP
    if "8BITMIME" in extensions:
        options.append("BODY=8BITMIME")
    else:
        policy = policy.clone(cte_type="7bit")
    flat = io.BytesIO()
    BytesGenerator(flat, policy=policy).flatten(email)
    return flat.getvalue(), options


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0, connections: int = 8) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._connections = connections
        self._client: httpx.AsyncClient | None = None  # made on the network thread's loop, which it belongs to
        self._network = NetworkThread("webhook")

    async def send_many(self, messages: Sequence[OutgoingMessage]) -> list[datetime | Exception]:
        return await self._network.send_each(self.name, [(message, self._post_of(message)) for message in messages])

    def _post_of(self, message: OutgoingMessage) -> Callable[[], Awaitable[None]]:
        body = json.dumps(
            {
                "message_key": message.message_key,
                "kind": message.kind,
                "order_id": message.order_id,
                "line_no": message.line_no,
                "recipient": message.recipient,
                "subject": message.subject,
                "body": message.body,
                "context": message.context,
            }
        ).encode()
        # The message key is the event id: the receiver drops a repeat after a crash between send and mark.
        headers = {"Content-Type": "application/json", **sign(self._secret, body, event_id=message.message_key)}
        return partial(self._post, body, headers)

    async def _post(self, body: bytes, headers: dict[str, str]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=self._connections, max_keepalive_connections=self._connections),
            )
        response = await self._client.post(self._url, content=body, headers=headers)
        response.raise_for_status()

    async def close(self) -> None:
        await self._network.stop(self._close_client)

    async def _close_client(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
