"""What the PUB socket's subscribers asked for, read from the XPUB's subscription messages (I/O thread).

The broker builds realtime batches (docs/protocol.md §4.3) only while some subscriber subscribes under
`rtb.`, positional batches (§4.4) only while one subscribes under `rtp.`, and skips the single realtime
sends while either is on and no subscription matches `rt.`.
With both off it is the plain PUB it always was. libzmq's XPUB passes a topic's first subscription
and its last unsubscription (not the repeats), so the set below mirrors the socket's own filter.
"""
from __future__ import annotations

from typing import Set

from koabus.common.protocol.batch import wants_batches, wants_positional, wants_realtime

SUBSCRIBE, UNSUBSCRIBE = 1, 0


class Subscriptions:
    """The set of subscribed topic prefixes, and the two decisions the publisher takes from it."""

    def __init__(self) -> None:
        self.prefixes: Set[bytes] = set()
        #: some subscriber asked for batches
        self.batching = False
        #: some subscriber asked for positional batches
        self.positional = False
        #: some subscriber takes single realtime publications (always True while both batches are off)
        self.realtime = True

    def feed(self, message: bytes) -> bool:
        """One XPUB message (`\\x01prefix` subscribe, `\\x00prefix` unsubscribe); True when a decision changed.

        Anything else (an empty frame, another first byte) is ignored: a SUB only ever sends these.
        """
        if not message or message[0] not in (SUBSCRIBE, UNSUBSCRIBE):
            return False
        prefix = bytes(message[1:])
        if message[0] == SUBSCRIBE:
            self.prefixes.add(prefix)
        else:
            self.prefixes.discard(prefix)
        before = (self.batching, self.positional, self.realtime)
        self.batching = any(wants_batches(p) for p in self.prefixes)
        self.positional = any(wants_positional(p) for p in self.prefixes)
        self.realtime = not (self.batching or self.positional) or any(wants_realtime(p) for p in self.prefixes)
        return (self.batching, self.positional, self.realtime) != before

    def status(self) -> dict:
        return {"batching": self.batching, "positional": self.positional, "realtime": self.realtime,
                "prefixes": len(self.prefixes)}
