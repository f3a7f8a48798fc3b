"""Compiled record flattening: the SDK's `flattening_enabled` semantics, without dicts.

With `flattening_enabled` the SDK turns every record into a dict, flattens it
(`singer_sdk.helpers._flattening._flatten_record`, ~175 µs for a QBO invoice) and the sink's
model converts that dict. `FlattenPlan` compiles, from the stream map's original schema, two
decoders that go from the raw RECORD bytes straight to the row the SDK path would produce:

* per record (msgspec): one nested Struct mirroring the original schema (leaves typed exactly
  like the flattened model's fields, objects beyond the max depth / arrays as `msgspec.Raw`),
  then a generated function that builds the model's flat row;
* per batch (Arrow): Arrow's JSON reader with a nested struct schema (objects flattened with
  `StructArray.flatten()`, which nulls the children of a null parent), and one msgspec pass
  that picks out only the values stored as JSON text (`msgspec.Raw`, the rest skipped) and
  the few undeclared keys whose flattened name could equal a column ("danger" keys, e.g. a
  top-level `CustomerRef__value`); keys long enough for `flatten_key` to shorten are looked
  for on the raw text (RE2). Other undeclared keys are ignored, as the SDK's flattening +
  model ignore them.

JSON text is written exactly as the SDK writes it (`serialize_json`: compact, ASCII, Decimal
text): values are re-encoded with msgspec and, when non-ASCII or escapes are involved, with
the SDK's own function. Anything the compiled code cannot reproduce exactly falls back to the
SDK mapper (the stream map's `transform` + the model), per stream at compile time
(`compile_plan` returns None: composite/typeless properties, extra validation, name
collisions) or per record at run time: a value whose shape disagrees with the schema, a type
violation (so the error is the SDK path's, naming the flattened column), a key a flattened
object does not declare (per record: any such key; the SDK flattens those too). A batch on the
Arrow path that meets any of these is decoded per record instead.

A key repeated in one JSON object: the SDK's dict keeps the last value; so does msgspec, and
Arrow's reader refuses the batch (per-record path), so the rows agree (tested).
"""

from __future__ import annotations

import array
import copy
import decimal
import itertools
import typing as t
from dataclasses import dataclass, field

import msgspec
from singer_sdk.helpers._flattening import flatten_key
from singer_sdk.singerlib.json import serialize_json

from target_tableau_hyper.errors import InputError
from target_tableau_hyper.records import DELETED_AT, SDC_METADATA, StreamModel, _arrow_plain, _arrow_read_type

LEAF = "leaf"  # a value kept as it is (typed like the model's column)
DUMP = "dump"  # an array / object beyond the max depth / object without properties: JSON text
LOOSE = "loose"  # a leaf of several/no JSON types (model: t.Any): dicts/lists become JSON text

_DICT = msgspec.json.Decoder(float_hook=decimal.Decimal)
_STR = msgspec.json.Decoder(str)
_ENC = msgspec.json.Encoder(decimal_format="number")
_EMPTY = msgspec.Raw(b"")


class Fallback(Exception):
    """This record (or batch) needs the SDK mapper path to be exact."""


class Unsupported(Exception):
    """The stream's schema cannot be flattened here exactly (SDK path for the stream)."""


def json_text(value: t.Any) -> str:
    """A dict/list as the SDK's `serialize_json` writes it (byte for byte)."""
    out = _ENC.encode(value)
    if out.isascii() and b"\\u" not in out and b"\x7f" not in out:
        return out.decode()
    return serialize_json(value)  # non-ASCII or escaped characters: the SDK's own encoder


def _dump_value(raw: msgspec.Raw) -> t.Any:
    """A DUMP property's raw JSON → the flattened row's value (SDK semantics)."""
    if not raw:
        return None
    head = memoryview(raw)[0]
    if head == 0x7B or head == 0x5B:  # { [
        return json_text(_DICT.decode(raw))
    if head == 0x22:  # "
        return _STR.decode(raw)  # a string stays a string
    if head == 0x6E:  # n(ull)
        return None
    raise Fallback  # number/boolean where the flattened column is a string: the SDK's error


def _dump_column(raws: t.Sequence[msgspec.Raw], chunk: int = 64) -> list:
    """`_dump_value` of a whole column. A few dozen values at a time are decoded and re-encoded
    as one JSON array: when that gives back their exact bytes (compact ASCII, canonical numbers:
    how the SDK and the tap write), each value's source text is kept, else re-encoded alone."""
    out: list = [None] * len(raws)
    for start in range(0, len(raws), chunk):
        where = [i for i in range(start, min(start + chunk, len(raws))) if raws[i]]
        if not where:
            continue
        parts = [raws[i] for i in where]
        joined = b"[" + b",".join(parts) + b"]"
        values = _DICT.decode(joined)
        same = (
            _ENC.encode(values) == joined and joined.isascii()
            and b"\\u" not in joined and b"\x7f" not in joined
        )
        text = joined.decode("ascii") if same else ""
        pos = 1
        for i, part, value in zip(where, parts, values):
            end = pos + len(part)
            if isinstance(value, (dict, list)):
                out[i] = text[pos:end] if same else json_text(value)
            elif value is None or isinstance(value, str):
                out[i] = value  # a string stays a string
            else:
                raise Fallback  # number/boolean in a text column: the SDK path's error
            pos = end + 1
    return out


_CONTAINERS = {dict, list}
_MAX_STRING_DATA = (1 << 31) - 1  # an Arrow string array's data (int32 offsets)


def _dump_array(raws: t.Sequence[msgspec.Raw], chunk: int = 64) -> t.Any:
    """`_dump_column` of a whole column as an Arrow string array. When every value is an array
    or object whose source text is the SDK's (each piece of `chunk` values decoded and
    re-encoded to the same bytes, compact ASCII without escapes: what `_dump_column` checks),
    the array is built on the source texts themselves (one join, offsets from their lengths):
    no Python string per value and no conversion of a list of them (~30% of `_dump_column`
    + `pa.array`). Any other column (a string, null, number, non-canonical text) goes through
    `_dump_column` as before, so the values are identical either way."""
    import pyarrow as pa

    parts = [raw for raw in raws if raw]
    for start in range(0, len(parts), chunk):
        joined = b"[" + b",".join(parts[start : start + chunk]) + b"]"
        values = _DICT.decode(joined)
        if not (
            set(map(type, values)) <= _CONTAINERS
            and _ENC.encode(values) == joined
            and joined.isascii() and b"\\u" not in joined and b"\x7f" not in joined
        ):
            return pa.array(_dump_column(raws, chunk), type=pa.string())
    data = b"".join(parts)
    if len(data) > _MAX_STRING_DATA:
        return pa.array(_dump_column(raws, chunk), type=pa.string())
    lengths = list(map(len, raws))  # 0: absent (null)
    offsets = array.array("i", itertools.accumulate(lengths, initial=0))
    validity = None
    if len(parts) != len(raws):
        validity = pa.array(list(map(bool, lengths)), type=pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(pa.string(), len(raws), [validity, pa.py_buffer(offsets), pa.py_buffer(data)])


def _loose_value(raw: msgspec.Raw) -> t.Any:
    if not raw:
        return None
    value = _DICT.decode(raw)
    if isinstance(value, (dict, list)):
        return json_text(value)
    return value


@dataclass
class Prop:
    """One flattened column: where its value sits in the original record."""

    name: str  # flattened column name
    path: tuple[str, ...]  # keys in the original record
    kind: str  # LEAF / DUMP / LOOSE
    attr: str = ""  # attribute in the model's flat struct
    required: bool = False


@dataclass
class Node:
    """An object that is flattened (the root, or an object property within the max depth)."""

    path: tuple[str, ...]
    props: list[Prop] = field(default_factory=list)  # direct leaf/dump children
    children: list[Node] = field(default_factory=list)
    danger: list[str] = field(default_factory=list)  # unknown keys whose flat name could collide


def _walk(schema: dict, node: Node, level: int, opts: t.Any, out: list[Prop]) -> None:
    """Mirror of `_flatten_schema` (same tests on the same values)."""
    for key, prop in schema["properties"].items():
        if "type" not in prop:
            raise Unsupported(f"property {key!r} has no type")  # composite/typeless
        path = (*node.path, key)
        name = flatten_key(key, list(node.path), opts.separator, max_key_length=opts.max_key_length)
        types = prop["type"]
        if "object" in types and "properties" in prop and level < opts.max_level:
            child = Node(path)
            node.children.append(child)
            _walk(prop, child, level + 1, opts, out)
        elif "array" in types or ("object" in types and opts.max_level > 0):
            item = Prop(name, path, DUMP)
            node.props.append(item)
            out.append(item)
        else:
            item = Prop(name, path, LEAF)
            node.props.append(item)
            out.append(item)


def _dangerous_keys(prefix: str, sep: str, known: set[str], names: t.Iterable[str]) -> list[str]:
    """Keys an object at `prefix` does not declare but whose flattened name (unshortened), or
    for a nested object the start of it, equals a column name."""
    start = prefix + sep if prefix else ""
    found: set[str] = set()
    for name in names:
        if not name.startswith(start):
            continue
        rest = name[len(start):]
        found.add(rest)
        i = rest.find(sep)
        while i >= 0:
            found.add(rest[:i])
            i = rest.find(sep, i + 1)
    return sorted(found - known)


class FlattenPlan:
    """Raw RECORD bytes → the model's flat rows, as SDK flattening + the model would make them."""

    def __init__(self, stream_map: t.Any, model: StreamModel) -> None:
        opts = stream_map.flattening_options
        self.stream = model.stream
        self.model = model
        self.stream_map = stream_map
        raw_schema = stream_map.raw_schema
        if not isinstance(raw_schema.get("properties"), dict):
            raise Unsupported("schema without properties")
        if model.full_validator is not None:
            raise Unsupported("schema needs full validation")
        root = Node(())
        props: list[Prop] = []
        _walk(raw_schema, root, 0, opts, props)
        flat_names = list(model.schema.get("properties") or {})  # the sink's (flattened) schema
        if [p.name for p in props] != flat_names:
            raise Unsupported("flattened names differ from the sink's")
        # The sink strips _sdc_* metadata from the map's transformed schema (same dict), which
        # the SDK's flatten_record consults: only top-level plain values may be missing there.
        mapped = set(stream_map.transformed_schema.get("properties") or {})
        for p in props:
            if p.name not in mapped and not (p.name in SDC_METADATA and p.kind == LEAF and len(p.path) == 1):
                raise Unsupported(f"{p.name!r} is not in the stream map's schema")
        if not mapped <= set(flat_names):
            raise Unsupported("the stream map's schema has other names")
        if DELETED_AT not in flat_names:  # the model adds it: a top-level property
            extra = Prop(DELETED_AT, (DELETED_AT,), LEAF)
            root.props.append(extra)
            props.append(extra)
        fields = {f.encode_name: f for f in msgspec.structs.fields(model.struct)}
        names = {p.name for p in props}
        if len(names) != len(props):
            raise Unsupported("duplicate flattened names")
        sep = opts.separator
        self.nodes: list[Node] = []

        def visit(node: Node) -> None:
            self.nodes.append(node)
            prefix = sep.join(node.path)
            if node.path and flatten_key(node.path[-1], list(node.path[:-1]), sep, max_key_length=opts.max_key_length) in names:
                raise Unsupported(f"object {prefix!r} collides with a column")
            for child in node.children:
                visit(child)

        visit(root)
        for p in props:
            info = fields.get(p.name)
            if info is None:
                raise Unsupported(f"model has no field {p.name!r}")
            p.attr = info.name
            p.required = info.required
            if p.kind == LEAF and model.attr(p.name) and p.name in model.loose_text:
                p.kind = LOOSE
        self.props = props
        self._fields = fields
        self._build_record_decoder()
        self._build_arrow(raw_schema)

    # --- per record -----------------------------------------------------------------------
    def _build_record_decoder(self) -> None:
        counter = iter(range(1 << 30))
        code: list[str] = []
        env: dict[str, t.Any] = {"Fallback": Fallback, "dump": _dump_value, "loose": _loose_value}

        def struct_for(node: Node) -> t.Any:
            fields: list[tuple] = []
            rename: dict[str, str] = {}
            for p in node.props:
                attr = f"p{next(counter)}"
                p._nested_attr = attr  # type: ignore[attr-defined]
                rename[attr] = p.path[-1]
                info = self._fields[p.name]
                typ = msgspec.Raw if p.kind in (DUMP, LOOSE) else info.type
                if info.required:
                    fields.append((attr, typ))
                else:
                    fields.append((attr, typ, _EMPTY if typ is msgspec.Raw else None))
            for child in node.children:
                attr = f"c{next(counter)}"
                child._nested_attr = attr  # type: ignore[attr-defined]
                rename[attr] = child.path[-1]
                fields.append((attr, t.Optional[struct_for(child)], None))
            # unknown keys: the SDK would flatten them too (a name could land in a column)
            return msgspec.defstruct(
                f"Nested_{next(counter)}", fields, rename=rename, kw_only=True, gc=False,
                forbid_unknown_fields=True,
            )

        root_struct = struct_for(self.nodes[0])
        env["Flat"] = self.model.struct
        # generated: nested struct → flat struct (None propagates from a null/absent object)
        args: list[str] = []
        checks: list[str] = []

        def gen(node: Node, var: str, guard: str | None) -> None:
            for p in node.props:
                expr = f"{var}.{p._nested_attr}"  # type: ignore[attr-defined]
                if p.kind == DUMP:
                    expr = f"dump({expr})"
                elif p.kind == LOOSE:
                    expr = f"loose({expr})"
                if guard:
                    expr = f"({expr} if {guard} is not None else None)"
                args.append(f"{p.attr} = {expr}")
            for child in node.children:
                cvar = f"n{next(counter)}"
                source = f"{var}.{child._nested_attr}"  # type: ignore[attr-defined]
                code.append(f"    {cvar} = {source}" if not guard else f"    {cvar} = {source} if {var} is not None else None")
                gen(child, cvar, cvar)

        gen(self.nodes[0], "r", None)
        for p in self.props:  # a required non-nullable text column: JSON null is the SDK's error
            if p.kind == DUMP and p.required and type(None) not in t.get_args(self._fields[p.name].type):
                checks.append(f"    if memoryview(r.{p._nested_attr}) == b'null': raise Fallback")  # type: ignore[attr-defined]
        # A copy of a template + attribute stores: keyword construction of a wide Struct costs
        # ~100 µs at 127 fields (each keyword is looked up among all fields).
        env["template"] = self.model.struct(**{f.name: None for f in self._fields.values() if f.required})
        env["copy"] = copy.copy
        body = "def convert(r):\n" + "".join(line + "\n" for line in code + checks)
        body += "    o = copy(template)\n" + "".join(f"    o.{arg}\n" for arg in args) + "    return o\n"
        exec(compile(body, f"<flatten {self.stream}>", "exec"), env)  # noqa: S102 - generated from the schema
        self._convert = env["convert"]
        self._record_decoder = msgspec.json.Decoder(root_struct, float_hook=decimal.Decimal)
        line = msgspec.defstruct(
            "FlatRecordLine",
            [("type", str), ("stream", str), ("record", t.Optional[root_struct], None),
             ("time_extracted", t.Any, None), ("version", t.Any, None)],
        )
        self._line_decoder = msgspec.json.Decoder(line, float_hook=decimal.Decimal)

    def sdk_row(self, record: t.Any, line: int | None) -> t.Any:
        """The SDK mapper path for one record dict (exact semantics and errors)."""
        if not isinstance(record, dict):
            raise InputError("'record' must be a JSON object", stream=self.stream, line=line)
        return self.model.convert(self.stream_map.transform(copy.copy(record)), line)

    def decode(self, raw: bytes, line: int | None) -> t.Any:
        """Raw record JSON → flat row."""
        try:
            return self._convert(self._record_decoder.decode(raw))
        except (msgspec.ValidationError, Fallback):
            pass
        except msgspec.DecodeError as exc:
            raise InputError(f"malformed record JSON: {exc}", stream=self.stream, line=line) from None
        try:
            record = _DICT.decode(raw)
        except msgspec.DecodeError as exc:
            raise InputError(f"malformed record JSON: {exc}", stream=self.stream, line=line) from None
        return self.sdk_row(record, line)

    @property
    def line_decoder(self) -> _LineDecoder:
        return _LineDecoder(self)

    def decode_line(self, raw_line: bytes, line: int | None) -> t.Any:
        """A whole RECORD line → message with `.type` and `.record` (the flat row)."""
        try:
            msg = self._line_decoder.decode(raw_line)
        except msgspec.ValidationError:
            pass
        else:
            if msg.type != "RECORD" or msg.record is None:
                return msg
            try:
                return _Message(msg.type, self._convert(msg.record))
            except Fallback:
                pass
        message = _DICT.decode(raw_line)  # DecodeError: malformed (the caller reports it)
        if not isinstance(message, dict) or message.get("type") != "RECORD" or "record" not in message:
            return _Message(message.get("type") if isinstance(message, dict) else None, None)
        return _Message("RECORD", self.sdk_row(message["record"], line))

    # --- per batch (Arrow) ------------------------------------------------------------------
    def _build_arrow(self, raw_schema: dict) -> None:
        self.arrow_line_schema = None
        model = self.model
        if not model.validate:
            return
        # Arrow cannot tell an absent property from a null one: a required property is
        # checked as "no null" (its column must not be nullable, so null is an error too)
        self._required_leaves = []
        by_name = {p.name: p for p in self.props}
        for name in raw_schema.get("required") or []:
            p = by_name.get(name)
            if p is None or not self._fields[name].required:
                continue  # an object (flattened away, as in the SDK) or a key (null allowed)
            if p.kind != LEAF or type(None) in t.get_args(self._fields[name].type):
                return
            self._required_leaves.append(p.path)
        columns = {c.name: c for c in model.columns}
        flat_props = model.schema["properties"]
        for p in self.props:
            if p.kind == LOOSE:
                return
            if p.kind == LEAF:
                col = columns.get(p.name)
                prop = flat_props.get(p.name, {"type": ["string", "null"], "format": "date-time"})
                if col is None and p.name == DELETED_AT:
                    from target_tableau_hyper.types import Column, KIND_TIMESTAMPTZ

                    col = Column(DELETED_AT, KIND_TIMESTAMPTZ)
                if col is None or not _arrow_plain(col, prop):
                    return
        import pyarrow as pa
        import pyarrow.json as pa_json

        col_of = {c.name: c for c in model.columns}

        def struct_type(node: Node) -> t.Any:
            fields = []
            for p in node.props:
                if p.kind == LEAF:
                    col = col_of.get(p.name)
                    fields.append((p.path[-1], _arrow_read_type(col) if col is not None else pa.string()))
            for child in node.children:
                fields.append((child.path[-1], struct_type(child)))
            return pa.struct(fields)

        self.arrow_line_schema = pa.schema(
            [("type", pa.string()), ("stream", pa.string()), ("record", struct_type(self.nodes[0]))]
        )
        # Unknown keys: the SDK flattens them too, so one whose flattened name (or, holding an
        # object, the start of it) equals a column would land in that column. Those keys are
        # enumerated per flattened object ("danger" keys, looked for by the msgspec pass);
        # a key long enough to make flatten_key shorten the name is looked for on the raw
        # text (RE2, linear): either sends the batch to the per-record path (which forbids
        # unknown keys: the SDK mapper decides).
        opts = self.stream_map.flattening_options
        sep = opts.separator
        names = [p.name for p in self.props]
        threshold = opts.max_key_length
        for node in self.nodes:
            prefix = sep.join(node.path)
            known = {p.path[-1] for p in node.props} | {c.path[-1] for c in node.children}
            node.danger = _dangerous_keys(prefix, sep, known, names)
            level = len(node.path)
            for chain in range(1, opts.max_level - level + 2):  # keys an unknown object may nest
                room = opts.max_key_length - len(prefix) - len(sep) * chain
                threshold = min(threshold, room // chain)
        threshold = max(threshold, 1)
        known_keys = {p.path[i] for p in self.props for i in range(len(p.path))}
        if any(len(_ENC.encode(k)) - 2 >= threshold for k in known_keys):
            self.arrow_line_schema = None  # every record would look suspicious: per record
            return
        self._long_key = r'"(?:[^"\\]|\\.){%d,}"\s*:' % threshold

        # msgspec pass: picks the JSON-text values (Raw, not parsed) and the danger keys
        counter = iter(range(1 << 30))
        self._dump_props = [p for p in self.props if p.kind == DUMP]
        # Without JSON-text columns every key of a record is in the Arrow schema, so a read that
        # refuses undeclared keys, when it succeeds, proves there is neither a danger key nor a
        # long one (both are undeclared): the scans for them are skipped (a flat line stream's
        # common case). A failed strict read is redone the usual way, and not tried again.
        self._strict_options = None
        if not self._dump_props:
            envelope = [("time_extracted", pa.string()), ("version", pa.int64())]
            self._strict_options = pa_json.ParseOptions(
                explicit_schema=pa.schema([*self.arrow_line_schema, *envelope]), unexpected_field_behavior="error",
            )
        getters: list[str] = []
        checks: list[str] = []

        def needed(node: Node) -> bool:
            return bool(node.danger) or any(p.kind == DUMP for p in node.props) or any(needed(c) for c in node.children)

        def pick(node: Node, var: str) -> t.Any:
            fields: list[tuple] = []
            rename: dict[str, str] = {}
            for p in node.props:
                if p.kind != DUMP:
                    continue
                attr = f"p{next(counter)}"
                rename[attr] = p.path[-1]
                fields.append((attr, msgspec.Raw, _EMPTY))
                p._pick = f"({var}.{attr} if {var} is not None else _EMPTY)" if node.path else f"{var}.{attr}"  # type: ignore[attr-defined]
            for key in node.danger:
                attr = f"d{next(counter)}"
                rename[attr] = key
                fields.append((attr, msgspec.Raw, _EMPTY))
                checks.append(f"        if {var} is not None and {var}.{attr}: raise Fallback")
            for child in node.children:
                if not needed(child):
                    continue
                attr = f"c{next(counter)}"
                cvar = f"n{next(counter)}"
                rename[attr] = child.path[-1]
                getters.append(f"        {cvar} = {var}.{attr} if {var} is not None else None" if node.path else f"        {cvar} = {var}.{attr}")
                fields.append((attr, t.Optional[pick(child, cvar)], None))
            return msgspec.defstruct(f"Pick_{next(counter)}", fields, rename=rename, kw_only=True, gc=False)

        self._pick_decoder = None
        if not needed(self.nodes[0]):
            return  # nothing to pick: Arrow reads everything
        root = pick(self.nodes[0], "r")
        line = msgspec.defstruct("PickLine", [("record", root)], kw_only=True, gc=False)
        # a piece of lines is decoded as one JSON array (newlines → commas: one C call)
        self._pick_decoder = msgspec.json.Decoder(t.List[line])
        outs = ", ".join(p._pick for p in self._dump_props)  # type: ignore[attr-defined]
        body = (
            "def pick(messages, out):\n    for m in messages:\n"
            "        r = m.record\n" + "".join(g + "\n" for g in getters + checks)
            + (f"        out.append(({outs},))\n" if outs else "        out.append(())\n")
        )
        env: dict[str, t.Any] = {"_EMPTY": _EMPTY, "Fallback": Fallback}
        exec(compile(body, f"<flatten pick {self.stream}>", "exec"), env)  # noqa: S102
        self._pick = env["pick"]

    def arrow_table(self, runs: t.Sequence[bytes], n: int, columns: t.Sequence[t.Any], metadata: dict | None) -> tuple[t.Any, dict]:
        """The batch's raw RECORD runs → (Arrow table of `columns`, date-time source text).
        Raises (Arrow/ValueError/Fallback/msgspec errors) when the batch must go per record."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pa_json

        from target_tableau_hyper.batch import _pieces

        options = pa_json.ParseOptions(explicit_schema=self.arrow_line_schema, unexpected_field_behavior="ignore")
        # one ~1 MiB block per call: Arrow's thread pool only adds overhead (~20% CPU measured)
        _ONE_THREAD = pa_json.ReadOptions(use_threads=False)
        pieces = []
        picked: list[tuple] = []
        for piece in _pieces(runs, 1 << 20):
            if self._strict_options is not None:
                try:
                    strict = pa_json.read_json(pa.BufferReader(piece), parse_options=self._strict_options,
                                               read_options=_ONE_THREAD)
                except pa.ArrowInvalid:
                    self._strict_options = None  # an undeclared key (or bad input): the checks below
                else:
                    pieces.append(strict.select(["type", "stream", "record"]))
                    continue
            if pc.any(pc.match_substring_regex(pa.array([piece], pa.binary()), self._long_key)).as_py():
                raise Fallback  # a key flatten_key could shorten (or text that looks like one)
            pieces.append(pa_json.read_json(pa.BufferReader(piece), parse_options=options, read_options=_ONE_THREAD))
            if self._pick_decoder is not None:
                # Fallback here: a danger key; ValidationError: a shape Arrow did not see
                messages = self._pick_decoder.decode(b"[" + piece[:-1].replace(b"\n", b",") + b"]")
                if len(messages) != pieces[-1].num_rows:
                    raise ValueError("row count mismatch")
                self._pick(messages, picked)
        read = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        if read.num_rows != n:
            raise ValueError("row count mismatch")
        if pc.any(pc.not_equal(read.column("type"), "RECORD")).as_py() or pc.any(
            pc.not_equal(read.column("stream"), self.stream)
        ).as_py():
            raise ValueError("not a RECORD of this stream")
        record = read.column("record").combine_chunks()
        if record.null_count:
            raise ValueError("null record")
        leaves: dict[tuple, t.Any] = {}

        def collect(arr: t.Any, path: tuple) -> None:
            for f, child in zip(arr.type, arr.flatten()):  # flatten(): a null parent nulls its children
                if pa.types.is_struct(f.type):
                    collect(child, (*path, f.name))
                else:
                    leaves[(*path, f.name)] = child

        collect(record, ())
        for path in self._required_leaves:
            if leaves[path].null_count:
                raise Fallback  # absent or null: the per-record decoder names the line
        dumps: dict[str, list] = {}
        for i, p in enumerate(self._dump_props):
            dumps[p.name] = _dump_array([row[i] for row in picked])
        by_name = {p.name: p for p in self.props}
        arrays, names, source_text = [], [], {}
        for col in columns:
            p = by_name.get(col.name)
            if p is None:
                value = (metadata or {}).get(col.name)
                arr = pa.array([value] * n, type=col.arrow_type)
            elif p.kind == DUMP:
                arr = dumps[p.name]
            else:
                arr = leaves[p.path]
                if col.kind == "timestamptz":
                    source_text[col.name] = arr
                    arr = pc.cast(arr, col.arrow_type)
                elif col.kind == "date":
                    arr = pc.cast(arr, col.arrow_type)
            arrays.append(arr)
            names.append(col.name)
        return pa.Table.from_arrays(arrays, names=names), source_text


class _Message:
    __slots__ = ("type", "record")

    def __init__(self, type_: t.Any, record: t.Any) -> None:
        self.type = type_
        self.record = record


class _LineDecoder:
    """What the reader calls for one RECORD line of a fast stream (`.decode(line)`)."""

    __slots__ = ("decode",)

    def __init__(self, plan: FlattenPlan) -> None:
        self.decode = lambda raw: plan.decode_line(raw, None)


def compile_plan(stream_map: t.Any, model: StreamModel) -> FlattenPlan | None:
    """The plan of a flattened stream, or None when its schema needs the SDK mapper path."""
    try:
        return FlattenPlan(stream_map, model)
    except (Unsupported, TypeError, ValueError, KeyError):
        return None
