"""A customers' mailbox for benchmarks: an SMTP server that accepts every message and keeps none of it.

    .venv/bin/python scripts/mail_sink.py --port 1025 [--host 127.0.0.1]

The demo's mailbox (`python -m aiosmtpd -n`, which devstack starts by default) parses each command and prints every
message it gets: about 0.7 ms of CPU per message on the 2-core machine, a fifth of a core at 300 orders/s taken
from the system a benchmark measures. The customers' mail servers are outside parties, like the load generator, so a
benchmark gives them as little of the machine as it can: this one answers the SMTP commands orders' sender uses
(RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, and RFC 3030's BDAT) on one asyncio protocol per
connection, reads a message's data up to the lone dot (or the BDAT chunk's size) and answers 250, and counts what
it accepted (printed when it stops). It advertises PIPELINING (RFC 2920) and CHUNKING (RFC 3030), as Postfix and
Exim do: it answers the commands of a group in order, in one write.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import cast

GREETING = b"220 mail-sink ESMTP\r\n"
END_OF_DATA = b"\r\n.\r\n"


class MailSink(asyncio.Protocol):
    accepted = 0  # messages accepted, over every connection

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._in_data = False
        self._chunk_left = 0  # bytes of a BDAT chunk still to come
        self._chunk_last = False  # whether that chunk ends its message

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport's
        self._transport.write(GREETING)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        replies: list[bytes] = []
        while self._transport is not None:
            if self._chunk_left:
                taken = min(self._chunk_left, len(self._buffer))
                self._buffer, self._chunk_left = self._buffer[taken:], self._chunk_left - taken
                if self._chunk_left:
                    break
                replies.append(self._end_of_chunk())
                continue
            if self._in_data:
                end = self._buffer.find(END_OF_DATA)
                if end < 0:
                    # keep only what could still hold the start of the terminator
                    self._buffer = self._buffer[-(len(END_OF_DATA) - 1) :]
                    break
                self._buffer = self._buffer[end + len(END_OF_DATA) :]
                self._in_data = False
                MailSink.accepted += 1
                replies.append(b"250 OK: queued\r\n")
                continue
            line, found, rest = self._buffer.partition(b"\r\n")
            if not found:
                break
            self._buffer = rest
            reply, closing = self.reply_to(line)
            replies.append(reply)
            if closing:
                self._transport.write(b"".join(replies))
                self._transport.close()
                self._transport = None
                return
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))

    def reply_to(self, line: bytes) -> tuple[bytes, bool]:
        """The reply to one command line, and whether the connection ends after it."""
        verb = line[:4].upper()
        if verb == b"EHLO":
            return b"250-mail-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 10485760\r\n", False
        if verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            return b"250 OK\r\n", False
        if verb == b"DATA":
            self._in_data = True
            self._buffer = b"\r\n" + self._buffer  # the terminator's leading CRLF may be the data's first bytes
            return b"354 End data with <CR><LF>.<CR><LF>\r\n", False
        if verb == b"BDAT":  # BDAT <size> [LAST]: the size's bytes follow the line, the reply comes after them
            words = line.split()
            if len(words) not in (2, 3) or not words[1].isdigit():
                return b"501 Syntax: BDAT <size> [LAST]\r\n", False
            self._chunk_left, self._chunk_last = int(words[1]), len(words) == 3 and words[2].upper() == b"LAST"
            return (b"" if self._chunk_left else self._end_of_chunk()), False
        if verb == b"QUIT":
            return b"221 Bye\r\n", True
        return b"502 Command not implemented\r\n", False

    def _end_of_chunk(self) -> bytes:
        MailSink.accepted += self._chunk_last
        return b"250 OK: queued\r\n" if self._chunk_last else b"250 OK: chunk\r\n"


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(MailSink, host, port)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
    async with server:
        await stopped.wait()
    print(f"mail sink: {MailSink.accepted} messages accepted", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
