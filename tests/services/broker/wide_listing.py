"""A simulated KRX with as many codes as the real one, for tests of the screen budget and long registrations.

The built-in listing has about 340 codes; Kiwoom's 200 screens hold 20,000 and the real master list
(KOSPI, KOSDAQ, ETFs, ELWs) is of that size. These helpers add synthetic KOSDAQ stocks (codes from
900000 up, listed in every code list the simulator serves) to `Listing.default()`: in-process with
pytest's monkeypatch, or in a child process before the broker starts (`widen_default_listing`).
With a frozen clock (speed 0) the extra codes cost nothing until they are registered.
"""
from __future__ import annotations

from datetime import date
from typing import Callable, List, Tuple

SYNTHETIC_FIRST = 900_000


def synthetic_codes(count: int) -> List[str]:
    return [f"{SYNTHETIC_FIRST + i:06d}" for i in range(count)]


def _instruments(count: int) -> Tuple:
    from koabus.services.sim.market.listing import Instrument

    return tuple(
        Instrument(code=code, name=f"합성{i:05d}", market="10", kind="stock", listed_date=date(2010, 1, 4),
                   shares=10_000_000, face_value=500, base_price=10_000, sector="기타",
                   state="증거금30%|담보대출|신용가능", margin_rate=30, factor="101", daily_vol=0.028)
        for i, code in enumerate(synthetic_codes(count)))


def wide_default(count: int) -> Callable:
    """A replacement for `Listing.default` (a classmethod) whose listing has `count` extra codes."""
    from koabus.services.sim.market import listing as listing_module

    extra = _instruments(count)
    built = listing_module._default_instruments() + extra
    clash = {i.code for i in extra} & {i.code for i in listing_module._default_instruments()}
    if clash:
        raise ValueError(f"synthetic codes clash with the listing: {sorted(clash)[:5]}")
    events = listing_module._EVENTS
    return classmethod(lambda cls, extra=0: cls(built + listing_module.synthetic_instruments(extra), events))


def widen_default_listing(count: int) -> None:
    """For a child process: every simulated control built afterwards lists `count` extra codes."""
    from koabus.services.sim.market.listing import Listing

    Listing.default = wide_default(count)


def fill_realtime(client, codes):
    """Subscribe (a tests.services.broker.bus.BusClient) as many of `codes` as the broker admits: all of
    them, or what its Overloaded refusal says fits; returns the codes subscribed."""
    final, _ = client.call("subscribe", {"codes": codes, "types": ["trade"]}, timeout_s=120)
    if final.TYPE == "REPLY":
        return codes
    assert final.TYPE == "ERROR" and final.kind == "Overloaded", final
    fits = final.details["free_screens"] * 100
    assert 0 < fits < len(codes)
    final, _ = client.call("subscribe", {"codes": codes[:fits], "types": ["trade"]}, timeout_s=120)
    assert final.TYPE == "REPLY", final
    return codes[:fits]
