"""A lossy, slow UDP relay: the datagram half of the field's 2G link.

Each datagram from a client goes to the target after half the round trip, and each answer
back to that client after the other half; a seeded share of requests and of answers is
dropped, as the radio drops them. Bytes are counted as payload (no UDP/IP headers), like
the TCP proxy counts HTTP bytes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RelayStats:
    datagrams_up: int = 0
    datagrams_down: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"request": 0, "answer": 0})

    @property
    def bytes(self) -> int:
        return self.bytes_up + self.bytes_down


class _Upstream(asyncio.DatagramProtocol):
    """The relay's socket toward the target for one client."""

    def __init__(self, relay: UdpRelay, client: Any):
        self.relay = relay
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.relay._answer(data, self.client)


class UdpRelay(asyncio.DatagramProtocol):
    def __init__(self, target: tuple[str, int], *, rtt_s: float, drop_request: float, drop_answer: float, seed: int):
        self.target = target
        self.rtt_s = rtt_s
        self.drop_request = drop_request
        self.drop_answer = drop_answer
        self.random = random.Random(seed)
        self.stats = RelayStats()
        self.transport: asyncio.DatagramTransport | None = None
        self.upstreams: dict[Any, asyncio.DatagramTransport] = {}

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.stats.datagrams_up += 1
        self.stats.bytes_up += len(data)
        if self.random.random() < self.drop_request:
            self.stats.dropped["request"] += 1
            return
        asyncio.get_running_loop().create_task(self._forward(data, addr))

    async def _forward(self, data: bytes, client: Any) -> None:
        await asyncio.sleep(self.rtt_s / 2)
        upstream = self.upstreams.get(client)
        if upstream is None:
            upstream, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Upstream(self, client), remote_addr=self.target
            )
            self.upstreams[client] = upstream
        upstream.sendto(data)

    def _answer(self, data: bytes, client: Any) -> None:
        self.stats.datagrams_down += 1
        self.stats.bytes_down += len(data)
        if self.random.random() < self.drop_answer:
            self.stats.dropped["answer"] += 1
            return
        asyncio.get_running_loop().call_later(self.rtt_s / 2, self._deliver, data, client)

    def _deliver(self, data: bytes, client: Any) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, client)

    def close(self) -> None:
        for upstream in self.upstreams.values():
            upstream.close()
        if self.transport is not None:
            self.transport.close()


@asynccontextmanager
async def udp_relay(
    target: tuple[str, int], *, rtt_s: float, drop_request: float = 0.0, drop_answer: float = 0.0, seed: int = 0
) -> AsyncIterator[UdpRelay]:
    relay = UdpRelay(target, rtt_s=rtt_s, drop_request=drop_request, drop_answer=drop_answer, seed=seed)
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
    try:
        yield relay
    finally:
        relay.close()
