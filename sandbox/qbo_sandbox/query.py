"""QBO's query language: parser and executor.

``SELECT * | COUNT(*) | f1, f2 FROM Entity [WHERE p op v [AND …]] [ORDERBY p [ASC|DESC][, …]]
[STARTPOSITION n] [MAXRESULTS n]`` (STARTPOSITION/MAXRESULTS in either order; ``ORDER BY`` is
accepted too). Operators ``= < > <= >= != IN LIKE`` (``%`` wildcards only). Properties may be
dotted (``MetaData.LastUpdatedTime``; ``Metadata`` is accepted); a property holding a reference
(``CustomerRef``) compares its ``value``. Keywords and property names are case-insensitive.
``OR``, ``NOT``, parentheses other than ``IN (...)``/``COUNT(*)``, and ``JOIN`` are not part of QBO's
language and are rejected with a ``QueryParserError``.

Rows come at most 1000 a page (default 100). Name-list entities return only active records
unless the query filters on ``Active``. Without ORDERBY, rows come in ``MetaData.LastUpdatedTime``
order for transactions (for the generated data that is also Id order) and Id order for lists.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .store import ACTIVE_FILTERED, ALL_ENTITIES, Realm
from .generator import SLOT_POS
from .wire import parse_timestamp

MAX_PAGE = 1000
DEFAULT_PAGE = 100
ENTITY_BY_LOWER = {e.lower(): e for e in ALL_ENTITIES}


class QueryError(ValueError):
    """An invalid query; ``detail`` is the Fault Detail text (``QueryParserError: …``)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass
class Query:
    entity: str
    count: bool = False
    fields: list[str] | None = None
    where: list[tuple[list[str], str, object]] = field(default_factory=list)
    order: list[tuple[list[str], bool]] = field(default_factory=list)  # (path, descending)
    start: int = 1
    max_results: int = DEFAULT_PAGE


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.|'')*')
      | (?P<num>-?\d+(?:\.\d+)?)(?![\w.])
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<ident>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"select", "from", "where", "and", "or", "not", "orderby", "order", "by", "asc", "desc",
             "startposition", "maxresults", "in", "like", "count", "join", "group", "having"}


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    text = text.rstrip().rstrip(";")
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            col = pos + 1 + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise QueryError(f'QueryParserError: Encountered "{text[pos:].strip()[:20]}" at line 1, column {col}. '
                             "Invalid character in query.")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ("eof", "<EOF>", len(self.text) + 1)

    def next(self):
        t = self.peek()
        self.i += 1
        return t

    def kw(self, word: str) -> bool:
        t = self.peek()
        return t[0] == "ident" and t[1].lower() == word

    def fail(self, expecting: str):
        kind, val, col = self.peek()
        shown = val if kind != "eof" else "<EOF>"
        raise QueryError(f'QueryParserError: Encountered "{shown}" at line 1, column {col}.\n'
                         f"Was expecting one of:\n    {expecting}")

    def expect_kw(self, word: str):
        if not self.kw(word):
            self.fail(f'"{word}" ...')
        self.next()

    def int_value(self, what: str) -> int:
        kind, val, col = self.peek()
        if kind != "num" or "." in val or val.startswith("-"):
            self.fail(f"<INTEGER> after {what}")
        self.next()
        return int(val)

    def parse(self) -> Query:
        self.expect_kw("select")
        count, fields = False, None
        if self.peek()[1] == "*":
            self.next()
        elif self.kw("count"):
            self.next()
            for ch in "(*)":
                if self.peek()[1] != ch:
                    self.fail(f'"{ch}"')
                self.next()
            count = True
        else:
            fields = []
            while True:
                kind, val, col = self.peek()
                if kind != "ident" or val.lower() in _KEYWORDS:
                    self.fail('"*" ... "count" ... <IDENTIFIER> ...')
                self.next()
                fields.append(val)
                if self.peek()[1] == ",":
                    self.next()
                    continue
                break
        self.expect_kw("from")
        kind, val, col = self.next()
        if kind != "ident" or val.lower() in _KEYWORDS:
            self.i -= 1
            self.fail("<IDENTIFIER> (an entity name)")
        entity = ENTITY_BY_LOWER.get(val.lower())
        if entity is None or entity in ("CompanyInfo", "Preferences") and False:
            raise QueryError(f"QueryValidationError: Invalid context declaration : {val}")
        q = Query(entity=entity, count=count, fields=fields)
        if self.kw("where"):
            self.next()
            while True:
                q.where.append(self.condition())
                if self.kw("and"):
                    self.next()
                    continue
                if self.kw("or"):
                    kind, val, col = self.peek()
                    raise QueryError(f'QueryParserError: Encountered " "OR" "{val} "" at line 1, column {col}. '
                                     "OR is not supported: QBO queries combine conditions with AND only.")
                break
        seen_start = seen_max = False
        while self.peek()[0] != "eof":
            if self.kw("orderby") or self.kw("order"):
                if self.kw("order"):
                    self.next()
                    self.expect_kw("by")
                else:
                    self.next()
                while True:
                    kind, val, col = self.next()
                    if kind != "ident" or val.lower() in _KEYWORDS:
                        self.i -= 1
                        self.fail("<IDENTIFIER> (a property to order by)")
                    desc = False
                    if self.kw("asc") or self.kw("desc"):
                        desc = self.next()[1].lower() == "desc"
                    q.order.append((self.path(val), desc))
                    if self.peek()[1] == ",":
                        self.next()
                        continue
                    break
            elif self.kw("startposition") and not seen_start:
                self.next()
                q.start = max(1, self.int_value("STARTPOSITION"))
                seen_start = True
            elif self.kw("maxresults") and not seen_max:
                self.next()
                q.max_results = min(MAX_PAGE, self.int_value("MAXRESULTS"))
                seen_max = True
            else:
                self.fail('"orderby" ... "startposition" ... "maxresults" ... <EOF>')
        return q

    def path(self, name: str) -> list[str]:
        parts = name.split(".")
        if any(p == "" for p in parts):
            raise QueryError(f"QueryParserError: Invalid property name {name}")
        return parts

    def value(self):
        kind, val, col = self.next()
        if kind == "str":
            body = val[1:-1]
            return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", body)
        if kind == "num":
            return Decimal(val)
        if kind == "ident" and val.lower() in ("true", "false"):
            return val.lower() == "true"
        self.i -= 1
        self.fail("<STRING> ... <NUMBER> ... true ... false")

    def condition(self):
        kind, val, col = self.next()
        if kind != "ident" or val.lower() in _KEYWORDS:
            self.i -= 1
            if kind == "punct" and val == "(":
                raise QueryError(f'QueryParserError: Encountered "(" at line 1, column {col}. '
                                 "Parentheses are not supported in WHERE clauses.")
            self.fail("<IDENTIFIER> (a property)")
        path = self.path(val)
        kind2, op, col2 = self.peek()
        if kind2 == "op":
            self.next()
            if op == "<>":
                op = "!="
            return (path, op, self.value())
        if self.kw("in"):
            self.next()
            if self.peek()[1] != "(":
                self.fail('"("')
            self.next()
            values = [self.value()]
            while self.peek()[1] == ",":
                self.next()
                values.append(self.value())
            if self.peek()[1] != ")":
                self.fail('")"')
            self.next()
            return (path, "in", values)
        if self.kw("like"):
            self.next()
            v = self.value()
            if not isinstance(v, str):
                raise QueryError("QueryParserError: LIKE needs a string value")
            return (path, "like", v)
        self.fail('"=" ... "<" ... ">" ... "<=" ... ">=" ... "IN" ... "LIKE"')


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise QueryError("QueryParserError: Encountered \"<EOF>\" at line 1, column 1. Empty query.")
    return _Parser(text).parse()


# -- evaluation ----------------------------------------------------------------------------------

_TIME_LEAF = re.compile(r"(time|date)$", re.I)


def _resolve(obj, path: list[str]):
    cur = obj
    for part in path:
        if not isinstance(cur, dict):
            return None
        if part in cur:
            cur = cur[part]
            continue
        low = part.lower()
        for k in cur:
            if k.lower() == low:
                cur = cur[k]
                break
        else:
            return None
    if isinstance(cur, dict) and "value" in cur:
        return cur["value"]
    return cur


def _coerce(leaf: str, obj_val, q_val):
    """Return comparable (a, b) or None when the types cannot be compared."""
    if obj_val is None:
        return None
    if isinstance(obj_val, bool) or isinstance(q_val, bool):
        if isinstance(q_val, str):
            q_val = q_val.lower() == "true"
        return (bool(obj_val), bool(q_val))
    if _TIME_LEAF.search(leaf) and isinstance(obj_val, str):
        try:
            return (parse_timestamp(obj_val), parse_timestamp(str(q_val)))
        except ValueError:
            raise QueryError(f"QueryValidationError: Invalid date/time value '{q_val}' for property {leaf}")
    if isinstance(obj_val, (int, float, Decimal)):
        try:
            return (Decimal(str(obj_val)), Decimal(str(q_val)))
        except InvalidOperation:
            raise QueryError(f"QueryValidationError: Invalid numeric value '{q_val}' for property {leaf}")
    s = str(obj_val)
    qs = str(q_val) if not isinstance(q_val, Decimal) else str(q_val)
    if s.isdigit() and qs.isdigit():
        return (int(s), int(qs))
    return (s.casefold(), qs.casefold())


def _like(pattern: str) -> re.Pattern:
    parts = pattern.split("%")
    return re.compile("^" + ".*".join(re.escape(p) for p in parts) + "$", re.I | re.S)


def make_predicate(q: Query):
    checks = []
    for path, op, val in q.where:
        leaf = path[-1]
        if op == "like":
            rx = _like(val)
            checks.append(lambda o, p=path, rx=rx: (lambda v: v is not None and bool(rx.match(str(v))))(_resolve(o, p)))
        elif op == "in":
            vals = val
            def f(o, p=path, vals=vals, leaf=leaf):
                v = _resolve(o, p)
                for x in vals:
                    pair = _coerce(leaf, v, x)
                    if pair is not None and pair[0] == pair[1]:
                        return True
                return False
            checks.append(f)
        else:
            def f(o, p=path, op=op, x=val, leaf=leaf):
                pair = _coerce(leaf, _resolve(o, p), x)
                if pair is None:
                    return op == "!=" and False
                a, b = pair
                try:
                    if op == "=":
                        return a == b
                    if op == "!=":
                        return a != b
                    if op == "<":
                        return a < b
                    if op == ">":
                        return a > b
                    if op == "<=":
                        return a <= b
                    if op == ">=":
                        return a >= b
                except TypeError:
                    return False
                return False
            checks.append(f)
    if q.entity in ACTIVE_FILTERED and not any(p[-1].lower() == "active" and len(p) == 1 for p, _, _ in q.where):
        checks.append(lambda o: o.get("Active", True) is not False)
    return lambda o: all(c(o) for c in checks)


def _sort_key(path: list[str]):
    leaf = path[-1]
    timeish = bool(_TIME_LEAF.search(leaf))

    def key(o):
        v = _resolve(o, path)
        if v is None:
            return (0, 0)
        if isinstance(v, bool):
            return (1, int(v))
        if isinstance(v, (int, float, Decimal)):
            return (1, Decimal(str(v)))
        s = str(v)
        if timeish:
            try:
                return (1, parse_timestamp(s))
            except ValueError:
                pass
        if s.isdigit():
            return (1, int(s))
        return (2, s.casefold())
    return key


def _is_lut(path: list[str]) -> bool:
    return len(path) == 2 and path[0].lower() == "metadata" and path[1].lower() == "lastupdatedtime"


def _is_id(path: list[str]) -> bool:
    return len(path) == 1 and path[0].lower() == "id"


def validate_properties(q: Query, sample_keys: set[str]) -> None:
    """Reject properties the entity does not have (QBO: 'property … is not queryable')."""
    known = {k.lower() for k in sample_keys} | {"id", "metadata", "synctoken", "active"}
    for path in [p for p, _, _ in q.where] + [p for p, _ in q.order] + [[f] for f in (q.fields or []) if f != "*"]:
        if path[0].lower() not in known:
            raise QueryError(f"QueryValidationError: property '{'.'.join(path)}' is not queryable for "
                             f"entity {q.entity}")


class Result:
    """A query's answer: ``count`` (COUNT(*)) or ``rows`` (Rec-like objects with .obj/.data) from
    ``start``. A page of base documents only (the sync pattern's pages) is held as ``base_indices``
    (a slice of the entity's index): its ``rows`` are made only if asked for."""
    __slots__ = ("entity", "count", "_rows", "start", "base_indices", "_realm")

    def __init__(self, entity: str, count: int | None = None, rows: list | None = None, start: int = 1,
                 base_indices=None, realm=None):
        self.entity, self.count, self._rows, self.start = entity, count, rows, start
        self.base_indices, self._realm = base_indices, realm

    @property
    def rows(self) -> list | None:
        if self._rows is None and self.base_indices is not None:
            from .store import base_recs
            self._rows = base_recs(self._realm, self.base_indices)
        return self._rows


def execute(realm: Realm, q: Query) -> Result:
    if q.entity in SLOT_POS:
        fast = _fast_path(realm, q)
        if fast is not None:
            return fast
    pred = make_predicate(q)
    ids = _id_lookup(q)
    if ids is not None:  # WHERE Id = … / Id IN (…): direct reads, no scan
        recs = (realm.get_rec(q.entity, i) for i in dict.fromkeys(ids))
        matches = [r for r in recs if r is not None and pred(r.obj)]
    else:
        matches = [r for r in realm.iter_recs(q.entity) if pred(r.obj)]
    if q.order:
        for path, desc in reversed(q.order):
            matches.sort(key=lambda r, k=_sort_key(path): k(r.obj), reverse=desc)
    elif q.entity in SLOT_POS:
        k = _sort_key(["MetaData", "LastUpdatedTime"])
        matches.sort(key=lambda r: k(r.obj))
    if q.count:
        return Result(q.entity, count=len(matches))
    return Result(q.entity, rows=matches[q.start - 1: q.start - 1 + q.max_results], start=q.start)


def _id_lookup(q: Query) -> list[str] | None:
    for path, op, val in q.where:
        if _is_id(path) and op == "=":
            return [str(val)]
        if _is_id(path) and op == "in":
            return [str(v) for v in val]
    return None


def _fast_path(realm: Realm, q: Query) -> Result | None:
    """Index arithmetic for the sync pattern: filters/order on MetaData.LastUpdatedTime only."""
    if any(not _is_lut(p) or op in ("in", "like", "!=") for p, op, _ in q.where):
        return None
    if q.order and (len(q.order) > 1 or not (_is_lut(q.order[0][0]) or _is_id(q.order[0][0])) or q.order[0][1]):
        return None
    g = realm.gen
    lo_t, hi_t = float("-inf"), float("inf")
    lo_incl = hi_incl = True
    try:
        for _p, op, v in q.where:
            t = parse_timestamp(str(v))
            if op in (">", ">="):
                if t > lo_t or (t == lo_t and op == ">"):
                    lo_t, lo_incl = t, op == ">="
            elif op in ("<", "<="):
                if t < hi_t or (t == hi_t and op == "<"):
                    hi_t, hi_incl = t, op == "<="
            elif op == "=":
                return None
    except ValueError:
        raise QueryError("QueryValidationError: Invalid date/time value in query")
    entity = q.entity
    arr = realm.base_live(entity)
    # time_of is increasing in i, so bisect on the index array by time.
    lo = 0 if lo_t == float("-inf") else bisect.bisect_left(
        arr, lo_t if lo_incl else lo_t + 0.5, key=g.time_of)
    hi = len(arr) if hi_t == float("inf") else bisect.bisect_right(
        arr, hi_t if hi_incl else hi_t - 0.5, key=g.time_of)
    hi = max(hi, lo)
    # Overlay: changed base docs are excluded from their base position and served after.
    excluded = []
    changed = []
    max_base_t = g.time_of(arr[hi - 1]) if hi > lo else float("-inf")
    for (e, id_), rec in list(realm.overlay.items()):
        if e != entity:
            continue
        i = realm.txn_index(id_)
        if i is not None:
            pos = bisect.bisect_left(arr, i)
            if pos < len(arr) and arr[pos] == i and lo <= pos < hi:
                excluded.append(pos)
        if (e, id_) not in realm.deleted:
            changed.append(rec)
    for (e, id_) in list(realm.deleted):
        if e != entity or (e, id_) in realm.overlay:
            continue
        i = realm.txn_index(id_)
        if i is not None:
            pos = bisect.bisect_left(arr, i)
            if pos < len(arr) and arr[pos] == i and lo <= pos < hi:
                excluded.append(pos)
    pred = make_predicate(q)
    changed = [r for r in changed if pred(r.obj)]
    key = _sort_key(["MetaData", "LastUpdatedTime"])
    order_by_id = bool(q.order) and _is_id(q.order[0][0])
    if order_by_id:
        return None if changed or excluded else _page_base(realm, q, arr, lo, hi, [], [])
    changed.sort(key=lambda r: key(r.obj))
    if changed and key(changed[0].obj)[1] < max_base_t:
        return None  # the clock was set back: fall back to sorting everything
    return _page_base(realm, q, arr, lo, hi, sorted(excluded), changed)


def _page_base(realm, q, arr, lo, hi, excluded, changed) -> Result:
    n_base = (hi - lo) - len(excluded)
    total = n_base + len(changed)
    if q.count:
        return Result(q.entity, count=total)
    from .store import BaseRec, base_recs
    rows = []
    want_start = q.start - 1
    want_end = min(total, want_start + q.max_results)
    e = want_start
    if e < n_base and not excluded:  # no changed base document in the range: a slice of the index
        stop = min(want_end, n_base)
        if stop == want_end:  # base documents only
            return Result(q.entity, start=q.start, base_indices=arr[lo + e:lo + stop], realm=realm)
        rows = base_recs(realm, arr[lo + e:lo + stop])
        e = stop
    elif e < n_base:
        # map effective position e → raw position p skipping excluded positions
        p = lo + e
        ex_iter = iter(excluded)
        nxt = next(ex_iter, None)
        while nxt is not None and nxt <= p:
            p += 1
            nxt = next(ex_iter, None)
        while e < min(want_end, n_base):
            while nxt is not None and nxt == p:
                p += 1
                nxt = next(ex_iter, None)
            rows.append(BaseRec(realm, arr[p]))
            p += 1
            e += 1
    while e < want_end:
        rows.append(changed[e - n_base])
        e += 1
    return Result(q.entity, rows=rows, start=q.start)
