"""The masks, one named case per kind of value: what people see (`mask`, kinds named) and what
grouping compares (`template_key`, kinds erased, runs of values folded). Known-wrong cases are
kept as desired-against-actual, so fixing one shows up as an unexpected pass."""

from __future__ import annotations

import pytest

from detection.masks import MASKER

pytestmark = pytest.mark.unit

# what: (message, as people see it, as grouping compares it)
CASES = {
    "url with query": (
        "GET https://api.contoso.com/v1/items?id=9 failed",
        "GET <url> failed",
        "GET <*> failed",
    ),
    "e-mail with plus and sub-domains": (
        "mail to ann.lee+shop@example.co.uk bounced",
        "mail to <email> bounced",
        "mail to <*> bounced",
    ),
    "uuid": (
        "order 3f2a9c1e-0000-4d8e-9f1e-2a7c1d9e8b10 not found",
        "order <uuid> not found",
        "order <*> not found",
    ),
    "ISO 8601 timestamp": (
        "at 2026-11-20T00:01:02.123Z the job stopped",
        "at <datetime> the job stopped",
        "at <*> the job stopped",
    ),
    "date and time as two tokens fold into one value": (
        "at 2026-11-20 10:00:00 the job stopped",
        "at <datetime> <time> the job stopped",
        "at <*> the job stopped",
    ),
    "duration as a clock": (
        "took 12:03:04.5 to finish",
        "took <time> to finish",
        "took <*> to finish",
    ),
    "mac address": ("nic 00:1A:2B:3C:4D:5E is down", "nic <mac> is down", "nic <*> is down"),
    "mac address as Windows writes it": (
        "nic 00-1A-2B-3C-4D-5E is down",
        "nic <mac> is down",
        "nic <*> is down",
    ),
    "IPv4 with port": ("peer 10.0.0.4:5432 refused", "peer <ip> refused", "peer <*> refused"),
    "IPv6 link-local": (
        "peer fe80::1ff:fe23:4567:890a refused",
        "peer <ip> refused",
        "peer <*> refused",
    ),
    "compressed IPv6": ("peer 2001:db8::1 refused", "peer <ip> refused", "peer <*> refused"),
    "IPv6 any address": ("bind :: failed", "bind <ip> failed", "bind <*> failed"),
    "Windows path": (
        r"cannot open C:\Users\svc\app\config.json",
        "cannot open <path>",
        "cannot open <*>",
    ),
    "POSIX path": ("cannot open /var/lib/app/data.db", "cannot open <path>", "cannot open <*>"),
    "relative path": ("cannot open ./conf/app.yaml", "cannot open <path>", "cannot open <*>"),
    "relative path without a leading dot": (
        "cannot open src/app/main.py",
        "cannot open <path>",
        "cannot open <*>",
    ),
    "internal host name": (
        "resolve db-7.internal failed",
        "resolve <host> failed",
        "resolve <*> failed",
    ),
    "empty collection": ("list [] is empty", "list <empty> is empty", "list <*> is empty"),
    "hex pointer": (
        "pointer 0x7ffd5e8c at fault",
        "pointer <hex> at fault",
        "pointer <*> at fault",
    ),
    "commit hash": (
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 missing",
        "commit <hex> missing",
        "commit <*> missing",
    ),
    "key=value keeps its key": (
        "retry with attempt=3 failed",
        "retry with attempt=<value> failed",
        "retry with attempt=<*> failed",
    ),
    "quoted word": ("key 'sku' missing", "key <quoted> missing", "key <*> missing"),
    "quoted phrase is one value": (
        "failed for 'Amsterdam Centraal' station",
        "failed for 'Amsterdam Centraal' station",
        "failed for <*> station",
    ),
    "duration with unit": ("timeout after 30s", "timeout after <quantity>", "timeout after <*>"),
    "size with unit": (
        "memory 512MB exceeded",
        "memory <quantity> exceeded",
        "memory <*> exceeded",
    ),
    "unit after a number belongs to it": (
        "payload of 12 KB rejected",
        "payload of <int> KB rejected",
        "payload of <*> rejected",
    ),
    "float": ("ratio 0.25 too high", "ratio <float> too high", "ratio <*> too high"),
    "integer": ("order 1042 failed", "order <int> failed", "order <*> failed"),
    "id with digits": ("order BE-807041 failed", "order <id> failed", "order <*> failed"),
    "weekday, month and day fold into one value": (
        "on Wed Jun 29 the job ran",
        "on <weekday> <month> <int> the job ran",
        "on <*> the job ran",
    ),
    "user name after `user`": (
        "Invalid user alice from 1.2.3.4",
        "Invalid user <user> from <ip>",
        "Invalid user <*> from <*>",
    ),
    "a list of ids of any length is one value": (
        "blocks blk_1 blk_2 blk_3 lost",
        "blocks <id> <id> <id> lost",
        "blocks <*> lost",
    ),
    "a currency code stays (the merge step decides)": (
        "price 12.50 EUR",
        "price <float> EUR",
        "price <*> EUR",
    ),
    "a token too long to mask is one value": (
        "blob " + "QUJD+/x1" * 80 + " rejected",
        "blob <long> rejected",
        "blob <*> rejected",
    ),
}

# why: (message, desired as people see it, actual)
KNOWN_WRONG = {
    "host names are values, so two services' calls share a template": (
        "HTTP call to api.sendgrid.com failed",
        "HTTP call to api.sendgrid.com failed",
        "HTTP call to <host> failed",
    ),
    "a clock reading without seconds reads as two numbers": (
        "waited 00:01",
        "waited <time>",
        "waited <int>:<int>",
    ),
}


@pytest.mark.parametrize(("message", "shown", "compared"), CASES.values(), ids=CASES.keys())
def test_each_kind_of_value_is_masked(message: str, shown: str, compared: str) -> None:
    assert MASKER.mask(message) == shown
    assert MASKER.template_key(message) == compared


@pytest.mark.parametrize(
    ("message", "desired", "actual"),
    [
        pytest.param(*case, marks=pytest.mark.xfail(reason=why, strict=True), id=why)
        for why, case in KNOWN_WRONG.items()
    ],
)
def test_known_wrong_masks(message: str, desired: str, actual: str) -> None:
    assert MASKER.mask(message) == desired


@pytest.mark.parametrize(
    ("message", "actual"),
    [(case[0], case[2]) for case in KNOWN_WRONG.values()],
    ids=KNOWN_WRONG.keys(),
)
def test_known_wrong_masks_do_what_they_are_known_to_do(message: str, actual: str) -> None:
    assert MASKER.mask(message) == actual
