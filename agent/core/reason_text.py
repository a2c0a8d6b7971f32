"""Stored reasons read for a reader: a code rendered in the reader's language, and a text
stored before reason codes (English only) read back into its code, from the English templates
of agent/core/reasons.py."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from agent.core.reasons import CATALOG, TERMS, Param, Reason, Spec

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _pattern(spec: Spec) -> re.Pattern[str]:
    """A regex of the English template: a term parameter matches only its vocabulary's words;
    a space may be missing (an empty parameter is dropped when rendered)."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(spec.en):
        out.append(" ?".join(re.escape(w) for w in literal.split(" ")))
        if name and name in spec.terms:
            word = "|".join(re.escape(en) for en, _ in TERMS[spec.terms[name]].values())
            out.append(f"(?P<{name}>(?:{word})(?:(?:, | and )(?:{word}))*)")
        elif name:
            out.append(f"(?P<{name}>.*?)")
    return re.compile("".join(out))


def _literal_length(spec: Spec) -> int:
    return sum(len(literal) for literal, _, _, _ in string.Formatter().parse(spec.en))


#: the most specific templates (the most literal text) tried first: "no longer failing"
#: before "failing"
_PATTERNS = {code: _pattern(spec) for code, spec in sorted(
    CATALOG.items(), key=lambda item: -_literal_length(item[1]))}
_REVERSE_TERMS = {voc: {en: key for key, (en, _) in words.items()}
                  for voc, words in TERMS.items()}
_LAST = re.compile(r"^(?P<head>.*) \(last: (?P<last>.*)\)$")


def parse_english(text: str) -> Reason | None:
    """The Reason whose English rendering `text` is (how an old ticket, stored before reason
    codes, is shown in Indonesian); None when it is no code's text."""
    text = text.strip()
    if not text:
        return None
    extra: list[tuple[str, Param]] = []
    match = _LAST.match(text)
    if match:
        last = parse_english(match["last"])
        if last is None:
            return None
        text, extra = match["head"], [("last", last)]
    head, _, note_text = text.partition("; ")
    if note_text:
        note = parse_english(note_text)
        if note is None:
            return None
        extra.insert(0, ("note", note))
    for code, pattern in _PATTERNS.items():
        found = pattern.fullmatch(head)
        if found is None:
            continue
        params = _read_params(code, found.groupdict())
        if params is not None:
            return Reason(code, (*params, *extra))
    return None


def _read_params(code: str, raw: Mapping[str, str]) -> list[tuple[str, Param]] | None:
    spec = CATALOG[code]
    out: list[tuple[str, Param]] = []
    for name, value in raw.items():
        if name in spec.terms:
            words = _REVERSE_TERMS[spec.terms[name]]
            out.append((name, ",".join(words[w] for w in re.split(", | and ", value))))
        elif name == "cause":
            out.append((name, parse_english(value) or value))
        elif _NUMBER.match(value):
            out.append((name, float(value) if "." in value else int(value)))
        else:
            out.append((name, value))
    return out


def coded(text: str, code: Any) -> Reason | None:
    """A stored reason's code: `code` when it is one (a Reason or as `Reason.to_json` wrote
    it), else `text` (stored before reason codes, English) read back into its code; None
    when neither (free text, e.g. an alert's summary)."""
    found = code if isinstance(code, Reason) else Reason.from_json(code) if code else None
    return found if found is not None else parse_english(text)


def shown(text: str, code: Any, lang: str) -> str:
    """A stored reason for a reader in `lang`: its code's rendering when it has one (`code`,
    a Reason or as `Reason.to_json` wrote it), else an old text read back into its code,
    else the text as stored (English or free text, e.g. an alert's summary)."""
    found = coded(text, code)
    return found.text(lang) if found is not None else text
