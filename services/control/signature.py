"""Normalise `dynamicCall` signatures so every spelling real code uses selects the same method.

QAxBase matches a call to a COM member by name and converts the arguments to the member's declared
types; the type words in the signature are barely looked at. Real code therefore writes
`"CommRqData(QString, QString, int, QString)"`, `"CommRqData(const QString&, const QString&, int,
const QString&)"`, `"GetChejanData(QString)"` for an int argument, or even `String`. `parse`
accepts all of them and returns the method name plus the normalised type words.
"""
from __future__ import annotations

import re
from typing import Tuple

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Type words seen in the wild mapped onto the Qt type QAxBase would use.
_TYPE_ALIASES = {
    "qstring": "QString",
    "string": "QString",
    "str": "QString",
    "bstr": "QString",
    "lpctstr": "QString",
    "int": "int",
    "long": "int",
    "short": "int",
    "uint": "int",
    "bool": "bool",
    "boolean": "bool",
    "qvariant": "QVariant",
    "variant": "QVariant",
}


class SignatureError(ValueError):
    """A signature that names no method at all (empty, unbalanced parentheses, bad name)."""


def normalize_type(word: str) -> str:
    """`const QString &` -> `QString`, `long` -> `int`; unknown words are kept, stripped."""
    cleaned = word.replace("&", " ").replace("*", " ")
    tokens = [t for t in cleaned.split() if t not in ("const", "unsigned", "signed")]
    if not tokens:
        return ""
    # A parameter may carry a name after its type ("QString sScrNo"): the type is the first token.
    base = tokens[0]
    return _TYPE_ALIASES.get(base.lower(), base)


def parse(signature: str) -> Tuple[str, Tuple[str, ...]]:
    """Split `"Name(T1, T2)"` into `("Name", ("T1", "T2"))`; a bare `"Name"` has no types.

    Raises SignatureError when no method name can be read.
    """
    if not isinstance(signature, str):
        raise SignatureError(f"signature must be a string, not {type(signature).__name__}")
    text = signature.strip()
    if "(" not in text:
        if ")" in text or not _NAME.match(text):
            raise SignatureError(f"malformed signature {signature!r}")
        return text, ()
    name, _, rest = text.partition("(")
    name = name.strip()
    rest = rest.strip()
    if not rest.endswith(")") or rest.count(")") != 1 or not _NAME.match(name):
        raise SignatureError(f"malformed signature {signature!r}")
    inner = rest[:-1].strip()
    if not inner or inner == "void":
        return name, ()
    types = tuple(normalize_type(part) for part in inner.split(","))
    if any(not t for t in types):
        raise SignatureError(f"empty parameter type in {signature!r}")
    return name, types


def method_name(signature: str) -> str:
    """Only the name: what the simulator dispatches on."""
    return parse(signature)[0]
