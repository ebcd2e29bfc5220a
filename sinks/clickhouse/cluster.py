"""One node's migration DDL rewritten for a ClickHouse cluster: ON CLUSTER, Replicated, Distributed.

Migrations stay written for one node; where a cluster is configured
(CREDITSYNC_CLICKHOUSE_CLUSTER) the runner passes every statement through `cluster_statements`,
so a new migration (m0006 …) is covered without edits. What each statement becomes:

- CREATE TABLE t (…) ENGINE = XMergeTree(args) …: `t_local` ON CLUSTER with
  ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', args), the
  same columns, ORDER BY, PARTITION BY and settings (non_replicated_deduplication_window becomes
  replicated_deduplication_window, so a retried batch is still dropped on arrival); then `t`
  ON CLUSTER AS t_local ENGINE = Distributed(cluster, db, t_local, key). Readers, views and the
  sink keep using `t`. Null tables (the stage and landing tables) stay Null locally.
- Sharding key: cityHash64(uscc) wherever uscc is in the table's ORDER BY (every record table,
  entities, entity_names) and for every Null table. All versions of one ReplacingMergeTree key
  then sit on one shard, which FINAL and merges need (they only collapse rows of one table on
  one shard), and an enterprise's rows meet on one shard whether they came by the native path
  or by rows.py. Tables keyed otherwise (rejections, parked, notices, findings, control totals)
  shard by a hash of their ORDER BY key, for the same reason. (uscc is the resolved code: a
  record naming only a registration number is parked until its USCC is known.)
- CREATE MATERIALIZED VIEW m TO t AS SELECT … FROM s: ON CLUSTER, `TO t_local`, `FROM s_local`.
  The native path inserts into the Distributed landing table (the same name as on one node, so
  the sink does not change); it routes each row by cityHash64(uscc) to that shard's local
  landing table, whose views fill the shard's local stage and record tables — the shard that
  the Distributed record tables route that uscc to. The alternative (land locally, views write
  into the Distributed tables) parses every row on the receiving node and sends each derived
  row again, through a per-node queue, with the insert-dedup tokens of dependent views made
  on that node; this way each derived insert is a local replicated insert, as on one node.
- CREATE [OR REPLACE] VIEW: ON CLUSTER, body unchanged (it reads the Distributed tables).
- ALTER TABLE t <column actions>: ON CLUSTER on t_local then t (Distributed tables take column
  changes); other actions (mutations, settings, indexes): t_local only.
- DROP TABLE/VIEW: ON CLUSTER (a table: t then t_local). INSERT: unchanged (through
  Distributed). Anything else raises ClusterDDLError, so a migration this does not understand
  fails in the unit tests instead of half-applying on a cluster.

Why a small transformer over a lexer rather than a parser library: the one maintained Python
SQL parser with a ClickHouse dialect (sqlglot) regenerates the statement from its own tree, and
these statements use what it does not model faithfully (Variant and Tuple type strings inside
JSONExtract, `ENGINE = Null EMPTY AS`, binary string literals); the rewrite needs only the
statement head, the engine, the settings and the MV's source and target, so it splices those
into the original text and leaves every other byte as written. ClickHouse's own parser is the
judge in the tests (formatQuery through chdb, tests/unit/test_clickhouse_cluster.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sinks.errors import SinkError

LOCAL_SUFFIX = "_local"
ZOOKEEPER_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA = "{replica}"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Clauses of CREATE TABLE after the engine; ORDER BY's expression runs up to the next one.
_CLAUSES = {"PARTITION", "PRIMARY", "SAMPLE", "TTL", "SETTINGS", "COMMENT", "ORDER"}
_REPLICATED = ("Replicated", "Shared")  # already replicated: a migration must not say so
_COLUMN_ACTIONS = {"ADD", "DROP", "MODIFY", "RENAME", "CLEAR", "COMMENT"}


class ClusterDDLError(SinkError):
    """A migration statement the cluster rewrite does not know how to distribute."""


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """Where the DDL goes: a cluster of the servers' remote_servers, and the database."""

    name: str
    database: str

    def __post_init__(self) -> None:
        for what, value in (("cluster", self.name), ("database", self.database)):
            if not _IDENTIFIER.match(value):
                raise ClusterDDLError(
                    f"ClickHouse {what} name {value!r} is not a plain identifier "
                    "(letters, digits, underscore; not starting with a digit)"
                )


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # word, quoted, string, number, punct
    text: str
    start: int
    end: int
    depth: int  # parentheses open before this token

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


_LEXER = re.compile(
    r"""(?P<space>\s+|--[^\n]*|/\*.*?\*/)
      |(?P<string>'(?:[^'\\]|\\.|'')*')
      |(?P<quoted>`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*")
      |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<number>[0-9][0-9A-Za-z_.]*)
      |(?P<punct>->|[^\s])""",
    re.VERBOSE | re.DOTALL,
)


def tokens(sql: str) -> list[_Token]:
    """The significant tokens of `sql` (no whitespace, no comments), with their depth."""
    out: list[_Token] = []
    depth = 0
    for match in _LEXER.finditer(sql):
        kind = match.lastgroup or "punct"
        if kind == "space":
            continue
        text = match.group()
        if text == ")":
            depth -= 1
        out.append(_Token(kind, text, match.start(), match.end(), depth))
        if text == "(":
            depth += 1
    if depth != 0:
        raise ClusterDDLError(f"unbalanced parentheses in: {sql[:80]}…")
    return out


def _name(tok: _Token) -> str:
    """A table name token as a plain name (backquotes removed)."""
    if tok.kind == "quoted" and tok.text.startswith("`"):
        return tok.text[1:-1]
    if tok.kind == "word":
        return tok.text
    raise ClusterDDLError(f"expected a table name, got {tok.text!r}")


def _splice(sql: str, edits: Iterable[tuple[int, int, str]]) -> str:
    for start, end, text in sorted(edits, reverse=True):
        sql = sql[:start] + text + sql[end:]
    return sql


def _local(tok: _Token) -> str:
    """The local table's name written as the original was (quoted or not)."""
    if tok.kind == "quoted":
        return f"`{_name(tok)}{LOCAL_SUFFIX}`"
    return f"{tok.text}{LOCAL_SUFFIX}"


class _Statement:
    """A statement's tokens with a cursor over the head."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.toks = tokens(sql)
        self.i = 0

    def peek(self, offset: int = 0) -> _Token | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.is_word(*words):
            self.i += 1
            return True
        return False

    def take_seq(self, *words: str) -> bool:
        for k, word in enumerate(words):
            tok = self.peek(k)
            if tok is None or not tok.is_word(word):
                return False
        self.i += len(words)
        return True

    def name(self) -> _Token:
        tok = self.peek()
        if tok is None:
            raise ClusterDDLError(f"statement ends before its table name: {self.sql[:80]}")
        nxt = self.peek(1)
        if nxt is not None and nxt.text == ".":
            raise ClusterDDLError(
                f"{self.sql[:80]}…: names a database; migrations use the current one"
            )
        self.i += 1
        if self.peek() is not None and self.peek().is_word("ON"):  # type: ignore[union-attr]
            raise ClusterDDLError(f"{self.sql[:80]}…: already says ON CLUSTER")
        return tok


def cluster_statements(sql: str, cluster: ClusterTarget) -> list[str]:
    """The statements that do on `cluster` what `sql` does on one node."""
    st = _Statement(sql)
    on = f" ON CLUSTER {cluster.name}"
    if st.take("INSERT"):
        return [sql]
    if st.take("CREATE"):
        replace = st.take_seq("OR", "REPLACE")
        if st.take("TABLE"):
            if replace:
                raise ClusterDDLError(f"CREATE OR REPLACE TABLE is not distributed: {sql[:80]}")
            st.take_seq("IF", "NOT", "EXISTS")
            return _create_table(st, cluster)
        materialized = st.take("MATERIALIZED")
        if st.take("VIEW"):
            st.take_seq("IF", "NOT", "EXISTS")
            name = st.name()
            if not materialized:
                return [_splice(sql, [(name.end, name.end, on)])]
            return [_materialized_view(st, name, on)]
    if st.take_seq("ALTER", "TABLE"):
        return _alter(st, on)
    if st.take("DROP"):
        table = st.take("TABLE")
        if table or st.take("VIEW"):
            st.take_seq("IF", "EXISTS")
            name = st.name()
            drops = [_splice(sql, [(name.end, name.end, on)])]
            if table:
                drops.append(_splice(sql, [(name.start, name.end, _local(name) + on)]))
            return drops
    raise ClusterDDLError(
        f"no cluster form known for this statement (CREATE TABLE/VIEW/MATERIALIZED VIEW, "
        f"ALTER TABLE, DROP and INSERT are): {sql[:120]}"
    )


def _create_table(st: _Statement, cluster: ClusterTarget) -> list[str]:
    sql, on = st.sql, f" ON CLUSTER {cluster.name}"
    name = st.name()
    columns: set[str] | None = None
    if st.peek() is not None and st.peek().text == "(":  # type: ignore[union-attr]
        columns = _column_names(st)
    if not st.take("ENGINE"):
        raise ClusterDDLError(f"CREATE TABLE without ENGINE = after its columns: {sql[:80]}")
    if st.peek() is not None and st.peek().text == "=":  # type: ignore[union-attr]
        st.i += 1
    engine = st.peek()
    if engine is None or engine.kind != "word":
        raise ClusterDDLError(f"CREATE TABLE without an engine name: {sql[:80]}")
    st.i += 1
    edits: list[tuple[int, int, str]] = [(name.start, name.end, _local(name) + on)]
    order_by = _order_by(st.toks[st.i :])
    if engine.text == "Null":
        if columns is not None and "uscc" not in columns:
            raise ClusterDDLError(
                f"Null table {_name(name)} has no uscc column to shard by (its views' "
                "targets are sharded by uscc)"
            )
        key = "cityHash64(uscc)"
    elif engine.text.endswith("MergeTree") and not engine.text.startswith(_REPLICATED):
        edits += _replicated_engine(st, engine)
        if order_by is None:
            raise ClusterDDLError(f"MergeTree table {_name(name)} without ORDER BY: {sql[:80]}")
        key = _sharding_key(order_by, sql)
    else:
        raise ClusterDDLError(
            f"table {_name(name)}: engine {engine.text} has no replicated form on a cluster "
            "(use a MergeTree-family engine or Null)"
        )
    local = _splice(sql, edits)
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {name.text}{on} AS {_local(name)}\n"
        f"ENGINE = Distributed('{cluster.name}', '{cluster.database}', "
        f"'{_name(name)}{LOCAL_SUFFIX}', {key})"
    )
    return [local, distributed]


def _column_names(st: _Statement) -> set[str]:
    """Names of the column list at the cursor (which is on its '('); cursor past ')'."""
    depth = st.peek().depth  # type: ignore[union-attr]
    names: set[str] = set()
    expect_name = True
    st.i += 1
    while (tok := st.peek()) is not None and not (tok.text == ")" and tok.depth == depth):
        if tok.depth == depth + 1:
            if expect_name and tok.kind in ("word", "quoted"):
                names.add(_name(tok) if tok.kind == "word" else tok.text.strip('`"'))
            expect_name = tok.text == ","
        st.i += 1
    st.i += 1
    return names


def _replicated_engine(st: _Statement, engine: _Token) -> list[tuple[int, int, str]]:
    """Edits turning `XMergeTree[(args)]` into ReplicatedXMergeTree(path, replica[, args])."""
    prefix = f"'{ZOOKEEPER_PATH}', '{REPLICA}'"
    edits = [(engine.start, engine.end, f"Replicated{engine.text}")]
    paren = st.peek()
    if paren is not None and paren.text == "(":
        after = st.peek(1)
        empty = after is not None and after.text == ")"
        edits.append((paren.end, paren.end, prefix if empty else prefix + ", "))
    else:
        edits.append((engine.end, engine.end, f"({prefix})"))
    # The dedup window of replicated tables has its own setting; same window, same guarantee.
    for tok in st.toks[st.i :]:
        if tok.depth == 0 and tok.is_word("NON_REPLICATED_DEDUPLICATION_WINDOW"):
            edits.append((tok.start, tok.end, "replicated_deduplication_window"))
    return edits


def _order_by(rest: list[_Token]) -> list[_Token] | None:
    """The tokens of the ORDER BY expression among the clauses `rest`, if any."""
    for k, tok in enumerate(rest):
        by = k + 1 < len(rest) and rest[k + 1].is_word("BY")
        if tok.depth == 0 and tok.is_word("ORDER") and by:
            expr = []
            for t in rest[k + 2 :]:
                if t.depth == 0 and t.kind == "word" and t.text.upper() in _CLAUSES:
                    break
                expr.append(t)
            return expr
    return None


def _sharding_key(order_by: list[_Token], sql: str) -> str:
    """cityHash64(uscc) where uscc is in the key, else a hash of the whole key (see top)."""
    if any(t.kind == "word" and t.text == "uscc" for t in order_by):
        return "cityHash64(uscc)"
    if order_by and order_by[0].text == "(" and order_by[-1].text == ")":
        order_by = order_by[1:-1]
    if not order_by or sql[order_by[0].start : order_by[-1].end] == "tuple()":
        return "rand()"  # no key: nothing to collapse, spread evenly
    return f"cityHash64({sql[order_by[0].start : order_by[-1].end]})"


def _materialized_view(st: _Statement, name: _Token, on: str) -> str:
    sql = st.sql
    if not st.take("TO"):
        raise ClusterDDLError(
            f"materialized view {_name(name)} has no TO table: on a cluster its inner table "
            "would not be replicated; write `TO <table>`"
        )
    target = st.name()
    edits = [(name.end, name.end, on), (target.start, target.end, _local(target))]
    source = _view_source(st.toks[st.i :], sql)
    edits.append((source.start, source.end, _local(source)))
    return _splice(sql, edits)


def _view_source(rest: list[_Token], sql: str) -> _Token:
    """The table a materialized view's SELECT reads first: the one whose inserts trigger it."""
    selects: set[int] = set()  # depths at which a SELECT has begun
    for k, tok in enumerate(rest):
        if tok.is_word("SELECT"):
            selects.add(tok.depth)
        elif tok.is_word("FROM") and tok.depth in selects and k + 1 < len(rest):
            nxt = rest[k + 1]
            if nxt.text == "(":
                continue  # a subquery: its own FROM follows
            after = rest[k + 2] if k + 2 < len(rest) else None
            if after is not None and after.text in ("(", "."):
                raise ClusterDDLError(
                    f"materialized view reads {nxt.text}{after.text}…, not a table of the "
                    f"current database: {sql[:80]}"
                )
            return nxt
    raise ClusterDDLError(f"materialized view without a source table: {sql[:80]}")


def _alter(st: _Statement, on: str) -> list[str]:
    sql = st.sql
    name = st.name()
    kinds = set()
    action_start = True
    for tok in st.toks[st.i :]:
        if action_start:
            if tok.is_word("MODIFY") and _next_word(st.toks, tok) == "QUERY":
                raise ClusterDDLError(f"ALTER … MODIFY QUERY is not distributed: {sql[:80]}")
            nxt = _next_word(st.toks, tok)
            kinds.add(tok.text.upper() in _COLUMN_ACTIONS and nxt == "COLUMN")
        action_start = tok.depth == 0 and tok.text == ","
    if kinds == {True, False}:
        raise ClusterDDLError(
            f"ALTER mixes column changes with other actions; split it in two: {sql[:80]}"
        )
    local = _splice(sql, [(name.start, name.end, _local(name) + on)])
    if kinds == {True}:
        return [local, _splice(sql, [(name.end, name.end, on)])]
    return [local]


def _next_word(toks: list[_Token], tok: _Token) -> str:
    k = toks.index(tok)
    return toks[k + 1].text.upper() if k + 1 < len(toks) else ""


def cluster_ddl(statements: Iterable[str], cluster: ClusterTarget | None) -> list[str]:
    """`statements` as they run: unchanged (the same strings) without a cluster."""
    if cluster is None:
        return list(statements)
    return [out for sql in statements for out in cluster_statements(sql, cluster)]
