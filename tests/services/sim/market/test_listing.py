"""The listing: enough real instruments, stable order, indices and events."""
from __future__ import annotations

from koabus.services.sim.market.listing import EVENT_SPLIT, Listing


def test_default_listing_has_the_big_names_in_every_market():
    listing = Listing.default()
    assert len(listing.codes("0")) + len(listing.codes("10")) >= 60
    assert listing.get("005930").name == "삼성전자"
    assert listing.get("247540").market == "10"
    assert listing.get("069500").kind == "etf" and listing.get("069500").market == "8"
    assert {i.code for i in listing.indices()} >= {"001", "002", "101", "201"}
    assert listing.get("999999") is None


def test_codes_are_stable_and_exclude_indices():
    a, b = Listing.default().codes(), Listing.default().codes()
    assert a == b and "001" not in a and len(set(a)) == len(a)
    assert set(Listing.default().codes("")) == set(a)


def test_samsung_split_is_recorded():
    (split,) = Listing.default().events("005930")
    assert split.flags == EVENT_SPLIT and split.ratio == 1 / 50 and split.real
    assert str(split.day) == "2018-05-04"
