import asyncio
import time

from tests.faults.udp import udp_relay


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data[:1], addr)


async def send_and_collect(port: int, count: int, wait_s: float) -> list[bytes]:
    answers: list[bytes] = []

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            answers.append(data)

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        for index in range(count):
            transport.sendto(bytes([index % 256]) * 13)
            if index % 20 == 19:  # not faster than the kernel's socket buffers take them
                await asyncio.sleep(0.01)
        await asyncio.sleep(wait_s)
    finally:
        transport.close()
    return answers


async def test_the_relay_delays_each_way_and_counts_payload_bytes():
    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    try:
        async with udp_relay(echo.get_extra_info("sockname"), rtt_s=0.3) as relay:
            started = time.perf_counter()
            answers: list[bytes] = []

            class Client(asyncio.DatagramProtocol):
                def datagram_received(self, data, addr):
                    answers.append(data)
                    arrived.set()

            arrived = asyncio.Event()
            client, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", relay.port))
            client.sendto(b"x" * 13)
            await asyncio.wait_for(arrived.wait(), 3)
            client.close()
            assert time.perf_counter() - started >= 0.3
            assert answers == [b"x"]
            assert (relay.stats.bytes_up, relay.stats.bytes_down) == (13, 1)
    finally:
        echo.close()


async def test_the_relay_drops_the_seeded_share_of_requests_and_answers():
    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    try:
        async with udp_relay(
            echo.get_extra_info("sockname"), rtt_s=0.01, drop_request=0.2, drop_answer=0.2, seed=7
        ) as relay:
            answers = await send_and_collect(relay.port, 400, 0.5)
        stats = relay.stats
        assert stats.datagrams_up == 400
        assert 40 <= stats.dropped["request"] <= 120
        assert stats.datagrams_down == 400 - stats.dropped["request"]
        assert len(answers) == stats.datagrams_down - stats.dropped["answer"]
        assert 0 < stats.dropped["answer"] < stats.datagrams_down
    finally:
        echo.close()
