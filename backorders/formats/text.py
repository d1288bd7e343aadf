"""Small text helpers for anything a person reads: product names, sentences, date ranges.

Texts are built from parts that come from outside (a product's title and variant from the store, a
supplier's note, a carrier's status text), and the parts do not know how they will be joined. These
helpers join them without the three faults that otherwise creep in: a variant named twice ("Linen
Throw (Rust) (Rust)"), a double full stop ("... no purchase order confirmation.."), and a range
half-written in two styles ("between December 17 – December 28").
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s()\[\]/,:–—-]+")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)]*$")
_TYPO_CHECKS = (
    (
        re.compile(r"(?<![.\w])[.!?,;:]?\.\.(?!\.)|(?<=\w)\.\.(?!\.)|[!?]\.(?=\s|$)|[.!?][\"'”’]\.(?=\s|$)"),
        "a double full stop",
    ),
    (re.compile(r"\(([^()]+)\)\s*\(\1\)", re.IGNORECASE), "the same words twice in brackets"),
    (
        re.compile(r"\bbetween\s+[^.\n]{1,40}?\s+[–—-]\s+", re.IGNORECASE),
        '"between" with a dash (write "between X and Y")',
    ),
)


def product_name(title: str, variant: str = "") -> str:
    """``Title (Variant)``, naming the variant once: not again when the title already names it
    ("Linen Throw (Rust)", "Linen Throw - Rust", "Rust Linen Throw")."""
    title, variant = (title or "").strip(), (variant or "").strip()
    if not variant:
        return title
    if not title:
        return variant
    words = [w for w in _SEPARATORS.split(title.lower()) if w]
    wanted = [w for w in _SEPARATORS.split(variant.lower()) if w]
    n = len(wanted)
    if wanted and any(words[i : i + n] == wanted for i in range(len(words) - n + 1)):
        return title  # the title already names the variant
    return f"{title} ({variant})"


def sentence(text: str) -> str:
    """``text`` as one sentence: stripped, ending with exactly one stop (its own, if it has one)."""
    text = (text or "").strip()
    text = re.sub(r"(?<!\.)\.{2}$", ".", text)
    if not text or _ENDS_SENTENCE.search(text):
        return text
    return f"{text}."


def between(start: str, end: str) -> str:
    """ "between X and Y", never "between X – Y" (a range, even when both ends fall on one day: one
    day alone would read as a promise)."""
    return f"between {start} and {end}"


def typography_issues(text: str) -> list[str]:
    """The joining faults above, found in a finished text (links left out), in plain words."""
    plain = re.sub(r"https?://\S+", " ", text or "")
    return [f"It has {what}." for pattern, what in _TYPO_CHECKS if pattern.search(plain)]
