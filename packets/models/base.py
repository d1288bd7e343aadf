"""Status machines shared by the packets models."""

from __future__ import annotations


class IllegalTransition(Exception):
    """A status change that the status machine does not allow."""


class StatusMachine:
    """A ``TRANSITIONS`` table and the one move it allows; each model writes its own audit row."""

    TRANSITIONS: dict[str, set[str]] = {}
    NOUN = "A record"

    def _move(self, new: str, fields: dict, *, save: bool = True) -> str:
        """Check the move, set ``status`` and ``fields``, save them; returns the old status."""
        old = self.status
        if new not in self.TRANSITIONS[old]:
            raise IllegalTransition(f"{self.NOUN} cannot go from {old} to {new}.")
        self.status = new
        for name, value in fields.items():
            setattr(self, name, value)
        if save:
            self.save(update_fields=["status", *fields])
        return old
