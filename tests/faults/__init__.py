"""Fault injection for tests: an HTTP/1.1 proxy that shapes the link and breaks exchanges.

from tests.faults import FaultPlan, FaultProxy, LinkShape

async with FaultProxy(server_url, faults=FaultPlan(cut_response=0.3, seed=7)) as proxy:
    await device.enroll(proxy.url, ...)
"""

from tests.faults.proxy import Exchange, FaultPlan, FaultProxy, LinkShape, ProxyStats

__all__ = ["Exchange", "FaultPlan", "FaultProxy", "LinkShape", "ProxyStats"]
