"""The store's links to other tools: what leaves for them and what they are set up with.

* ``outbound``: signed outbound events for automation tools (Zapier, Make, n8n), their
  subscriptions, deliveries and retries.
* ``zendesk``: an escalated case opens one ticket in the store's helpdesk.
* ``shipstation_tags``: ShipStation's "Backorder" tag on orders waiting on stock, off once they can ship.
* ``connections``: each connection as the owner sees it (configured, last worked, test call).

Calls that change the store itself (cancel, refund, hold, tag) live in ``packets.store_actions``.
"""
