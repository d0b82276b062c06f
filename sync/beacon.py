"""The idle check as one UDP datagram each way (docs/sync-protocol.md, "Idle check").

An idle phone asks every five minutes whether anything in its scope changed. Over HTTP the
smallest exchange is a request line, a Host header and a status line, about 85 bytes,
plus a TCP connection that a 2G link rarely keeps for five minutes. As a datagram the
question is the 9 bytes of the beacon and 4 of the change sequence, and the answer one
byte: 14 bytes of payload, 70 with the UDP and IP headers, against several hundred for a
TCP connection's handshake and teardown alone.

The answer is never larger than the question, so the port cannot be used to amplify
traffic towards a forged source address, and a datagram that does not parse gets no
answer at all.
"""

from __future__ import annotations

import base64
import struct
from enum import IntEnum

BEACON_LENGTH = 9  # bytes; 12 characters in the URL-safe base64 of the HTTP check
CHECK = struct.Struct(">9sI")
MAX_CHANGE_SEQ = 2**31 - 1


class BeaconAnswer(IntEnum):
    NOTHING_NEW = 0  # as HTTP 204
    NEWS = 1  # as HTTP 200: sync now
    UNKNOWN = 2  # as HTTP 404: do a full sync, which says why


def encode_check(beacon: str, change_seq: int) -> bytes:
    raw = base64.urlsafe_b64decode(beacon)
    if len(raw) != BEACON_LENGTH:
        raise ValueError("a beacon is 9 bytes")
    return CHECK.pack(raw, min(max(change_seq, 0), MAX_CHANGE_SEQ))


def decode_check(datagram: bytes) -> tuple[str, int]:
    """(beacon, change_seq) of a check; ValueError for anything else."""
    if len(datagram) != CHECK.size:
        raise ValueError("not a beacon check")
    raw, change_seq = CHECK.unpack(datagram)
    if change_seq > MAX_CHANGE_SEQ:
        raise ValueError("change sequence out of range")
    return base64.urlsafe_b64encode(raw).decode(), change_seq


def decode_answer(datagram: bytes) -> BeaconAnswer:
    if len(datagram) != 1:
        raise ValueError("not a beacon answer")
    try:
        return BeaconAnswer(datagram[0])
    except ValueError:
        raise ValueError("not a beacon answer") from None
