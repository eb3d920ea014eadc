"""Chejan values that carry their own meaning (facts §5.5, §9): the market fill at the current
price, 909 the server's number, 10010 the after-hours single-price market's price, 8019/990/991
the realised figures of today's sells."""
from __future__ import annotations

from datetime import date

from tests.services.sim.conftest import pump

SEND = "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)"
DAY = date(2024, 6, 14)


def _reader(sim):
    return lambda gubun, count, fids: {int(f): sim.dynamicCall("GetChejanData(int)", int(f))
                                       for f in fids.rstrip(";").split(";")}


def _account(sim) -> str:
    return sim.dynamicCall("GetLoginInfo(QString)", "ACCNO").split(";")[0]


def _order(qapp, sim, srec, order_type: int, code: str, qty: int):
    srec.readers["OnReceiveChejanData"] = _reader(sim)
    srec.clear()
    assert srec.call(SEND, "rq", "0001", _account(sim), order_type, code, qty, 0, "03", "") == 0
    pump(qapp, sim)
    sim.sim.advance(1.0)
    pump(qapp, sim)
    return [(e[1][0], e[2]) for e in srec.of("OnReceiveChejanData")]


def test_market_fill_is_at_the_current_price_not_the_ask(qapp, sim, srec):
    t0 = sim.sim.clock.time()
    events = _order(qapp, sim, srec, 1, "005930", 3)
    assert [(g, v.get(913)) for g, v in events] == [("0", "접수"), ("0", "체결"), ("1", None)]
    accepted, filled = events[0][1], events[1][1]
    last, ask, _bid = sim.sim.world.snapshot_prices("005930", t0)
    assert int(filled[910]) == int(filled[914]) == last == abs(int(filled[10]))
    assert abs(int(filled[27])) == ask
    assert int(filled[911]) == 3 and filled[909] == "1000001" and accepted[909] == ""
    assert accepted[908] == filled[908] == "100000"


def test_after_hours_price_is_the_previous_sessions_single_price_print(qapp, sim, srec):
    events = _order(qapp, sim, srec, 1, "005930", 1)
    market = sim.sim.market
    prev = market.calendar.previous_session(DAY)
    path = market.path("005930", prev)
    j = path.last_single(len(path) - 1)
    expected = int(path.price[j]) if j >= 0 else market.reference_price("005930", DAY)
    values = {v[10010] for _g, v in events}
    assert len(values) == 1
    value = values.pop()
    ref = market.reference_price("005930", DAY)
    sign = "+" if expected > ref else "-" if expected < ref else ""
    assert value == f"{sign}{expected}"


def test_pnl_rates_are_the_realised_ones(qapp, sim, srec):
    bought = _order(qapp, sim, srec, 1, "000660", 10)
    balance = [v for g, v in bought if g == "1"][-1]
    assert balance[8019] == "0.00" and balance[990] == "0" and balance[991] == "0.00"
    sim.sim.advance(120)
    sold = _order(qapp, sim, srec, 2, "000660", 4)
    balance = [v for g, v in sold if g == "1"][-1]
    pos = sim.sim.world.position(_account(sim), "000660", sim.sim.clock.time())
    assert int(balance[950]) == int(balance[990]) == pos.realized_today
    rate = pos.realized_today * 100.0 / (pos.avg_price * 4)
    assert balance[8019] == balance[991] == f"{rate:.2f}".replace("-0.00", "0.00").lstrip("+")
    assert balance[8019] != "0.00" or pos.realized_today == 0
