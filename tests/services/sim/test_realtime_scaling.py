"""SetRealReg/SetRealRemove cost what they touch, not the whole registry (issue 9: releasing a 20,000-code
subscription one SetRealRemove at a time rescanned every other code per call: 170 s), and the
incremental update streams exactly what a full recompute would."""
from __future__ import annotations

from koabus.services.sim.market.listing import Listing

REG = "SetRealReg(QString, QString, QString, QString)"
REMOVE = "SetRealRemove(QString, QString)"
DISCONNECT = "DisconnectRealData(QString)"


def _codes(sim, n):
    return [c for c in Listing.default().codes() if sim.sim.world.is_stock(c)][:n]


def _count_lookups(sim):
    world = sim.sim.world
    seen = []
    original = world.is_stock

    def counting(code):
        seen.append(code)
        return original(code)

    world.is_stock = counting
    return seen


def _full_recompute_view(sim):
    realtime = sim._realtime
    incremental = dict(realtime.active_codes)
    realtime._recompute()
    return incremental, dict(realtime.active_codes)


def test_removing_one_code_does_not_rescan_the_others(sim):
    codes = _codes(sim, 300)
    for i in range(0, 300, 100):
        assert sim.dynamicCall(REG, f"{i // 100 + 1:04d}", ";".join(codes[i:i + 100]), "10;41", "0") == 0
    seen = _count_lookups(sim)
    sim.dynamicCall(REMOVE, "0001", codes[0])
    assert len(seen) <= 1, len(seen)
    seen.clear()
    sim.dynamicCall(REG, "0003", codes[0], "10", "1")
    assert len(seen) <= 1, len(seen)
    assert codes[0] in sim._realtime.active_codes and codes[1] in sim._realtime.active_codes


def test_incremental_updates_match_a_full_recompute(sim):
    codes = _codes(sim, 250)
    sim.dynamicCall(REG, "0001", ";".join(codes[:100]), "10", "0")
    sim.dynamicCall(REG, "0002", ";".join(codes[100:200]), "41", "0")
    sim.dynamicCall(REG, "0002", ";".join(codes[50:60]), "10", "1")  # on two screens
    sim.dynamicCall(REG, "0003", ";".join(codes[200:]), "10;41", "0")
    sim.dynamicCall(REMOVE, "0001", codes[55])  # still on 0002 with other FIDs
    sim.dynamicCall(REMOVE, "0002", codes[150])
    sim.dynamicCall(REG, "0003", codes[201], "10", "0")  # opt 0 replaces the screen's other codes
    sim.dynamicCall(DISCONNECT, "0001")
    sim.dynamicCall(REMOVE, "ALL", codes[52])
    incremental, full = _full_recompute_view(sim)
    assert incremental == full
    assert codes[55] in full and codes[150] not in full and codes[202] not in full
    assert codes[0] not in full and codes[52] not in full
