"""A small SMTP client (RFC 5321) for the customer messages. A connection takes a run of messages and sends
them one transaction after the other; when the server advertises PIPELINING (RFC 2920) a message's MAIL, RCPT
and DATA go in one write, behind the previous message's data, and their replies are read together: a message
costs one write and one read instead of the four of each that aiosmtplib (which does not pipeline) spent most
of the sender's CPU on. When the server also advertises CHUNKING (RFC 3030), as Postfix and Exim do, a message's
data goes in a BDAT command, which needs no reply before the next command: the whole run is written at once and
its replies read after, one write for the run. A server without PIPELINING gets one command at a time. STARTTLS
and AUTH are left to aiosmtplib (EmailChannel uses it when the settings ask for either)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol, cast

import aiosmtplib

from dropship_shared.events import utcnow

MAX_REPLY_LINE = 8192  # far above RFC 5321's 512 octets: a longer line is a broken server, not a reply

_BARE_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


@dataclass(frozen=True)
class Reply:
    code: int
    text: str


@dataclass(frozen=True)
class Transaction:
    """One message to one recipient: the envelope, the message as SMTP bytes and the MAIL options it needs."""

    sender: str
    recipient: str
    content: bytes
    options: Sequence[str] = ()


# The context each message's part of a run is done in (the channel's span for it), given its index.
Within = Callable[[int], AbstractContextManager[object]]


class SmtpRefused(Exception):
    """The server refused a command of the transaction with a 4xx/5xx reply. The transaction was reset (RSET),
    so the connection can carry the next message."""

    def __init__(self, command: str, reply: Reply) -> None:
        super().__init__(f"{command}: {reply.code} {reply.text}")
        self.command = command
        self.reply = reply

    @property
    def temporary(self) -> bool:
        return 400 <= self.reply.code < 500


class SmtpBroken(ConnectionError):
    """The connection is lost, timed out or the server does not speak SMTP: it is not used again."""


class _ReplyReader(asyncio.Protocol):
    """The server's replies, in the order they come (RFC 5321 4.2: a reply is lines `ddd-text`, then `ddd text`);
    `read` waits for the next `count` of them, with one timer rather than a wait_for task."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._lines: list[str] = []  # of a multi-line reply not complete yet
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 0
        self._broken: SmtpBroken | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")  # a run's replies come in one read: split once
        for line in lines:
            code, separator = line[:3], line[3:4]
            if not code.isdigit() or separator not in (b" ", b"-", b"\r", b""):
                self._break(SmtpBroken(f"not an SMTP reply: {line[:80]!r}"))
                return
            self._lines.append(line[4:].rstrip(b"\r").decode("utf-8", "replace"))
            if separator != b"-":
                self._replies.append(Reply(int(code), "\n".join(self._lines)))
                self._lines = []
        if len(self._buffer) > MAX_REPLY_LINE:
            self._break(SmtpBroken("reply line too long"))
            return
        if self._waiter is not None and len(self._replies) >= self._wanted and not self._waiter.done():
            self._waiter.set_result(None)

    def eof_received(self) -> bool:
        self._break(SmtpBroken("the server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._break(SmtpBroken(f"connection lost: {exc!r}" if exc else "connection lost"))
        self.transport = None

    def _break(self, error: SmtpBroken) -> None:
        if self._broken is None:
            self._broken = error
        if self.transport is not None:
            self.transport.abort()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._broken)

    def write(self, data: bytes) -> None:
        if self._broken is not None or self.transport is None:
            raise self._broken or SmtpBroken("not connected")
        self.transport.write(data)

    async def read(self, count: int, wait_seconds: float) -> list[Reply]:
        if len(self._replies) < count:
            if self._broken is not None:
                raise self._broken
            loop = asyncio.get_running_loop()
            self._waiter, self._wanted = loop.create_future(), count
            timer = loop.call_later(wait_seconds, self._break, SmtpBroken(f"no reply within {wait_seconds} s"))
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None
        return [self._replies.popleft() for _ in range(count)]

    def drain(self) -> list[Reply]:
        """The replies that came and were not read (those before the connection broke)."""
        replies, self._replies = list(self._replies), deque()
        return replies

    @property
    def is_connected(self) -> bool:
        return self._broken is None and self.transport is not None and not self.transport.is_closing()


@cache
def _local_name() -> str:
    return socket.getfqdn()


def _extensions(hello: Reply) -> dict[str, str]:
    """The keywords of an EHLO reply (RFC 5321 4.1.1.1: each line after the first), upper case, with their
    parameters."""
    keywords = (line.split(" ", 1) for line in hello.text.split("\n")[1:] if line)
    return {words[0].upper(): words[1] if len(words) > 1 else "" for words in keywords}


def _is(reply: Reply, expected: int) -> bool:
    return reply.code == expected or (expected == 250 and reply.code == 251)  # 251: not local, will forward


def _with_crlf_lines(content: bytes) -> bytes:
    """A message's lines ended with CRLF (RFC 5321 2.3.8), the last one too."""
    data = _BARE_LINE_END.sub(b"\r\n", content)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _refusal_among(commands: list[tuple[str, bytes, int]], replies: list[Reply]) -> SmtpRefused | None:
    """The first of a transaction's replies that refuses its command, if any. A refused RSET is not a refusal of
    the message: the connection's state is not known, and it is not used again."""
    for (name, _, expected), reply in zip(commands, replies, strict=False):
        if not _is(reply, expected):
            if name == "RSET":
                raise SmtpBroken(f"RSET: {reply.code} {reply.text}")
            return SmtpRefused(name, reply)
    return None


def _went(reply: Reply) -> datetime | Exception:
    """The reply to the end of a message's data: when it went, or the refusal (the transaction is over)."""
    return utcnow() if _is(reply, 250) else SmtpRefused("end of data", reply)


class Connection(Protocol):
    @property
    def is_connected(self) -> bool: ...

    async def send(self, transaction: Transaction) -> None: ...

    def close(self) -> None: ...


async def one_by_one(
    connection: Connection, transactions: Sequence[Transaction], within: Within
) -> list[datetime | Exception]:
    """Send the messages one transaction at a time (no pipelining): as SmtpConnection.send_all."""
    results: list[datetime | Exception] = []
    for index, transaction in enumerate(transactions):
        with within(index):
            try:
                await connection.send(transaction)
            except (SmtpRefused, ValueError) as exc:
                results.append(exc)
                continue
            except Exception as exc:
                connection.close()  # a connection in an unknown state is never reused
                return results + [exc] * (len(transactions) - index)
            results.append(utcnow())
    return results


class SmtpConnection:
    """An open, greeted SMTP connection; `send` runs one mail transaction on it."""

    def __init__(self, reader: _ReplyReader, extensions: dict[str, str], wait_seconds: float) -> None:
        self._reader = reader
        self.extensions = extensions  # EHLO keywords (upper case) and their parameters
        self._wait_seconds = wait_seconds  # for each reply
        self.pipelining = "PIPELINING" in extensions
        self.chunking = self.pipelining and "CHUNKING" in extensions

    @classmethod
    async def open(cls, host: str, port: int, wait_seconds: float) -> SmtpConnection:
        loop = asyncio.get_running_loop()
        _, reader = await asyncio.wait_for(loop.create_connection(_ReplyReader, host, port), wait_seconds)
        try:
            (greeting,) = await reader.read(1, wait_seconds)
            if greeting.code != 220:
                raise SmtpBroken(f"greeting: {greeting.code} {greeting.text}")
            reader.write(f"EHLO {_local_name()}\r\n".encode())
            (hello,) = await reader.read(1, wait_seconds)
            if hello.code == 250:
                return cls(reader, _extensions(hello), wait_seconds)
            reader.write(f"HELO {_local_name()}\r\n".encode())  # RFC 5321 3.2: a server that knows no EHLO
            (hello,) = await reader.read(1, wait_seconds)
            if hello.code != 250:
                raise SmtpBroken(f"HELO: {hello.code} {hello.text}")
            return cls(reader, {}, wait_seconds)
        except BaseException:
            if reader.transport is not None:
                reader.transport.abort()
            raise

    @property
    def is_connected(self) -> bool:
        return self._reader.is_connected

    async def send_all(self, transactions: Sequence[Transaction], within: Within) -> list[datetime | Exception]:
        """Send the messages one after the other: for each, when the server accepted it, or why not. A refusal
        (SmtpRefused, 4xx/5xx) is that message's alone: the transaction is reset and the next one goes. When
        the connection breaks, it is closed, and the message in flight and those after it fail with it."""
        if not self.pipelining:
            return await one_by_one(self, transactions, within)
        if self.chunking:
            return await self._send_chunked(transactions, within)
        results: list[datetime | Exception | None] = [None] * len(transactions)
        waiting: int | None = None  # whose data is written ahead of the next group, its reply read with that group
        data = b""
        try:
            for index, transaction in enumerate(transactions):
                with within(index):
                    try:
                        commands, next_data = self._prepared(transaction)
                    except ValueError as exc:
                        results[index] = exc
                        continue
                    # RFC 2920 3.1: the data may open a group, DATA must close it; the replies come in order
                    self._reader.write(data + b"".join(command for _, command, _ in commands))
                    replies = await self._reader.read(3 + (waiting is not None), self._wait_seconds)
                    if waiting is not None:
                        results[waiting] = _went(replies.pop(0))
                    waiting, data = None, b""
                    refusal = await self._refusal(commands, replies)
                    if refusal is not None:
                        results[index] = refusal
                        continue
                    waiting, data = index, next_data
            if waiting is not None:
                with within(waiting):
                    self._reader.write(data)
                    results[waiting] = _went(*await self._reader.read(1, self._wait_seconds))
        except Exception as exc:
            self.close()
            if waiting is not None and (came := self._reader.drain()):  # its data was accepted before the break
                results[waiting] = _went(came[0])
            return [exc if result is None else result for result in results]
        return cast(list[datetime | Exception], results)  # every one set above

    async def _send_chunked(self, transactions: Sequence[Transaction], within: Within) -> list[datetime | Exception]:
        """send_all with BDAT: every message's commands and data written at once, then each message's replies read
        in turn. Each message after the first opens with RSET: after a refused transaction the server's state is
        not known (RFC 3030 2: it discards the BDAT data, but MAIL may still be open), and the run is written before
        any reply tells which transaction is refused; RSET after one that went changes nothing."""
        results: list[datetime | Exception | None] = [None] * len(transactions)
        written: list[tuple[int, list[tuple[str, bytes, int]]]] = []
        for index, transaction in enumerate(transactions):
            try:
                commands = self._chunked(transaction)
            except ValueError as exc:
                results[index] = exc
                continue
            written.append((index, [("RSET", b"RSET\r\n", 250), *commands] if written else commands))
        try:
            if written:
                self._reader.write(b"".join(line for _, commands in written for _, line, _ in commands))
            refused = False
            for index, commands in written:
                with within(index):
                    refusal = _refusal_among(commands, await self._reader.read(len(commands), self._wait_seconds))
                    results[index] = utcnow() if refusal is None else refusal
                    refused = refusal is not None
            if refused:  # the last one: reset before the connection carries another run
                await self._reset(data_started=False)
        except Exception as exc:
            self.close()
            return [exc if result is None else result for result in results]
        return cast(list[datetime | Exception], results)  # every one set above

    async def send(self, transaction: Transaction) -> None:
        """Send one message, one command at a time; returns once the server has accepted it. Raises
        SmtpRefused when the server refuses it (the transaction reset: the connection stays usable)."""
        commands, data = self._prepared(transaction)
        replies: list[Reply] = []
        for _, command, expected in commands:
            self._reader.write(command)
            replies += await self._reader.read(1, self._wait_seconds)
            if not _is(replies[-1], expected):
                break
        refusal = await self._refusal(commands, replies)
        if refusal is not None:
            raise refusal
        self._reader.write(data)
        (accepted,) = await self._reader.read(1, self._wait_seconds)
        if not _is(accepted, 250):
            raise SmtpRefused("end of data", accepted)  # the transaction is over: nothing to reset

    def _prepared(self, transaction: Transaction) -> tuple[list[tuple[str, bytes, int]], bytes]:
        """The transaction's commands (name, line, the reply that accepts it) and its data, dot-stuffed
        (RFC 5321 4.5.2) and with the end of data."""
        data = _LEADING_DOT.sub(b"..", _with_crlf_lines(transaction.content))
        return [*self._envelope(transaction, len(data)), ("DATA", b"DATA\r\n", 354)], data + b".\r\n"

    def _chunked(self, transaction: Transaction) -> list[tuple[str, bytes, int]]:
        """The transaction's commands, its data in one BDAT ... LAST (RFC 3030: counted, so neither stuffed nor
        ended)."""
        data = _with_crlf_lines(transaction.content)
        return [*self._envelope(transaction, len(data)), ("BDAT", b"BDAT %d LAST\r\n" % len(data) + data, 250)]

    def _envelope(self, transaction: Transaction, size: int) -> list[tuple[str, bytes, int]]:
        """MAIL and RCPT, the message's size on MAIL when the server takes it (RFC 1870: a server may refuse a
        too big one before the data)."""
        for address in (transaction.sender, transaction.recipient):
            if any(char in address for char in "\r\n<>"):
                raise ValueError(f"not an address for an SMTP command: {address!r}")
        options = [*transaction.options]
        if "SIZE" in self.extensions:
            options.append(f"SIZE={size}")
        mail = f"MAIL FROM:<{transaction.sender}>{''.join(' ' + option for option in options)}\r\n"
        rcpt = f"RCPT TO:<{transaction.recipient}>\r\n"
        return [("MAIL", mail.encode(), 250), ("RCPT", rcpt.encode(), 250)]

    async def _refusal(self, commands: list[tuple[str, bytes, int]], replies: list[Reply]) -> SmtpRefused | None:
        """The first refusal among a transaction's replies, the transaction reset after it; None if all accept."""
        refusal = _refusal_among(commands, replies)
        if refusal is not None:
            await self._reset(data_started=replies[-1].code == 354)
        return refusal

    async def _reset(self, data_started: bool) -> None:
        """End a refused transaction: RSET (RFC 5321 4.1.1.5). A server that answered DATA with 354 although
        it refused the recipient waits for data first: it gets none, just the end of it."""
        if data_started:
            self._reader.write(b".\r\n")
            await self._reader.read(1, self._wait_seconds)
        self._reader.write(b"RSET\r\n")
        (reset,) = await self._reader.read(1, self._wait_seconds)
        if reset.code != 250:
            self.close()
            raise SmtpBroken(f"RSET: {reset.code} {reset.text}")

    async def quit(self) -> None:
        try:
            self._reader.write(b"QUIT\r\n")
            await self._reader.read(1, self._wait_seconds)
        finally:
            self.close()

    def close(self) -> None:
        if self._reader.transport is not None:
            self._reader.transport.close()


class AiosmtplibConnection:
    """aiosmtplib's client behind SmtpConnection's face, for the settings SmtpConnection leaves out (STARTTLS,
    AUTH): lock-step, as before. Any failure closes it (its state is not known)."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self._client = client
        self.extensions = {keyword.upper(): value for keyword, value in client.esmtp_extensions.items()}

    @classmethod
    async def open(
        cls, host: str, port: int, wait_seconds: float, username: str | None, password: str | None, start_tls: bool
    ) -> AiosmtplibConnection:
        client = aiosmtplib.SMTP(
            hostname=host, port=port, username=username, password=password, start_tls=start_tls, timeout=wait_seconds
        )
        await client.connect()
        if not client.esmtp_extensions:  # not greeted yet by connect (no STARTTLS, no login)
            await client.ehlo()
        return cls(client)

    @property
    def is_connected(self) -> bool:
        return self._client.is_connected

    async def send_all(self, transactions: Sequence[Transaction], within: Within) -> list[datetime | Exception]:
        return await one_by_one(self, transactions, within)

    async def send(self, transaction: Transaction) -> None:
        """Any failure closes the connection (see one_by_one): aiosmtplib's refusals are not SmtpRefused."""
        await self._client.sendmail(
            transaction.sender, [transaction.recipient], transaction.content, mail_options=transaction.options
        )

    async def quit(self) -> None:
        try:
            await self._client.quit()
        except aiosmtplib.SMTPException:
            self._client.close()

    def close(self) -> None:
        self._client.close()
