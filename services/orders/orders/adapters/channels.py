"""Customer-message channels: SMTP email (aiosmtplib, a pool of open connections) and a webhook signed
with HMAC-SHA256 (one HTTP client, its connections kept alive)."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage

import aiosmtplib
import httpx

from dropship_shared.signing import sign
from orders.service_layer.ports import OutgoingMessage


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
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._timeout = timeout
        # Open connections waiting for the next message: a message costs one SMTP transaction, not a
        # TCP connect, EHLO and login each. At most `connections` are in use at once.
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(connections)

    async def send(self, message: OutgoingMessage) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        # A stable Message-ID: if a crash makes us send twice, mail systems can tell it is the same message.
        email["Message-ID"] = f"<{message.message_key.replace(':', '.')}@orders>"
        email.set_content(message.body)
        async with self._slots:
            client = await self._connection()
            try:
                await client.send_message(email)
            except BaseException:
                client.close()  # a connection in an unknown state is never reused
                raise
            self._idle.put_nowait(client)

    async def _connection(self) -> aiosmtplib.SMTP:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                return client
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            timeout=self._timeout,
        )
        await client.connect()
        return client

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0, connections: int = 8) -> None:
        self._url = url
        self._secret = secret
        self._client = httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        )

    async def send(self, message: OutgoingMessage) -> None:
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
        response = await self._client.post(self._url, content=body, headers=headers)
        response.raise_for_status()

    async def close(self) -> None:
        await self._client.aclose()
