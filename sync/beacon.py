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

A *quiet* check (the top bit of the change sequence set) is answered only when there is
something to say: news, or an unknown beacon. Silence then means "nothing new", and the
answer's 29 bytes (with headers) are saved on most of the 288 checks of a day; the phone
asks for an answer now and then to learn that the datagrams still get through.
"""

from __future__ import annotations

import base64
import struct
from enum import IntEnum

BEACON_LENGTH = 9  # bytes; 12 characters in the URL-safe base64 of the HTTP check
CHECK = struct.Struct(">9sI")
MAX_CHANGE_SEQ = 2**31 - 1
QUIET = 1 << 31  # the change sequence never reaches it; set: "answer only if there is news"


class BeaconAnswer(IntEnum):
    NOTHING_NEW = 0  # as HTTP 204
    NEWS = 1  # as HTTP 200: sync now
    UNKNOWN = 2  # as HTTP 404: do a full sync, which says why


def encode_check(beacon: str, change_seq: int, *, quiet: bool = False) -> bytes:
    raw = base64.urlsafe_b64decode(beacon)
    if len(raw) != BEACON_LENGTH:
        raise ValueError("a beacon is 9 bytes")
    return CHECK.pack(raw, min(max(change_seq, 0), MAX_CHANGE_SEQ) | (QUIET if quiet else 0))


def decode_check(datagram: bytes) -> tuple[str, int, bool]:
    """(beacon, change_seq, quiet) of a check; ValueError for anything else."""
    if len(datagram) != CHECK.size:
        raise ValueError("not a beacon check")
    raw, word = CHECK.unpack(datagram)
    return base64.urlsafe_b64encode(raw).decode(), word & MAX_CHANGE_SEQ, bool(word & QUIET)


def answers_check(answer: BeaconAnswer, *, quiet: bool) -> bool:
    """Whether the server sends ``answer`` at all: a quiet check hears only news."""
    return not (quiet and answer is BeaconAnswer.NOTHING_NEW)


def decode_answer(datagram: bytes) -> BeaconAnswer:
    if len(datagram) != 1:
        raise ValueError("not a beacon answer")
    try:
        return BeaconAnswer(datagram[0])
    except ValueError:
        raise ValueError("not a beacon answer") from None
