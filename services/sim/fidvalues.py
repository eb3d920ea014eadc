"""Running per-code day state and the FID value strings of the stock realtime types (facts §10).

`DayState` is fed every trade of the session (so cumulative volume, buy/sell split, open/high/low
and their times always agree with the trade stream) and renders the values of 주식체결, 주식시세,
주식우선호가, 주식호가잔량 and 주식예상체결 in the real formats: direction-signed prices, signed
tick volume, HHMMSS times, `000000` for a limit not hit yet, the space-padded `' 0'` single-side
volume. `vi_values` renders VI발동/해제.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Dict, List, Optional, Sequence, Tuple

from koabus.common.clock import KST

from . import formats as fmt
from .market.config import DEFAULT_SELL_TAX_SCHEDULE

# FID 32 거래비용: the round-trip cost of one share at the reference price, sell tax plus two online
# commissions of 0.015% (recorded '201' all session long for 005930 on 2022-01-18: 기준가 77,500 x
# (0.23% + 0.03%) = 201.5, while the price moved between 77,000 and 77,100; the meaning is [unc]).
ONLINE_COMMISSION_RATE = 0.00015


def trading_cost(ref: int, day: Optional[date]) -> int:
    """FID 32 for a reference price on a day (the newest tax rate when the day is unknown)."""
    rate = DEFAULT_SELL_TAX_SCHEDULE[-1][1]
    if day is not None:
        for since, r in DEFAULT_SELL_TAX_SCHEDULE:
            if day >= since:
                rate = r
    return int(ref * (rate + 2 * ONLINE_COMMISSION_RATE) + 1e-9)


@dataclass(frozen=True)
class InstrumentInfo:
    """What the value renderer needs to know about an instrument for one session."""

    code: str
    ref: int
    upper: int
    lower: int
    shares: int
    prev_volume: int = 0
    prev_value: int = 0


def _hms(t: float) -> str:
    return datetime.fromtimestamp(t, KST).strftime("%H%M%S")


class DayState:
    """Cumulative session statistics of one code, updated trade by trade."""

    __slots__ = ("info", "last", "open", "high", "low", "volume", "value", "buy_volume", "sell_volume",
                 "buy_count", "sell_count", "open_t", "high_t", "low_t", "upper_t", "lower_t",
                 "ask", "bid", "last_t", "last_qty", "session", "_cost")

    def __init__(self, info: InstrumentInfo):
        self.info = info
        self.last = 0
        self.open = self.high = self.low = 0
        self.volume = self.value = 0
        self.buy_volume = self.sell_volume = 0
        self.buy_count = self.sell_count = 0
        self.open_t = self.high_t = self.low_t = 0.0
        self.upper_t = self.lower_t = 0.0
        self.ask = self.bid = 0
        self.last_t = 0.0
        self.last_qty = 0
        self.session = "1"
        self._cost = ""  # FID 32, fixed for the session once a print dates it

    def apply(self, t: float, price: int, qty: int, regular: bool = True) -> None:
        """One trade: `qty` > 0 buy-initiated, < 0 sell-initiated. Only regular-session prints
        (auctions and continuous trading) move last/open/high/low; all count in the volume. FID 290
        follows the print: "1" before the open (장전시간외), "2" regular, "3" after the close."""
        size = abs(qty)
        self.session = "2" if regular else ("1" if self.open == 0 else "3")
        if regular:
            if self.open == 0:
                self.open, self.open_t = price, t
                self.high = self.low = price
                self.high_t = self.low_t = t
            if price > self.high:
                self.high, self.high_t = price, t
            if price < self.low:
                self.low, self.low_t = price, t
            if self.info.upper and price >= self.info.upper and not self.upper_t:
                self.upper_t = t
            if self.info.lower and price <= self.info.lower and not self.lower_t:
                self.lower_t = t
            self.last = price
        self.last_t, self.last_qty = t, qty
        self.volume += size
        self.value += size * price
        if qty >= 0:
            self.buy_volume += size
            self.buy_count += 1
        else:
            self.sell_volume += size
            self.sell_count += 1

    # -- rendering -------------------------------------------------------------------------------
    def trade_values(self, fids: Sequence[int]) -> List[str]:
        values = self._common()
        values.update(self._trade_only())
        return [values.get(f, "") for f in fids]

    def quote_values(self, fids: Sequence[int]) -> List[str]:
        values = self._common()
        return [values.get(f, "") for f in fids]

    def best_values(self) -> List[str]:
        ref = self.info.ref
        return [fmt.price_vs(self.ask, ref), fmt.price_vs(self.bid, ref)]

    def expected_values(self, fids: Sequence[int], t: float, price: int, qty: int) -> List[str]:
        """주식예상체결: the indicative auction price (signed vs the reference) and quantity."""
        info = self.info
        ref = info.ref
        values = {
            20: _hms(t),
            10: fmt.price_vs(price, ref),
            11: fmt.signed(price - ref),
            12: fmt.rate(fmt.change_rate(price, ref)),
            15: fmt.signed(qty),
            13: str(self.volume),
            25: fmt.sign_code(price, ref, info.upper, info.lower),
        }
        return [values.get(f, "") for f in fids]

    def vi_values(self, fids: Sequence[int], name: str, market: str, ev, released: bool,
                  totals: Tuple[int, int]) -> List[str]:
        """VI발동/해제 for a market ViEvent: 9068 "1" on trigger, "2" on release; 1225 "1" static,
        "2" dynamic, "3" both; 9069 "1" up, "2" down; 9008 "1" KOSPI, "2" KOSDAQ; 13/14 the day's
        `totals` (shares, KRW) at that instant. The codes of
        9068/9008/9069/9075/1279 are not documented publicly (guesses)."""
        ref = self.info.ref
        values = {
            9001: self.info.code,
            302: name,
            13: str(totals[0]),
            14: str(totals[1] // 1_000_000),
            9068: "2" if released else "1",
            9008: "2" if market == "10" else "1",
            9075: "0",
            1221: fmt.price_vs(ev.price, ref),
            1223: _hms(ev.t),
            1224: _hms(ev.release_t) if released else "000000",
            1225: {"static": "1", "dynamic": "2"}.get(ev.kind, "3"),
            1236: fmt.price_vs(ev.static_base, ref),
            1237: fmt.price_vs(ev.dynamic_base, ref),
            1238: fmt.rate(ev.static_gap_pct),
            1239: fmt.rate(ev.dynamic_gap_pct),
            1489: fmt.rate(fmt.change_rate(ev.price, ev.open_price)),
            1490: str(ev.count),
            9069: "1" if ev.direction > 0 else "2",
            1279: "0",
        }
        return [values.get(f, "") for f in fids]

    def _common(self) -> Dict[int, str]:
        info = self.info
        ref, price = info.ref, self.last or info.ref
        change = price - ref if self.last else 0
        rate = fmt.change_rate(price, ref) if self.last else 0.0
        prev_volume = info.prev_volume
        vol_ratio = (self.volume * 100.0 / prev_volume) if prev_volume else 0.0
        vol_sign = -1 if self.volume < prev_volume else 1
        value_ratio = (self.value * 100.0 / info.prev_value) if info.prev_value else 0.0
        value_sign = -1 if self.value < info.prev_value else 1
        turnover = (self.volume * 100.0 / info.shares) if info.shares else 0.0
        return {
            10: fmt.price_vs(price, ref),
            11: fmt.signed(change),
            12: fmt.rate(rate),
            27: fmt.price_vs(self.ask, ref),
            28: fmt.price_vs(self.bid, ref),
            13: str(self.volume),
            14: str(self.value // 1_000_000),
            16: fmt.price_vs(self.open, ref),
            17: fmt.price_vs(self.high, ref),
            18: fmt.price_vs(self.low, ref),
            25: fmt.sign_code(price, ref, info.upper, info.lower) if self.last else fmt.SIGN_FLAT,
            26: fmt.signed(self.volume - prev_volume),
            29: fmt.signed(self.value - info.prev_value),
            30: fmt.rate(vol_sign * vol_ratio, plus=False),
            31: fmt.rate(turnover, plus=False),
            32: self._trading_cost(),
            311: str(price * info.shares // 100_000_000),
            822: fmt.rate(value_sign * value_ratio, plus=False),
            567: _hms(self.upper_t) if self.upper_t else "000000",
            568: _hms(self.lower_t) if self.lower_t else "000000",
            732: str((price * 533 + 50_000) // 100_000),  # 77,100 -> 411, 77,000 -> 410 (recorded)
            852: "0",
        }

    def _trading_cost(self) -> str:
        if self._cost:
            return self._cost
        if not self.last_t:
            return str(trading_cost(self.info.ref, None))
        self._cost = str(trading_cost(self.info.ref, datetime.fromtimestamp(self.last_t, KST).date()))
        return self._cost

    def _trade_only(self) -> Dict[int, str]:
        info = self.info
        qty, price = self.last_qty, self.last
        strength = (self.buy_volume * 100.0 / self.sell_volume) if self.sell_volume else 0.0
        total = self.buy_volume + self.sell_volume
        # 1032 매수비율: the buy share of the volume, negative while sells dominate (recorded:
        # 2,944,634 bought of 7,762,341 -> '-37.93').
        buy_ratio = (self.buy_volume * 100.0 / total) if total else 0.0
        if self.buy_volume < self.sell_volume:
            buy_ratio = -buy_ratio
        return {
            20: _hms(self.last_t),
            15: fmt.signed(qty),
            228: fmt.rate(strength, plus=False),
            290: self.session,
            691: "0",
            851: str(self.volume * 1000 // info.prev_volume) if info.prev_volume else "0",
            1890: _hms(self.open_t) if self.open_t else "000000",
            1891: _hms(self.high_t) if self.high_t else "000000",
            1892: _hms(self.low_t) if self.low_t else "000000",
            1030: str(self.sell_volume),
            1031: str(self.buy_volume),
            1032: fmt.rate(buy_ratio, plus=False),
            1071: str(self.sell_count),
            1072: str(self.buy_count),
            1313: fmt.signed((qty * price) // 1000 if qty >= 0 else -((-qty * price) // 1000)),
            1315: fmt.signed(qty) if qty < 0 else " 0",
            1316: fmt.signed(qty) if qty > 0 else " 0",
            1314: fmt.signed(qty),
            1497: str(price * 40 // 100),
            1498: str(price * 32 // 100),
            620: str(self.value // self.volume) if self.volume else "0",
        }


#: 주식호가잔량's LP quantity FIDs (621-630 ask, 631-640 bid): the simulated market has no LP, always "0"
_BOOK_LP_ZEROS = dict.fromkeys(range(621, 641), "0")


def book_values(fids: Sequence[int], t: float, ref: int, asks: Sequence[Tuple[int, int]],
                bids: Sequence[Tuple[int, int]], volume: int, status: str = "3",
                prev: Optional[Dict[int, int]] = None, expected: Tuple[int, int] = (0, 0)) -> List[str]:
    """주식호가잔량 (103 FIDs): 10 levels each side, quantities, changes vs `prev`, totals, ratios."""
    values: Dict[int, str] = {21: _hms(t)}
    qty_now: Dict[int, int] = {}
    before = prev or {}
    total_ask = total_bid = 0
    for level in range(10):
        ask_p, ask_q = asks[level] if level < len(asks) else (0, 0)
        bid_p, bid_q = bids[level] if level < len(bids) else (0, 0)
        values[41 + level] = fmt.price_vs(ask_p, ref)
        values[51 + level] = fmt.price_vs(bid_p, ref)
        values[61 + level] = str(ask_q)
        values[71 + level] = str(bid_q)
        qty_now[61 + level], qty_now[71 + level] = ask_q, bid_q
        total_ask += ask_q
        total_bid += bid_q
        values[81 + level] = fmt.signed(ask_q - before.get(61 + level, ask_q))
        values[91 + level] = fmt.signed(bid_q - before.get(71 + level, bid_q))
    prev_ask = before.get(121, total_ask)
    prev_bid = before.get(125, total_bid)
    both = total_ask + total_bid
    values.update({
        121: str(total_ask), 122: fmt.signed(total_ask - prev_ask),
        125: str(total_bid), 126: fmt.signed(total_bid - prev_bid),
        23: fmt.price_vs(expected[0], ref) if expected[0] else "0", 24: str(expected[1]),
        128: fmt.signed(total_bid - total_ask),
        129: fmt.rate(total_bid * 100.0 / both if both else 0.0, plus=False),
        138: fmt.signed(total_ask - total_bid),
        139: fmt.rate(total_ask * 100.0 / both if both else 0.0, plus=False),
        200: fmt.signed(expected[0] - ref) if expected[0] else "0",
        201: fmt.rate(fmt.change_rate(expected[0], ref)) if expected[0] else "0.00",
        238: fmt.sign_code(expected[0], ref) if expected[0] else "3",
        291: fmt.price_vs(expected[0], ref) if expected[0] else "0", 292: str(expected[1]),
        293: fmt.sign_code(expected[0], ref) if expected[0] else "3",
        294: fmt.signed(expected[0] - ref) if expected[0] else "0",
        295: fmt.rate(fmt.change_rate(expected[0], ref)) if expected[0] else "0.00",
        13: str(volume), 299: "0.00", 215: status, 216: "0",
    })
    values.update(_BOOK_LP_ZEROS)
    if prev is not None:
        prev.clear()
        prev.update(qty_now)
        prev[121], prev[125] = total_ask, total_bid
    get = values.get
    return [get(f, "") for f in fids]
