"""Customer notifications: drafting, guidelines, delivery through django-q2, and reconciliation."""
