"""Channels that carry a notification out of the outbox.

One interface, :class:`Notifier`: ``deliver`` returns when the receiver has the message and
raises otherwise. :class:`WebhookNotifier` POSTs JSON to one configured URL (an SMS
gateway, a 政务微信/钉钉 bridge, …), signed with HMAC-SHA256 when a secret is set. The
wire format is in docs/supervision-and-notifications.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, Self

import httpx

from server.settings import Settings

SIGNATURE_HEADER = "X-Fengqiao-Signature"
EVENT_HEADER = "X-Fengqiao-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class OutgoingNotification:
    id: uuid.UUID
    dedupe_key: str
    event: str
    case_id: uuid.UUID | None
    recipient_id: uuid.UUID
    title: str
    body: str
    payload: dict[str, Any]
    created_at: datetime
    attempt: int
    recipient_username: str | None = None
    recipient_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PAYLOAD_VERSION,
            "id": str(self.id),
            # The receiver's idempotency key: the same message to the same person always
            # carries the same (dedupe_key, recipient.id), and the same id, on every retry.
            "dedupe_key": self.dedupe_key,
            "event": self.event,
            "case_id": str(self.case_id) if self.case_id else None,
            "recipient": {
                "id": str(self.recipient_id),
                "username": self.recipient_username,
                "name": self.recipient_name,
            },
            "title": self.title,
            "body": self.body,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
            "attempt": self.attempt,
        }


class Notifier(Protocol):
    async def deliver(self, notification: OutgoingNotification) -> None:
        """Hand one notification to the channel; raise if it was not accepted."""
        ...


class DeliveryFailed(Exception):
    """The receiver answered, but not with a 2xx."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``.

    The timestamp is signed with the body so a receiver can refuse a replayed request.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: int | None = None, tolerance: int = 300) -> bool:
    """What a receiver does (used by the tests and offered to receivers written in Python)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError):
        return False
    if now is not None and abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class WebhookNotifier:
    """POST each notification as JSON to ``url``; any answer but 2xx is a failure."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout: float = 10.0,
        clock=None,
        client: httpx.AsyncClient | None = None,
    ):
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self._clock = clock
        self._client = client
        self._owns_client = client is None

    async def __aenter__(self) -> Self:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _timestamp(self) -> int:
        if self._clock is not None:
            return int(self._clock.now().timestamp())
        return int(datetime.now(UTC).timestamp())

    async def deliver(self, notification: OutgoingNotification) -> None:
        body = json.dumps(notification.to_json(), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            EVENT_HEADER: notification.event,
            IDEMPOTENCY_HEADER: str(notification.id),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, self._timestamp(), body)
        if self._client is None:
            await self.__aenter__()
        assert self._client is not None
        response = await self._client.post(self.url, content=body, headers=headers, timeout=self.timeout)
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")


def webhook_from_settings(settings: Settings, clock=None) -> WebhookNotifier | None:
    if not settings.notification_webhook_url:
        return None
    return WebhookNotifier(
        settings.notification_webhook_url,
        secret=settings.notification_webhook_secret,
        timeout=settings.notification_webhook_timeout_seconds,
        clock=clock,
    )
