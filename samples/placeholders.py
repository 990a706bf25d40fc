"""What fills a template's `{Name}` placeholders: a value generator per name (SLOTS).

Templates in the data files use `{Name}` placeholders filled once per occurrence, so the rows one
occurrence writes to several tables share ids, e-mails and order numbers; `{{`/`}}` are braces.
Each generator draws from the occurrence's Random in a fixed order, so a render is repeatable.
"""
# Placeholder values are kept whole on one line, as they appear in logs.
# ruff: noqa: E501

import random
import uuid
from collections.abc import Callable


def hex_id(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def _email(rng: random.Random) -> str:
    name = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{rng.choice(('', '', str(rng.randint(1, 99))))}"
    return f"{name}@{rng.choice(('example.com', 'example.net', 'example.org'))}"


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if not number:
            return digits


def _json_position(rng: random.Random) -> str:
    column = rng.randint(1, 240)
    return f"line 1 column {column} (char {column - 1})"


# fmt: off

FIRST_NAMES = ("anna", "bram", "chloe", "daan", "emma", "finn", "lotte", "lucas", "mila", "noah", "sophie", "thijs",
               "yara", "lena", "jonas", "marie", "elias")
LAST_NAMES = ("devries", "jansen", "bakker", "visser", "smit", "meyer", "schmidt", "peeters", "dubois", "maes", "muller",
              "weber", "janssens", "fischer")

# Placeholders: `{Name}` in a template draws SLOTS[Name] once per occurrence.
SLOTS: dict[str, Callable[[random.Random], str]] = {
    "Attempt": lambda r: str(r.randint(1, 4)),
    "BatchId": lambda r: f"rb-{r.randint(20261119000, 20261120999)}",
    "Bytes": lambda r: str(r.randint(180, 48000)),
    "Carrier": lambda r: r.choice(("PostNL", "DHL", "DPD", "UPS", "bpost")),
    "CartId": lambda r: f"cart_{hex_id(r, 12)}",
    "CommaAmount": lambda r: f"{r.randint(5, 480)},{r.randint(0, 99):02d}",
    "ClientIp": lambda r: f"{r.choice((31, 77, 81, 84, 145, 178, 213))}.{r.randint(1, 254)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
    "ConnNo": lambda r: str(r.randint(1000, 999999)),
    "CorrelationId": guid,
    "Count": lambda r: str(r.randint(12, 180)),
    "Country": lambda r: r.choice(("NL", "BE", "DE", "FR", "AT")),
    "CouponCode": lambda r: r.choice(("WINTER26", "BLACKFRIDAY", "WELCOME10", "FREESHIP", "VIP15")),
    "CustomerEmail": _email,
    "CustomerId": guid,
    "DeclineReason": lambda r: r.choice(("card_expired", "stolen_card", "do_not_honor", "fraud_suspected")),
    "ElapsedMs": lambda r: str(r.randint(3, 900)),
    "EventId": lambda r: f"evt_{_alnum(r, 24)}",
    "Failures": lambda r: str(r.randint(5, 12)),
    "InvocationId": guid,
    "ItemCount": lambda r: str(r.randint(1, 7)),
    "JavaThread": lambda r: r.choice(("boundedElastic-3", "boundedElastic-7", "receiver-payment-requests-1",
                                      "receiver-payment-requests-2", "scheduling-1")),
    "JsonPos": _json_position,
    "Length": lambda r: str(r.randint(1, 6)),
    "Locale": lambda r: r.choice(("de-DE", "fr-BE", "de-AT", "fr-FR")),
    "MessageId": lambda r: hex_id(r, 32),
    "Minutes": lambda r: str(r.randint(16, 55)),
    "OrderId": lambda r: f"{r.choice(('NL', 'NL', 'DE', 'BE', 'FR', 'AT'))}-{r.randint(100000, 999999)}",
    "PaymentId": lambda r: f"pay_{_alnum(r, 16)}",
    "Pid": lambda r: str(r.randint(18, 96)),
    "PodIp": lambda r: f"10.244.{r.randint(0, 3)}.{r.randint(2, 250)}",
    "Port": lambda r: str(r.randint(32768, 60999)),
    "PostalCode": lambda r: r.choice(("1000 AB", "75O01", "10115-", "B-1000", "00000")),
    "Quantity": lambda r: str(r.randint(1, 5)),
    "Region": lambda r: r.choice(("westeurope", "westeurope", "westeurope", "northeurope")),
    "ReqId": lambda r: f"req-{_base36(r.randint(1, 60000))}",
    "ReservationId": guid,
    "RetryAfterMs": lambda r: str(r.randint(200, 4800)),
    "Sequence": lambda r: str(r.randint(100000, 9999999)),
    "SessionId": lambda r: f"cs_{_alnum(r, 20)}",
    "ShipmentId": lambda r: f"SHP-{r.randint(1000000, 9999999)}",
    "Sku": lambda r: f"SKU-{r.randint(10000, 99999)}",
    "SnapshotId": lambda r: f"pf-{r.randint(1000, 9999)}",
    "Total": lambda r: f"{r.uniform(9, 480):.2f}",
    "TrackingNo": lambda r: f"3SCTO{r.randint(100000000, 999999999)}",
    "Transition": lambda r: r.choice(("Pending -> Paid", "Paid -> Picking", "Picking -> Shipped",
                                      "Shipped -> Delivered", "Pending -> Cancelled")),
    "UserAgent": lambda r: r.choice((
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    )),
    "Waiting": lambda r: str(r.randint(8, 64)),
    "WaitMs": lambda r: str(r.randint(30000, 30012)),
    "Warehouse": lambda r: r.choice(("AMS1", "FRA2", "BRU1")),
}

# fmt: on
