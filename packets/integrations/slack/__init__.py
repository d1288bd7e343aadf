"""Slack both ways: the owner's alerts with buttons out, the buttons pressed back in.

* ``alerts``: which cases need the owner (owner-only, chargeback watch, a reply deadline near),
  the Block Kit message of each (the packet's facts, recommendation and risk, with "Accept
  recommendation" and "Open"), one per case state, after each sweep.
* ``posting``: every call to Slack's Web API (``chat.postMessage``, ``chat.update``,
  ``chat.postEphemeral``) as a ``SlackPost`` row, sent by the worker with the bot token, retried.
* ``interactions``: the signed interactivity endpoint; a press is kept, then applied once by the
  worker as the desk user the Slack user is linked to, through the same verb as the case page.
"""
