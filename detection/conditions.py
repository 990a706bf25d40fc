"""Evaluate rule conditions on a record's fields, with the same semantics as the compiled KQL.

The KQL compiler (kql.py) wraps every field in a conversion (`tostring`, `todouble`, `tobool`);
the functions here are those conversions, so a row that Log Analytics returned as a candidate is
judged by exactly the same rule when it arrives. Regular expressions run on RE2 here too, as in
KQL (`detection.rules.compile_regex`): the same syntax and meaning (`\\d` is ASCII, `$` is the end
of the text), and time linear in the text whatever the pattern.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from detection.rules import Condition, FieldPath, Regex, RegexMatch, compile_regex


def resolve(fields: Mapping[str, Any], path: FieldPath) -> Any:
    """The value at a field path; None when the column or any key is missing (KQL's null)."""
    value = fields.get(path.column)
    for key in path.keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def to_string(value: Any) -> str:
    """KQL `tostring`: null is empty, booleans are lower-case, dynamic values are compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def to_double(value: Any) -> float | None:
    """KQL `todouble`: numbers and numeric strings convert, anything else is null."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


def to_bool(value: Any) -> bool | None:
    """KQL `tobool`: booleans, 'true'/'false' in any case, and numbers (non-zero is true)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "false"}:
            return lowered == "true"
    return None


@lru_cache(maxsize=256)
def compiled_regex(pattern: str) -> Regex:
    """The RE2 pattern, compiled once (the rules file validated it at load time)."""
    return compile_regex(pattern)


def regex_search(pattern: str, text: str) -> RegexMatch | None:
    """`re.search` on RE2: the first match of a rule's pattern (a condition's `regex`, an
    extractor's) in the text, with `.group(...)` as in `re`."""
    regex = compiled_regex(pattern)
    try:
        return regex.search(text)
    except UnicodeEncodeError:  # a lone surrogate (from a JSON escape) cannot be UTF-8 for RE2
        return regex.search(text.encode("utf-8", "replace").decode("utf-8"))


def _equal(value: Any, expected: bool | int | float | str, case_sensitive: bool) -> bool:
    if isinstance(expected, bool):
        return to_bool(value) is expected
    if isinstance(expected, (int, float)):
        return to_double(value) == float(expected)
    text = to_string(value)
    return text == expected if case_sensitive else text.lower() == expected.lower()


def _ordered(value: Any, operator: str, bound: float) -> bool:
    number = to_double(value)
    if number is None:
        return False
    return {
        "gt": number > bound,
        "gte": number >= bound,
        "lt": number < bound,
        "lte": number <= bound,
    }[operator]


def matches(condition: Condition, fields: Mapping[str, Any]) -> bool:
    """True when the record's fields satisfy the condition."""
    if condition.all_ is not None:
        return all(matches(c, fields) for c in condition.all_)
    if condition.any_ is not None:
        return any(matches(c, fields) for c in condition.any_)
    if condition.not_ is not None:
        return not matches(condition.not_, fields)
    if condition.field is None:
        raise ValueError("a condition names a field or combines others")
    value = resolve(fields, condition.field)
    operator, operand, exact = condition.operator, condition.operand, condition.case_sensitive
    if operator == "equals":
        return _equal(value, operand, exact)
    if operator == "not_equals":
        return not _equal(value, operand, exact)
    if operator == "in":
        return any(_equal(value, option, exact) for option in operand)
    if operator == "not_in":
        return not any(_equal(value, option, exact) for option in operand)
    if operator == "contains":
        text = to_string(value)
        return operand in text if exact else operand.lower() in text.lower()
    if operator == "regex":
        return regex_search(operand, to_string(value)) is not None
    if operator == "exists":
        return bool(to_string(value)) is operand
    return _ordered(value, operator, operand)
