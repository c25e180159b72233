"""Customer-message channels: SMTP email (aiosmtplib) and a webhook signed with HMAC-SHA256."""

from __future__ import annotations

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
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._timeout = timeout

    async def send(self, message: OutgoingMessage) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        # A stable Message-ID: if a crash makes us send twice, mail clients can tell it is the same message.
        email["Message-ID"] = f"<{message.message_key.replace(':', '.')}@orders>"
        email.set_content(message.body)
        await aiosmtplib.send(
            email,
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            timeout=self._timeout,
        )


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout

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
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self._url, content=body, headers=headers)
            response.raise_for_status()
