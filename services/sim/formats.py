"""String formats of the real control: direction signs, zero/space padding, rates, times (facts §10.3)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from koabus.common.clock import KST

# FID 25 전일대비기호 values.
SIGN_UPPER, SIGN_UP, SIGN_FLAT, SIGN_LOWER, SIGN_DOWN = "1", "2", "3", "4", "5"


def price_vs(price: int, ref: int) -> str:
    """A price carrying its direction versus the reference: '+77600', '-77100', '77500'.

    The sign is not a negative price; readers take abs(). Zero prints '0' ('-0' only via
    `expected_price`).
    """
    price = int(price)
    if price == 0 or price == ref:
        return str(abs(price))
    return ("+" if price > ref else "-") + str(abs(price))


def expected_price(price: int, ref: int) -> str:
    """예상체결가 outside an auction: the real control sends '-0' when there is none."""
    if price == 0:
        return "-0"
    return price_vs(price, ref)


def signed(value: int) -> str:
    """A number with its own sign: '+3', '-400', '0'."""
    value = int(value)
    if value > 0:
        return f"+{value}"
    return str(value)


def unsigned(value: int) -> str:
    return str(abs(int(value)))


def rate(value: float, digits: int = 2, plus: bool = True) -> str:
    """A percentage with fixed decimals and its sign: '-0.52', '+0.13', '0.00'."""
    text = f"{value:.{digits}f}"
    if text.lstrip("-").strip("0.") == "":
        return f"{0:.{digits}f}"
    if plus and value > 0:
        return "+" + text
    return text


def change_rate(price: int, ref: int) -> float:
    if not ref:
        return 0.0
    return (price - ref) * 100.0 / ref


def sign_code(price: int, ref: int, upper: Optional[int] = None, lower: Optional[int] = None) -> str:
    """FID 25: 1 upper limit, 2 up, 3 unchanged, 4 lower limit, 5 down."""
    if upper and price >= upper:
        return SIGN_UPPER
    if lower and 0 < price <= lower:
        return SIGN_LOWER
    if price > ref:
        return SIGN_UP
    if price < ref or price == 0:
        return SIGN_DOWN if price else SIGN_FLAT
    return SIGN_FLAT


def zero_pad(value: int, width: int) -> str:
    """Account TRs (opw00018, opw00001): '000000001234', '-00000001234' (the sign takes a digit)."""
    value = int(value)
    if value < 0:
        return "-" + str(-value).zfill(width - 1)
    return str(value).zfill(width)


def zero_pad_rate(value: float, width: int, digits: int = 2) -> str:
    """A zero-padded decimal such as opw00018 수익률(%) on mock: '000000001.25', '-00000001.25'."""
    text = f"{abs(value):.{digits}f}"
    if value < 0 and text.strip("0.") != "":
        return "-" + text.zfill(width - 1)
    return text.zfill(width)


def a_code(code: str) -> str:
    """Codes with the 'A' prefix the control uses in chejan 9001, opw00018 종목번호, opt10075."""
    return code if code.startswith("A") else "A" + code


def hhmmss(when: datetime) -> str:
    return when.astimezone(KST).strftime("%H%M%S")


def yyyymmdd(when) -> str:
    return when.strftime("%Y%m%d")


def yyyymmddhhmmss(when: datetime) -> str:
    return when.astimezone(KST).strftime("%Y%m%d%H%M%S")


def order_no(number: int) -> str:
    """7-digit zero-padded order number ('0163911'); '0000000' for none."""
    return str(int(number)).zfill(7)


def from_epoch(t: float) -> datetime:
    return datetime.fromtimestamp(t, KST)


# 905 주문구분 by nOrderType, 906 매매구분 by sHogaGb.
ORDER_KIND_TEXT = {1: "+매수", 2: "-매도", 3: "매수취소", 4: "매도취소", 5: "+매수정정", 6: "-매도정정"}
HOGA_TEXT = {"00": "보통", "03": "시장가", "05": "조건부지정가", "06": "최유리지정가", "07": "최우선지정가",
             "10": "보통(IOC)", "13": "시장가(IOC)", "16": "최유리(IOC)", "20": "보통(FOK)",
             "23": "시장가(FOK)", "26": "최유리(FOK)", "61": "장전시간외종가", "62": "시간외단일가",
             "81": "장후시간외종가"}
