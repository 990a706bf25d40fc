"""The hidden first line of every issue body Faultline writes: it names the failure's group, so
a retried or state-less run finds the issue it already made, and once a key is configured it
carries a signature that only Faultline can make, so a copied marker is not trusted."""

from __future__ import annotations

import hashlib
import hmac
import re

MARKER_PREFIX = "faultline:fingerprint="


_MARKER_LINE = re.compile(
    r"<!-- " + re.escape(MARKER_PREFIX) + r"([0-9a-f]{8,64})(?: signature=([0-9a-f]{64}))? -->"
)


def marker(fingerprint: str, signature: str | None = None) -> str:
    """The hidden first line of every body Faultline writes: the group, and its signature."""
    signed = f" signature={signature}" if signature else ""
    return f"<!-- {MARKER_PREFIX}{fingerprint}{signed} -->"


def marker_signature(key: bytes, repository: str, fingerprint: str) -> str:
    """HMAC-SHA256 of the repository and the group: a fingerprint is an unkeyed hash anyone can
    compute from public log text, so only the signature, made with a key in Key Vault, shows
    that Faultline wrote the marker (and for this repository, so a body copied elsewhere does
    not carry over)."""
    message = f"{repository.casefold()}\n{fingerprint}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _marker_line(body: str | None) -> re.Match[str] | None:
    """Only the body's first line is the marker: the same text inside a quoted log sample, a
    code block or a person's edit further down is not."""
    first = (body or "").partition("\n")[0].rstrip("\r")
    return _MARKER_LINE.fullmatch(first)


def find_marker(body: str | None) -> str | None:
    """The group a body's marker names, signed or not."""
    match = _marker_line(body)
    return match.group(1) if match else None


def carries_marker(body: str | None, repository: str, fingerprint: str, key: bytes | None) -> bool:
    """Whether the body is Faultline's for this group here: its marker names the group and,
    once a key is configured, carries the signature only that key makes."""
    match = _marker_line(body)
    if match is None or match.group(1) != fingerprint:
        return False
    if key is None:
        return True
    signature = match.group(2)
    expected = marker_signature(key, repository, fingerprint)
    return signature is not None and hmac.compare_digest(signature, expected)
