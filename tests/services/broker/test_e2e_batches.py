"""End to end: batched realtime (docs/protocol.md §4.3) and positional batches (§4.4), opt-in by
subscription on the broker's XPUB."""
from __future__ import annotations

import pytest
import zmq

from koabus.common.protocol.batch import unbatch

CODES = ["005930", "000660", "035420"]


def _publications(stack):
    return stack.broker.server.status()["publications"]


def _opt_in(stack, client, prefix: str) -> None:
    client.subscribe_pub(prefix)
    flag = "positional" if prefix.startswith("rtp") else "batching"
    assert client.wait_for(lambda: _publications(stack)[flag] is True, 3.0)


@pytest.mark.parametrize("prefix, kind", [("rtb.", "RTB"), ("rtp.", "RTP")])
def test_batches_carry_exactly_the_single_publications(stack, prefix, kind):
    single, batched = stack.client("single"), stack.client("batched")
    single.subscribe_pub("rt.trade.")
    _opt_in(stack, batched, prefix)
    single.result("subscribe", {"codes": CODES, "types": ["trade"]})
    stack.advance(60.0)
    assert single.wait_for(lambda: len(single.pubs_on("rt.trade.")) >= 30, 5.0)
    stack.advance(0.0)
    batched.pump(0.3)
    single.pump(0.3)  # wait_for stopped reading at 30: the rest of the minute is still queued for it
    batches = [p for p in batched.pubs if p.type == kind]
    assert batches and all(b.topic == prefix + "trade" for b in batches)
    assert [b.topic_seq for b in batches] == list(range(batches[0].topic_seq, batches[0].topic_seq + len(batches)))
    inside = [p for b in batches for p in unbatch(b)]
    for b in batches:
        assert b.seq == unbatch(b)[-1].seq and b.event_ns is None and b.epoch == stack.broker.epoch
    singles = {p.seq: p for p in single.pubs_on("rt.trade.")}
    assert len(inside) >= 30
    for p in inside:  # same numbering, topic and body as the publication sent alone
        assert singles.get(p.seq) == p
    assert [p.seq for p in inside] == sorted(p.seq for p in inside)
    # the batch subscriber got no single realtime publication
    assert not [p for p in batched.pubs if p.type == "RT"]


def test_no_batches_unless_asked(stack):
    everything = stack.client("all")
    everything.subscribe_pub("")
    everything.result("subscribe", {"codes": CODES, "types": ["trade"]})
    stack.advance(30.0)
    assert everything.wait_for(lambda: len(everything.pubs_on("rt.trade.")) >= 10, 5.0)
    assert not [p for p in everything.pubs if p.type in ("RTB", "RTP")]
    assert _publications(stack) | {"prefixes": 0} == {"batching": False, "positional": False, "realtime": True,
                                                      "prefixes": 0, "batches": 0, "batched_events": 0,
                                                      "positional_batches": 0, "positional_events": 0}


def test_positional_only_numbers_and_caches_what_it_does_not_send_keyed(stack):
    """With only positional subscribers the broker sends no keyed body, yet seq, topic_seq and the last-value
    snapshot are those of the keyed stream: a late keyed subscriber's snapshot holds the same values."""
    positional = stack.client("positional")
    _opt_in(stack, positional, "rtp.trade")
    assert positional.wait_for(lambda: _publications(stack)["realtime"] is False, 3.0)
    positional.result("subscribe", {"codes": CODES, "types": ["trade"]})
    stack.advance(60.0)
    stack.advance(0.0)
    positional.pump(0.3)
    items = [p for b in positional.pubs if b.type == "RTP" for p in unbatch(b)]
    assert len(items) >= 10 and not [p for p in positional.pubs if p.type in ("RT", "RTB")]
    seqs = [p.seq for p in items]
    assert seqs == sorted(seqs)
    for code in CODES:  # topic_seq counts every event of the topic, one by one
        mine = [p.topic_seq for p in items if p.topic == f"rt.trade.{code}"]
        assert mine == list(range(mine[0], mine[0] + len(mine)))
    last = {}
    for p in items:
        last[p.topic] = p
    final, parts = stack.client("late").call("snapshot", {"prefix": "rt.trade."})
    assert final.TYPE == "END", final
    cached = {p.data["topic"]: p.data for p in parts}
    assert set(cached) == set(last)
    for topic, p in last.items():  # the keyed body the positional items stand for, as cached
        assert (cached[topic]["seq"], cached[topic]["body"]) == (p.seq, p.body)
    assert _publications(stack)["positional_events"] == len(items)


def test_batch_only_skips_single_sends_until_someone_subscribes_rt(stack):
    batched, system = stack.client("batched"), stack.client("system")
    system.subscribe_pub("sys.")
    _opt_in(stack, batched, "rtb.trade")
    assert batched.wait_for(lambda: _publications(stack)["realtime"] is False, 3.0)
    batched.result("subscribe", {"codes": CODES, "types": ["trade"]})
    stack.advance(30.0)
    assert batched.wait_for(lambda: any(p.type == "RTB" for p in batched.pubs), 5.0)
    # a subscriber that asks for single realtime turns the single sends back on, and gets them
    system.subscribe_pub("rt.")
    assert system.wait_for(lambda: _publications(stack)["realtime"] is True, 3.0)
    stack.advance(30.0)
    assert system.wait_for(lambda: len(system.pubs_on("rt.trade.")) >= 5, 5.0)
    # the last batch subscription gone: batches stop, single sends stay
    batched.sub.setsockopt_string(zmq.UNSUBSCRIBE, "rtb.trade")
    assert batched.wait_for(lambda: _publications(stack)["batching"] is False, 3.0)
    before = _publications(stack)["batches"]
    stack.advance(30.0)
    system.pump(0.3)
    assert _publications(stack)["batches"] == before


def test_a_batch_leaves_before_any_later_publication(stack):
    """A publication of another kind numbered after some realtime never overtakes the batch holding it."""
    ordered = stack.client("ordered")
    ordered.subscribe_pub("sys.bench")
    _opt_in(stack, ordered, "rtb.")
    ordered.result("subscribe", {"codes": CODES, "types": ["trade"]})
    for n in range(30):
        stack.sim.advance(2.0)
        stack.app.processEvents()  # the simulator's events reach the broker's queue ...
        stack.broker.core.publish(f"sys.bench.{n}", "SYS", {}, None)  # ... and this right behind them
        ordered.pump(0.02)
    assert ordered.wait_for(lambda: len(ordered.pubs_on("sys.bench.")) == 30, 5.0)
    ordered.pump(0.2)
    arrived = [p.seq for p in ordered.pubs if p.type in ("RTB", "SYS") and not p.topic.startswith("sys.hb")]
    assert sum(p.type == "RTB" for p in ordered.pubs) >= 10
    assert arrived == sorted(arrived)


@pytest.mark.parametrize("prefix, kind", [("rtb.", "RTB"), ("rtp.", "RTP")])
def test_a_batch_closes_before_batch_max_bytes(qapp, prefix, kind):
    """ZeroMQ bounds a subscriber's queue in messages (pub_hwm): the batch's byte bound is what keeps a batch
    subscriber that stops reading from pinning pub_hwm x 1,000 events at the broker."""
    from tests.services.broker.conftest import start_stack

    stack = start_stack(qapp, limits={"batch_max_bytes": 4096})  # ~4 trades, 2 books
    try:
        batched = stack.client("batched")
        _opt_in(stack, batched, prefix)
        batched.result("subscribe", {"codes": CODES, "types": ["trade", "book"]})
        stack.advance(120.0)
        stack.advance(0.0)
        batched.pump(0.3)
        batches = [p for p in batched.pubs if p.type == kind]
        sizes = [len(b.to_frames()[2]) for b in batches]
        counts = [len(unbatch(b)) for b in batches]
        assert batches and max(counts) > 1, counts
        # the body closes before its items pass the bound; one item above it travels alone
        for size, count, b in zip(sizes, counts, batches):
            assert size <= 4096 + 16 or count == 1, (size, count, b.topic)
        assert _publications(stack)["positional_batches" if kind == "RTP" else "batches"] == len(batches)
    finally:
        stack.close()
