"""What a customer's words say about risk: a VADER sentiment score and the intents they state.

VADER gives a compound score from -1 (most negative) to 1. Intents are read with plain patterns,
because the phrases that matter to a store (a refund, a chargeback, a lawyer) are few and
explicit; a pattern that matched is shown to the owner, so a false alarm is visible and cheap.
Negations ("I don't want a refund") are not understood: the intent is still reported. Every
pattern matches whole words, in any case ("scam" never matches "scampi").

Two intents escalate as the playbooks ask: chargeback risk (fraud, scam, dispute, chargeback, "my
bank", "report you") puts the case on chargeback watch, for the owner, and stops automated
replies; a callback request ("please call me", a phone number asked for) goes to support with
callback priority.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

REFUND = "refund"
CANCEL = "cancel"
CHARGEBACK = "chargeback"
BAD_REVIEW = "bad_review"
LEGAL_THREAT = "legal_threat"
WHERE_IS_MY_ORDER = "where_is_my_order"
NOT_RECEIVED = "not_received"
CALLBACK = "callback_requested"

INTENT_LABELS = {
    REFUND: "asks for a refund",
    CANCEL: "asks to cancel",
    CHARGEBACK: "threatens a chargeback or dispute",
    BAD_REVIEW: "threatens a bad review",
    LEGAL_THREAT: "threatens legal action",
    WHERE_IS_MY_ORDER: "asks where the order is",
    NOT_RECEIVED: "says the parcel never arrived",
    CALLBACK: "asks for a phone call",
}

# Intents that are threats: they put the case in front of the owner whatever the score.
THREATS = frozenset({CHARGEBACK, BAD_REVIEW, LEGAL_THREAT})

_PATTERNS: dict[str, re.Pattern[str]] = {
    REFUND: re.compile(r"\brefund|\bmoney back\b|\breimburse", re.I),
    CANCEL: re.compile(r"\bcancel", re.I),
    CHARGEBACK: re.compile(
        r"\bcharge[\s-]?backs?\b|\bdisput(?:e|es|ed|ing)\b|\bmy bank\b|\bcredit card company\b|"
        r"\bpaypal (?:claim|dispute)\b|\breverse the (?:charge|payment)\b|"
        r"\bfraud(?:ulent|ster|sters)?\b|\bscam(?:s|med|mer|mers|ming)?\b|\brip[\s-]?off\b|"
        r"\breport(?:ing)? (?:you|this|your (?:store|shop|company))\b|\bstolen from me\b",
        re.I,
    ),
    BAD_REVIEW: re.compile(
        r"\b(?:1|one)[\s-]?star|\bbad review|\breview(?:s)? everywhere|\btrustpilot\b|\byelp\b|\bbbb\b|"
        r"\bwarn (?:everyone|others)|\bsocial media\b",
        re.I,
    ),
    LEGAL_THREAT: re.compile(
        r"\blawyer|\battorney|\bsolicitor|\blegal action|\bsue\b|\bsuing\b|\bcourt\b|\bsmall claims|"
        r"\btrading standards|\bconsumer protection",
        re.I,
    ),
    WHERE_IS_MY_ORDER: re.compile(
        r"\bwhere is my|\bany update|\bstill (?:nothing|waiting|no)|\bwhen will (?:it|my order|this) (?:ship|arrive)|"
        r"\bhas (?:it|my order) shipped|\bstatus of my order",
        re.I,
    ),
    NOT_RECEIVED: re.compile(
        r"\b(?:never|not|haven't|hasn't|have not|has not|didn't|did not) (?:been )?"
        r"(?:received|arrived|delivered|got|get)|"
        r"\bnever (?:came|arrived|showed up)|\bnothing (?:arrived|came)|\bnot here\b",
        re.I,
    ),
    CALLBACK: re.compile(
        r"\b(?:call|ring|phone) me\b|\bcall me back\b|\bgive me a (?:call|ring)\b|\bcall(?:back| back) request|"
        r"\b(?:request|want|like|need) a (?:call|callback|call back|phone call)\b|"
        r"\b(?:can|could|would|will) (?:someone|somebody|you|anyone) (?:please )?(?:call|phone|ring)\b|"
        r"\b(?:speak|talk) to (?:someone|somebody|a (?:person|human)) (?:on|by|over) the phone\b|"
        r"\b(?:your|a) (?:phone|telephone|contact) number\b|\bnumber (?:i|I) can call\b|\bcall you\b",
        re.I,
    ),
}


@dataclass(frozen=True)
class Reading:
    sentiment: float
    intents: list[str]

    @property
    def threats(self) -> list[str]:
        return [intent for intent in self.intents if intent in THREATS]


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def score(text: str) -> float:
    """VADER's compound score, rounded to four places (what is stored and compared)."""
    if not text.strip():
        return 0.0
    return round(_analyzer().polarity_scores(text)["compound"], 4)


def detect_intents(text: str) -> list[str]:
    """The intents the text states, in a fixed order (the order of ``INTENT_LABELS``)."""
    return [intent for intent in INTENT_LABELS if _PATTERNS[intent].search(text)]


def read_message(subject: str, body: str) -> Reading:
    """Score the body (the customer's words); read intents from subject and body together."""
    text = body or subject
    return Reading(sentiment=score(text), intents=detect_intents(f"{subject}\n{body}"))


def should_escalate(reading: Reading, *, below: float, enabled: bool = True) -> bool:
    """A threat always escalates; a score under the policy's line escalates when the policy says so."""
    return bool(reading.threats) or (enabled and reading.sentiment < below)
