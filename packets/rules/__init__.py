"""The decision rules: pure functions of facts and policy.

Nothing in this package reads or writes the database. The sweep loads facts into the plain
dataclasses of ``facts``, and these functions classify (``tracking``, ``supply``), weigh the
customer (``customer``), rate the risk and pick the next move (``risk``), list the options
(``options``) and say how far the evidence goes (``evidence``); ``sentiment`` reads a customer's
words for risk and intents.
"""
