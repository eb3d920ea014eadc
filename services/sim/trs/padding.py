"""How GetCommData/GetCommDataEx pad TR values (facts §3.2, §10.3: "values are padded; strip them").

The real control hands each field out as it sits in the fixed-width TR message, so most values
carry leading or trailing spaces; the recorded traces were stripped by the recorder, so the exact
widths are not known. The simulator uses one documented scheme that exercises a client's
stripping:

- the zero-padded account TRs (opw00001, opw00004, opw00018) are left exactly as their responders
  render them (12/15-digit zero padding, sign included);
- in every other TR a non-empty value is laid into a FIELD_WIDTH (20) column, the width of most
  fields in the KOA layouts: a number (optional sign, digits, optional decimals) is right-aligned
  with leading spaces (`'              -77000'`), anything else (names, `A`-prefixed codes) is
  left-aligned with trailing spaces (`'삼성전자                '`); a longer value is left as is;
- empty values stay empty.

SimConfig.pad_tr_values=False turns the padding off.
"""
from __future__ import annotations

import re
from typing import List

FIELD_WIDTH = 20
ZERO_PADDED_TRS = frozenset(("opw00001", "opw00004", "opw00018"))
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def pads(tr_code: str) -> bool:
    """True when the TR's values get space padding (every TR but the zero-padded account ones)."""
    return tr_code.lower() not in ZERO_PADDED_TRS


def pad(value: str) -> str:
    """One value in its FIELD_WIDTH column: numbers right-aligned, text left-aligned."""
    if not value or len(value) >= FIELD_WIDTH:
        return value
    if _NUMBER.match(value):
        return value.rjust(FIELD_WIDTH)
    return value.ljust(FIELD_WIDTH)


def pad_row(values: List[str]) -> List[str]:
    return [pad(v) for v in values]
