"""Privacy: a customer's own data, out and gone.

What flows through here: a request from the customer (by way of a person running
``export_customer`` or ``erase_customer``) -> every row and copy that holds the customer's values
(orders, messages, replies, webhook bodies, task results, notes typed by staff) -> one JSON export,
or the values replaced by ``[erased]``. ``customer_data`` holds the two verbs; ``erasure`` finds the
customer's values wherever they were copied and scrubs them. The audit trail and hashed packets are
kept under legal hold (the README says exactly what and why).
"""
