"""One example Reason of every code in agent.core.reasons.CATALOG (each parameter filled in),
and checks that a text shows a reason in one language and not the other: what the tests of
the pages, letters, messages and CLI share."""

from __future__ import annotations

import re
import string

from agent.core.reasons import CATALOG, TERMS, Param, Reason, reason

#: parameters that are numbers, with a value whose Indonesian form differs (a decimal comma)
NUMBERS: dict[str, float | int] = {"sent": 5, "seconds": 2.5, "count": 3, "percent": 42.5,
                                   "window": 20, "high": 30.5, "low": 15.5, "probes": 3,
                                   "devices": 2}
TEXTS = {"address": "127.9.8.7", "interface": "Gi0/7", "device": "ap-uji-09", "root": "sw-inti-01",
         "name": "sw-inti-01", "item": "Gi0/7", "devices": "ap-uji-09, ap-uji-10"}
CODES = tuple(sorted(CATALOG))


def example(code: str) -> Reason:
    """`code` with every parameter filled: terms by their vocabulary's last key, a nested
    "cause" by an ICMP failure, numbers by NUMBERS, other text by TEXTS."""
    spec = CATALOG[code]
    params: dict[str, Param] = {}
    for name in spec.params:
        if name in spec.terms:
            params[name] = list(TERMS[spec.terms[name]])[-1]
        elif name == "cause":
            params[name] = reason("icmp_no_reply", sent=5, address="127.9.8.7", seconds=1.5)
        elif name in NUMBERS and not (code == "verify_not_in_inventory" and name == "devices"):
            params[name] = NUMBERS[name]
        else:
            params[name] = TEXTS.get(name, f"x-{name}")
    return reason(code, **params)


def literals(code: str, lang: str) -> list[str]:
    """The words of `code`'s template in `lang` between its parameters (each at least 6
    characters after stripping punctuation and spaces): what gives away its language."""
    spec = CATALOG[code]
    template = spec.en if lang == "en" else spec.id
    out = []
    for literal, _, _, _ in string.Formatter().parse(template):
        text = literal.strip(" :;,.()")
        if len(text) >= 6:
            out.append(text)
    return out


def english_left(text: str, r: Reason) -> list[str]:
    """The pieces of `r`'s English rendering found in `text` (none should be, in Indonesian):
    its whole text and its template's own words, nested reasons' too."""
    found = [r.text("en")] if r.text("en") in text else []
    for code in _codes(r):
        spec = CATALOG[code]
        found += [w for w in literals(code, "en")  # not a loanword Indonesian uses too
                  if w not in spec.id and re.search(re.escape(w), text)]
    return found


def _codes(r: Reason) -> list[str]:
    return [r.code, *(c for _, v in r.params if isinstance(v, Reason) for c in _codes(v))]
