"""The UDP side of the idle check (sync/beacon.py): one datagram in, one byte out (none
for a quiet check with nothing new).

It answers what ``GET /b/{beacon}/{after}`` answers, from the same services. The listener
runs in the server's lifespan when ``beacon_udp_port`` is set; several server processes
may share the port (SO_REUSEPORT), since an answer depends only on the database.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from server.services.context import ServiceContext
from server.services.sync import SyncService
from sync.beacon import answers_check, decode_check

log = logging.getLogger(__name__)

# Checks answered at once; beyond this a datagram is dropped, as the network might have
# dropped it: the phone asks again in five minutes.
MAX_IN_FLIGHT = 256


class BeaconProtocol(asyncio.DatagramProtocol):
    def __init__(self, context: ServiceContext):
        self.context = context
        self.transport: asyncio.DatagramTransport | None = None
        self.in_flight: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            beacon, change_seq, quiet = decode_check(data)
        except ValueError:
            return  # junk gets no answer: nothing to reflect
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            return
        task = asyncio.get_running_loop().create_task(self._answer(beacon, change_seq, quiet, addr))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def _answer(self, beacon: str, change_seq: int, quiet: bool, addr: Any) -> None:
        try:
            answer = await SyncService(self.context).beacon_answer(beacon, change_seq)
        except Exception:
            log.exception("beacon check failed")
            return
        if not answers_check(answer, quiet=quiet):
            return
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(bytes([answer]), addr)


async def start_beacon_listener(context: ServiceContext, host: str, port: int) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    transport, _ = await loop.create_datagram_endpoint(
        lambda: BeaconProtocol(context),
        local_addr=(host, port),
        family=family,
        reuse_port=hasattr(socket, "SO_REUSEPORT"),
    )
    return transport
