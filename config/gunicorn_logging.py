"""gunicorn's access log without secrets: a secret query parameter (Shippo's ``?token=``) is
written as ``token=[redacted]`` in the request line and the query string."""

from __future__ import annotations

from gunicorn.glogging import Logger

from config.logging import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "q"):
            if atoms.get(key):
                atoms[key] = redact(atoms[key]) if key == "r" else redact("?" + atoms[key])[1:]
        return atoms
