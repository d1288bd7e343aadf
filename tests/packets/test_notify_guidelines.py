"""The store's message guidelines, table-driven: each row is a text and the issues it has."""

from __future__ import annotations

import pytest

from packets.notify.guidelines import check

LINK = "http://127.0.0.1:8000/o/abc123:1tEJ:sig/"
OK_EMAIL = (
    "Hi Ann, an update on order #1042: the blue mug is still on backorder. We expect it to ship between "
    f"March 19 and March 24. We will write again by March 9. Cancel at no cost here: {LINK}"
)

CASES = [
    ("a range, the next update date and the cancel link", OK_EMAIL, "email", True, []),
    (
        "no date known, said plainly",
        f"Our supplier has not confirmed a date yet; we will write again by March 5. Cancel: {LINK}",
        "sms",
        True,
        [],
    ),
    (
        "one exact ship date",
        f"Your mug ships on March 19. Cancel: {LINK}",
        "email",
        True,
        ['It gives one exact date ("March 19") for shipping or arrival; give a range instead.'],
    ),
    (
        "an ISO arrival date",
        "It will arrive 2026-03-19.",
        "email",
        False,
        ['It gives one exact date ("2026-03-19") for shipping or arrival; give a range instead.'],
    ),
    (
        "a day-first date",
        "Expected delivery: 19 March.",
        "email",
        False,
        ['It gives one exact date ("19 March") for shipping or arrival; give a range instead.'],
    ),
    ("a date that is not a promise", "Thank you for your order of March 2.", "email", False, []),
    (
        "a forbidden phrase, any case or spacing",
        "We  APOLOGIZE for the\ninconvenience.",
        "email",
        False,
        ['It uses the forbidden phrase "we apologize for the inconvenience".'],
    ),
    (
        "two forbidden phrases",
        "Delivery is guaranteed and it will definitely come.",
        "email",
        False,
        ['It uses the forbidden phrase "guaranteed".', 'It uses the forbidden phrase "will definitely".'],
    ),
    ("too long for SMS", "word " * 51, "sms", False, ["It is 51 words long; the limit for sms is 50."]),
    ("fine as email", "word " * 51, "email", False, []),
    ("too long for email", "word " * 151, "email", False, ["It is 151 words long; the limit for email is 150."]),
    (
        "no cancel link in a backorder update",
        "The mug is still on backorder.",
        "email",
        True,
        ["A backorder update must include the link where the customer can cancel."],
    ),
    (
        "an unfilled placeholder",
        "We expect it to ship between {start} and {end}.",
        "email",
        False,
        ["It still has an unfilled placeholder in braces."],
    ),
    ("empty", "  ", "email", False, ["The message is empty."]),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "channel", "needs_link", "issues"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_it_checks_messages_against_the_policy(policy, text, channel, needs_link, issues):
    assert check(text, channel, policy, cancel_link_required=needs_link) == issues


@pytest.mark.django_db
def test_it_uses_the_policys_own_limits_and_phrases(policy):
    stricter = policy.revise(note="Shorter texts", sms_word_limit=5, forbidden_phrases=["sorry"])
    assert check("So sorry, the mug is late again.", "sms", stricter) == [
        "It is 7 words long; the limit for sms is 5.",
        'It uses the forbidden phrase "sorry".',
    ]
