"""Operator tools run from a checkout (never deployed: `.funcignore` leaves them out)."""
