"""Tableau list semantics: ``filter=field:op:value,...``, ``sort=field:asc|desc``, pagination."""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, TypeVar

from tableau_sandbox.errors import bad_request

T = TypeVar("T")
_FILTER = re.compile(r"([A-Za-z]+):([A-Za-z]+):(\[[^\]]*\]|[^,]*)")
OPS = {"eq", "in", "gt", "gte", "lt", "lte", "has", "cieq"}


def parse_filters(expr: str | None) -> list[tuple[str, str, Any]]:
    if not expr:
        return []
    out = []
    pos = 0
    while pos < len(expr):
        m = _FILTER.match(expr, pos)
        if not m:
            raise bad_request(f"Invalid filter expression '{expr}'.", "400065")
        field, op, value = m.group(1), m.group(2), m.group(3)
        if op not in OPS:
            raise bad_request(f"Unsupported filter operator '{op}'.", "400065")
        if op == "in":
            value = [v for v in value.strip("[]").split(",")]
        out.append((field, op, value))
        pos = m.end()
        if pos < len(expr) and expr[pos] == ",":
            pos += 1
    return out


def _as_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def apply_filters(items: Iterable[T], filters: list[tuple[str, str, Any]],
                  fields: dict[str, Callable[[T], Any]]) -> list[T]:
    result = list(items)
    for field, op, value in filters:
        getter = fields.get(field)
        if getter is None:
            raise bad_request(f"Filtering on field '{field}' is not supported.", "400065")

        def keep(item: T, getter=getter, op=op, value=value) -> bool:
            actual = getter(item)
            if op == "has":
                if isinstance(actual, (list, tuple, set)):
                    return any(str(value).lower() in str(a).lower() for a in actual)
                return str(value).lower() in _as_text(actual).lower()
            if isinstance(actual, (list, tuple, set)):
                return any(_as_text(a) == value for a in actual) if op == "eq" else False
            text = _as_text(actual)
            if op == "eq":
                return text == value
            if op == "cieq":
                return text.lower() == str(value).lower()
            if op == "in":
                return text in value
            return {"gt": text > value, "gte": text >= value, "lt": text < value, "lte": text <= value}[op]

        result = [i for i in result if keep(i)]
    return result


def apply_sort(items: list[T], expr: str | None, fields: dict[str, Callable[[T], Any]]) -> list[T]:
    if not expr:
        return items
    for clause in reversed(expr.split(",")):
        field, _, direction = clause.partition(":")
        getter = fields.get(field)
        if getter is None:
            raise bad_request(f"Sorting on field '{field}' is not supported.", "400065")
        items = sorted(items, key=lambda i: _as_text(getter(i)), reverse=direction == "desc")
    return items


def paginate(items: list[T], params) -> tuple[list[T], int, int, int]:
    try:
        size = int(params.get("pageSize", 100))
        number = int(params.get("pageNumber", 1))
    except ValueError:
        raise bad_request("pageSize and pageNumber must be integers.", "400006") from None
    if size < 1 or size > 1000:
        raise bad_request("pageSize must be between 1 and 1000.", "400006")
    if number < 1:
        raise bad_request("pageNumber must be 1 or more.", "400006")
    start = (number - 1) * size
    return items[start:start + size], number, size, len(items)
