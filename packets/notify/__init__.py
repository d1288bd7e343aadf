"""Messages to customers and staff, from due to delivered.

* ``cadence``: which customer updates are due for waiting lines, drafted level-triggered after each sweep;
* ``drafting``, ``guidelines``, ``links``: the words, the store's wording rules, the signed order-page links;
* ``messaging``: approval, the one place a draft becomes sendable, and the enqueue after commit;
* ``senders`` and ``tasks``: email, SMS and Slack providers, sent by django-q2 with retries;
* ``reconcile``: rows a dead worker left in "sending";
* ``email_tracking``: what email providers report afterwards (delivered, bounced, spam).
"""
