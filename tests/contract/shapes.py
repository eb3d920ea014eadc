"""Value shapes used to compare our strings with the recorded real ones (not their values)."""
from __future__ import annotations

import re

_INT = re.compile(r"^[+-]?\d+$")
_DEC = re.compile(r"^[+-]?\d+\.(\d+)$")


def shape(value: str) -> str:
    """'int', 'dec2' (decimals counted), 'blank-int' for ' 0', 'empty' or 'text'.

    The direction sign is not part of the shape: '+77600', '-77100' and '77500' are all prices.
    Zero-padded numbers keep their width: 'int8' for '00000000'-style fixed-width fields.
    """
    if value == "":
        return "empty"
    if value.startswith(" ") and _INT.match(value.strip()):
        return "blank-int"
    if _INT.match(value):
        digits = value.lstrip("+-")
        if len(digits) > 1 and digits.startswith("0"):
            return f"int{len(digits)}"
        return "int"
    m = _DEC.match(value)
    if m:
        return f"dec{len(m.group(1))}"
    return "text"


def same_shape(ours: str, theirs: str) -> bool:
    """True when our value has the recorded value's shape. A recorded zero-padded field must be
    zero-padded to the same width; a recorded plain int may be any int."""
    a, b = shape(ours), shape(theirs)
    if a == b:
        return True
    # A plain int may print as a padded one by chance ('0' vs '00') only when the value is 0.
    if {a, b} <= {"int", "int2", "int3", "int4", "int5", "int6"} and b == "int":
        return True
    # The single-side volumes (FID 1315/1316) print ' 0' for the side that did not trade.
    return {a, b} == {"int", "blank-int"}
