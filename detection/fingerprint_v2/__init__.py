"""Fingerprint version 2, frozen (see `detection.fingerprint_v2.fingerprint`)."""
