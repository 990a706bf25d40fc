"""Rules-file errors a person can act on, rewritten from pydantic's.

pydantic says where validation failed as a tuple of keys and indices, in its own words ("Extra
inputs are not permitted" at `('failures', 1, 'threshold', 'cuont')`). People know their
definitions by name, mistype keys, and set values through `${NAME}`, so each error is rewritten:

- the path names each list item that has a `name` by it: `failures[1] (failed-request).threshold`;
- an unknown key, or a value outside a fixed set, gets the closest valid one (`difflib`);
- a value that came from the environment is blamed on the variable, not on the file;
- pydantic's echoes of one mistake are folded into it: a union reports every branch it tried
  (`bool`, `int`, `float`, `str`), and a list whose only item failed is also "too short".

Pure: the caller passes the document and what substitution put where.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

Location = tuple[int | str, ...]
"""Keys and indices into the document, as pydantic reports them and as the file is written."""

_VALIDATOR_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$")  # `function-after[...]`, `tagged-union[...]`
_BRANCH_TAGS = frozenset({"str", "int", "float", "bool"})  # the branches of a scalar union
_TYPE_MESSAGE = "Input should be a valid "


@dataclass(frozen=True)
class Substitution:
    """A `${NAME}` in the file that the environment variable NAME replaced with `value`."""

    variable: str
    value: str


def closest(word: str, choices: Iterable[str], count: int = 1) -> list[str]:
    """The choices nearest to a mistyped word: one differing only in case first, then
    difflib's closest (its default cutoff, 0.6, keeps unrelated words out)."""
    options = list(dict.fromkeys(choices))
    same = [option for option in options if option.casefold() == word.casefold()]
    import difflib  # only a mistake needs it, and the start-up check runs on every cold start

    return same or difflib.get_close_matches(word, options, n=count)


def did_you_mean(options: Sequence[str]) -> str:
    """`did you mean 'count'?`, or `did you mean 'a' or 'b'?`; empty without options."""
    if not options:
        return ""
    quoted = [repr(option) for option in options]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"did you mean {listed}?"


def document_location(location: Location) -> Location:
    """pydantic's location without its own markers (a validator's `function-after[...]`, a
    union branch's `str`): only the keys and indices written in the file."""
    return tuple(
        part
        for part in location
        if isinstance(part, int) or not (_VALIDATOR_TAG.match(part) or part in _BRANCH_TAGS)
    )


def readable_path(location: Location, document: Any) -> str:
    """`failures[1] (failed-request).threshold.count`: the path as written, with every list item
    that is a mapping with a `name` also named, since an index alone makes a reader count."""
    path = ""
    node = document
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            name = node.get("name") if isinstance(node, dict) else None
            if isinstance(name, str) and name:
                path += f" ({name})"
        else:
            path += f".{part}" if path else part
            node = node.get(part) if isinstance(node, dict) else None
    return path or "(top level)"


def explain(
    error: ValidationError,
    document: Any,
    root: type[BaseModel],
    substitutions: Mapping[Location, Sequence[Substitution]],
    operators: frozenset[str],
) -> list[str]:
    """One line per mistake, in the order pydantic met them: `path: what is wrong`.

    `root` is the model the document was validated against (to find the valid keys where one is
    unknown); `operators` are the keys a suggestion calls operators rather than keys (a
    condition's `equals`, `regex` ...). An error the root model's own validator raised has no
    path of its own: its message is taken to be lines that each start with their path.
    """
    located = [(document_location(e["loc"]), e) for e in error.errors()]
    above_others = {location[:depth] for location, _ in located for depth in range(len(location))}
    grouped: dict[Location, list[ErrorDetails]] = {}
    for location, detail in located:
        if detail["type"] == "too_short" and location in above_others:
            continue  # the list is empty only because its items failed; they are reported
        grouped.setdefault(location, []).append(detail)
    lines: list[str] = []
    for location, details in grouped.items():
        if not location:
            lines += [line for d in details for line in _text(d).splitlines()]
            continue
        path = readable_path(location, document)
        used = substitutions.get(location)
        if used:
            variables = " and ".join(f"{s.variable}={s.value}" for s in used)
            path = f"{variables} (from the environment, used at {path})"
        lines.append(f"{path}: {_message(location, details, root, operators)}")
    return list(dict.fromkeys(lines))


def _text(detail: ErrorDetails) -> str:
    """pydantic's message without the prefix it adds to a validator's own ValueError."""
    return detail["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _message(
    location: Location,
    details: list[ErrorDetails],
    root: type[BaseModel],
    operators: frozenset[str],
) -> str:
    first = details[0]
    if first["type"] == "extra_forbidden":
        return _unknown_key(str(location[-1]), model_at(root, location[:-1]), operators)
    if first["type"] == "literal_error" and isinstance(first["input"], str):
        allowed = re.findall(r"'([^']*)'", str((first.get("ctx") or {}).get("expected", "")))
        hint = did_you_mean(closest(first["input"], allowed))
        return f"{_text(first)}; {hint}" if hint else _text(first)
    if len(details) > 1 and all(d["msg"].startswith(_TYPE_MESSAGE) for d in details):
        kinds = [d["msg"].removeprefix(_TYPE_MESSAGE) for d in details]
        return f"{_TYPE_MESSAGE}{', '.join(kinds[:-1])} or {kinds[-1]}"
    return "; ".join(dict.fromkeys(_text(d) for d in details))


def _unknown_key(key: str, model: type[BaseModel] | None, operators: frozenset[str]) -> str:
    if model is None:
        return "unknown key"
    keys = [info.alias or name for name, info in model.model_fields.items()]
    suggestion = closest(key, keys)
    if suggestion:
        noun = "operator" if suggestion[0] in operators else "key"
        return f"unknown {noun}; {did_you_mean(suggestion)}"
    return "unknown key; the keys here are " + ", ".join(keys)


def model_at(root: type[BaseModel], location: Location) -> type[BaseModel] | None:
    """The model that validates the mapping at `location`, following the root's field types."""
    current: Any = root
    for part in location:
        current = _unwrap(current)
        if isinstance(part, int):
            if get_origin(current) not in (tuple, list):
                return None
            current = get_args(current)[0]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = current.model_fields
        info = next((f for n, f in fields.items() if part in (n, f.alias)), None)
        if info is None:
            return None
        current = info.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """The type under `Annotated[...]` and `X | None`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
