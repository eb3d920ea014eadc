"""Rate-limit windows and the OCX string formats."""
from __future__ import annotations

from koabus.services.sim import formats as fmt
from koabus.services.sim.limits import OncePer, WindowLimiter


def test_window_limiter_allows_five_per_second_then_blocks():
    lim = WindowLimiter(((5, 1.0), (7, 10.0)))
    assert [lim.try_acquire(100.0 + i * 0.01) for i in range(5)] == [None] * 5
    assert lim.try_acquire(100.5) == 0
    assert lim.try_acquire(101.05) is None  # the first stamp left the 1 s window
    assert lim.try_acquire(101.06) is None
    assert lim.try_acquire(102.5) == 1  # 7 in 10 s: the stricter window
    assert lim.try_acquire(111.0) is None


def test_once_per_key():
    once = OncePer(60.0)
    assert once.try_acquire(("a", 1), 0.0)
    assert not once.try_acquire(("a", 1), 59.0)
    assert once.try_acquire(("b", 1), 59.0)
    assert once.try_acquire(("a", 1), 60.0)


def test_price_signs_follow_the_reference():
    assert fmt.price_vs(77600, 77500) == "+77600"
    assert fmt.price_vs(77100, 77500) == "-77100"
    assert fmt.price_vs(77500, 77500) == "77500"
    assert fmt.expected_price(0, 77500) == "-0"
    assert fmt.signed(3) == "+3" and fmt.signed(-400) == "-400" and fmt.signed(0) == "0"
    assert fmt.rate(-0.5161) == "-0.52" and fmt.rate(0.13) == "+0.13" and fmt.rate(0.0) == "0.00"
    assert fmt.rate(-0.001) == "0.00"
    assert fmt.sign_code(100500, 77500, 100500, 54300) == "1"
    assert fmt.sign_code(77000, 77500) == "5" and fmt.sign_code(77500, 77500) == "3"


def test_padding_and_codes():
    assert fmt.zero_pad(1234, 12) == "000000001234"
    assert fmt.zero_pad(-1234, 12) == "-00000001234"
    assert fmt.zero_pad_rate(1.25, 12) == "000000001.25"
    assert fmt.a_code("005930") == "A005930" and fmt.a_code("A005930") == "A005930"
    assert fmt.order_no(163911) == "0163911"
