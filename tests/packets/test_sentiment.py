"""Customer words: VADER's score and the intents a store must not miss."""

from __future__ import annotations

import pytest

from packets.rules import sentiment


@pytest.mark.parametrize(
    ("text", "intents"),
    [
        ("Please cancel my order and refund me, I can't wait any longer.", ["refund", "cancel"]),
        ("If this isn't shipped by Friday I will dispute the charge with my bank.", ["chargeback"]),
        ("I want my money back or I file a chargeback.", ["refund", "chargeback"]),
        ("I'm leaving a 1-star review everywhere.", ["bad_review"]),
        ("My lawyer will be in touch.", ["legal_threat"]),
        ("I will take you to small claims court.", ["legal_threat"]),
        ("Hi, any update on when my order will ship? Thanks.", ["where_is_my_order"]),
        ("Where is my order?", ["where_is_my_order"]),
        ("Tracking says delivered but I never received anything.", ["not_received"]),
        ("The parcel never arrived.", ["not_received"]),
        ("Thank you, the mug is lovely!", []),
    ],
)
def test_it_detects_the_intents_a_store_cares_about(text, intents):
    assert sentiment.detect_intents(text) == intents


def test_it_scores_with_vader_from_minus_one_to_one():
    assert sentiment.score("This is unacceptable and frankly fraud. My lawyer will be in touch.") < -0.5
    assert sentiment.score("Thank you so much, great service!") > 0.5
    assert sentiment.score("   ") == 0.0


def test_it_reads_intents_from_the_subject_too():
    reading = sentiment.read_message("Cancel please", "I can't wait any longer.")
    assert reading.intents == ["cancel"]


@pytest.mark.parametrize(
    ("subject", "body", "escalates"),
    [
        ("", "I'm leaving a 1-star review everywhere.", True),  # a threat, whatever the score
        ("", "This is awful, terrible, the worst store ever.", True),  # far under -0.5
        ("", "Hi, any update on when my order will ship? Thanks.", False),
    ],
)
def test_it_escalates_threats_and_scores_under_the_policy_line(subject, body, escalates):
    reading = sentiment.read_message(subject, body)
    assert sentiment.should_escalate(reading, below=-0.5) is escalates


def test_a_negative_score_alone_does_not_escalate_when_the_policy_says_not_to():
    reading = sentiment.read_message("", "This is awful, terrible, the worst store ever.")
    assert sentiment.should_escalate(reading, below=-0.5, enabled=False) is False


@pytest.mark.parametrize(
    "text",
    [
        "This is a SCAM.",
        "You are a scammer and I'm telling my bank.",
        "This is fraud, plain and simple.",
        "Fraudulent shop!",
        "I'll dispute it.",
        "I will report you to the consumer office.",
        "I am REPORTING THIS to my card issuer.",
        "Total rip-off.",
    ],
)
def test_it_reads_fraud_scam_dispute_bank_and_report_you_as_chargeback_risk(text):
    assert sentiment.CHARGEBACK in sentiment.detect_intents(text)


@pytest.mark.parametrize(
    "text",
    [
        "Please call me about this.",
        "PLEASE CALL ME",
        "Can someone phone me tomorrow?",
        "Could you call me back?",
        "What is your phone number?",
        "I'd like a phone call, not another email.",
        "Give me a ring when you know more.",
    ],
)
def test_it_reads_a_request_for_a_phone_call(text):
    assert sentiment.CALLBACK in sentiment.detect_intents(text)


@pytest.mark.parametrize(
    "text",
    [
        "Scampi and chips were lovely.",  # scam inside a word
        "The result is undisputed: great mug.",  # dispute inside a word
        "I will recall my order number later.",  # call inside a word
        "Fraudsters aside, thanks for the quick answer?",  # fraud stays chargeback, never a callback
        "My bankroll is fine.",
        "Call my sister if the courier needs directions.",  # not asking us to call the customer
    ],
)
def test_it_matches_whole_words_only(text):
    intents = sentiment.detect_intents(text)
    assert sentiment.CALLBACK not in intents
    if "raud" not in text:
        assert sentiment.CHARGEBACK not in intents
