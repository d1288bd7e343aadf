"""Intake: what arrives from outside (webhooks, CSV files) turned into the store's facts.

One adapter module per source (``shopify``, ``woocommerce``, ``carriers``, ``shipstation``,
``bigcommerce``, ``magento``, ``csv_*``) maps a payload to normalized facts (the last three fetch
it first, through ``platform_api``); ``orders`` and ``tracking`` apply those facts to the database the
same way whatever the source. The HTTP views only verify, store and enqueue
(``backorders.views``); ``backorders.tasks.process_delivery`` does the work in the worker, and
``waiting`` keeps a delivery that came before a fact it needs until that fact arrives.

This package is imported while models load (``backorders.intake.models``), so this file stays empty.
"""
