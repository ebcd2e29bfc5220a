"""Which parsed statements `creditsync sql` runs: rules over ClickHouse's own AST (as JSON).

The AST comes from ClickHouse's `parseQueryToJSON` (sinks/clickhouse/readonly.py), so these
rules read what the engine will run, never the raw text. They are strict on purpose: one
SELECT over the project's tables, no way out to files, URLs, other servers or settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# The system tables an analyst may read: the schema (tables, columns), part sizes, and
# `one`. Others expose settings, other queries' text (processes, query_log), users,
# named collections and server configuration.
SYSTEM_TABLES_ALLOWED = frozenset({"one", "tables", "columns", "parts"})
SYSTEM_DATABASES = frozenset({"system", "information_schema"})

# Scalar functions that share a table function's name but only compute (format('{}', x),
# fuzzQuery(text)); every other table-function name is refused wherever it appears.
SCALARS_NAMED_LIKE_TABLE_FUNCTIONS = frozenset({"format", "fuzzquery"})

# Scalar functions that reach outside the query's tables (names lower-cased).
FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "file": "reads a file on the ClickHouse host",
    "catboostevaluate": "loads a model file from a path on the ClickHouse host",
    "joinget": "reads a table named in a string, past the table rules",
    "joingetornull": "reads a table named in a string, past the table rules",
    "hascolumnintable": "looks up tables named in strings, past the table rules",
    "getserversetting": "shows the server's configuration",
    "getclienthttpheader": "shows the headers of the ClickHouse connection (credentials)",
    "currentrequesturl": "shows the URL of the ClickHouse request",
}
# dictGet*, dictHas, dictIsIn …: a dictionary's source can be a file, a URL or a database.
FORBIDDEN_FUNCTION_PREFIX = ("dict", "reads a dictionary, whose source can be a file or URL")

# The AST nodes of a SELECT (with WITH, UNION / INTERSECT / EXCEPT, JOIN, ARRAY JOIN,
# subqueries, window functions, WITH FILL …). Anything else is refused by name, so a
# node type this list did not foresee is refused rather than trusted.
SELECT_NODES = frozenset(
    {
        "SelectWithUnionQuery",
        "SelectIntersectExceptQuery",
        "SelectQuery",
        "ExpressionList",
        "Literal",
        "Identifier",
        "Function",
        "Asterisk",
        "QualifiedAsterisk",
        "ColumnsRegexpMatcher",
        "ColumnsListMatcher",
        "QualifiedColumnsRegexpMatcher",
        "QualifiedColumnsListMatcher",
        "ColumnsTransformerList",
        "ColumnsApplyTransformer",
        "ColumnsExceptTransformer",
        "ColumnsReplaceTransformer",
        "ColumnsReplaceTransformerReplacement",
        "TablesInSelectQuery",
        "TablesInSelectQueryElement",
        "TableExpression",
        "TableIdentifier",
        "TableJoin",
        "ArrayJoin",
        "Subquery",
        "WithElement",
        "OrderByElement",
        "InterpolateElement",
        "SampleRatio",
        "WindowDefinition",
        "WindowListElement",
    }
)
# Parts of a SELECT that write, choose the output or change settings.
_OUTPUT_KEYS = {
    "out_file": "INTO OUTFILE writes a file on the ClickHouse host",
    "format_ast": "a FORMAT clause: the output format is chosen by creditsync",
    "compression": "INTO OUTFILE … COMPRESSION writes a file on the ClickHouse host",
}
# Statements that only read but are refused all the same, and why.
READ_BUT_REFUSED: dict[str, str] = {
    "SHOW": "SHOW reads system tables the table rules cannot see (settings, processes, grants)",
    "DESCRIBE": "DESCRIBE also takes table functions (DESCRIBE file(…) reads the file)",
    "DESC": "DESC also takes table functions (DESC file(…) reads the file)",
    "EXPLAIN": "EXPLAIN wraps any statement, and EXPLAIN SYNTAX … INTO OUTFILE writes a file",
    "EXISTS": "EXISTS is not needed",
}
_SCHEMA_HINT = "read the schema with SELECT … FROM system.tables or system.columns"


class PolicyViolation(ValueError):
    """The statement breaks a rule: `reason` names the part and why it is refused."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_statement(
    ast: dict[str, Any], *, keyword: str, database: str, table_functions: frozenset[str]
) -> None:
    """PolicyViolation unless `ast` (parseQueryToJSON output) is one SELECT that only reads
    the tables of `database` and the allowed system tables.

    `keyword` is the statement's first word as ClickHouse formatted it (for messages);
    `table_functions` the lower-cased names in system.table_functions."""
    root = ast.get("type")
    if root != "SelectWithUnionQuery":
        raise not_a_select(keyword, str(root))
    for node in _nodes(ast):
        _check_node(node, database, table_functions)


def not_a_select(keyword: str, kind: str) -> PolicyViolation:
    """The refusal of a statement other than SELECT: `keyword` its first word, `kind` its
    AST type (or why there is none)."""
    if keyword in READ_BUT_REFUSED:
        return PolicyViolation(f"{keyword} is refused: {READ_BUT_REFUSED[keyword]}; {_SCHEMA_HINT}")
    return PolicyViolation(f"{keyword} is not a read-only statement ({kind})")


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every AST node (a dict with a "type") under `value`, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "type" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_node(node: dict[str, Any], database: str, table_functions: frozenset[str]) -> None:
    kind = node["type"]
    for key, why in _OUTPUT_KEYS.items():
        if node.get(key) is not None:
            raise PolicyViolation(f"{why} ({_describe(node.get(key))})")
    if node.get("is_into_outfile_with_stdout"):
        raise PolicyViolation(_OUTPUT_KEYS["out_file"])
    if kind == "SetQuery" or "settings" in node:
        changes = node.get("settings", node).get("changes") or []
        names = ", ".join(str(c.get("name")) for c in changes) or "SETTINGS"
        raise PolicyViolation(
            f"a SETTINGS clause ({names}): read-only mode and the query limits are set by "
            "creditsync and cannot be changed from the query"
        )
    if kind not in SELECT_NODES:
        raise PolicyViolation(f"{kind} is not part of a SELECT that creditsync runs")
    if kind == "TableExpression" and node.get("table_function") is not None:
        name = node["table_function"].get("name", "?")
        raise PolicyViolation(
            f"table function {name}(): table functions read outside the analytics tables "
            "(files, URLs, other servers, generated rows); read the tables of "
            f"database {database!r} (for a series, use arrayJoin(range(n)))"
        )
    if kind == "Function":
        _check_function(str(node.get("name", "")), table_functions)
    if kind == "TableIdentifier":
        _check_table(node, database)
    if kind == "Identifier":
        _check_identifier(node)


def _check_function(name: str, table_functions: frozenset[str]) -> None:
    lowered = name.lower()
    if lowered in FORBIDDEN_FUNCTIONS:
        raise PolicyViolation(f"function {name}(): {FORBIDDEN_FUNCTIONS[lowered]}")
    prefix, why = FORBIDDEN_FUNCTION_PREFIX
    if lowered.startswith(prefix):
        raise PolicyViolation(f"function {name}(): {why}")
    if lowered in table_functions and lowered not in SCALARS_NAMED_LIKE_TABLE_FUNCTIONS:
        raise PolicyViolation(
            f"{name}() is a table function: table functions read outside the analytics tables"
        )


def _parts(node: dict[str, Any]) -> list[str]:
    parts = node.get("name_parts")
    if isinstance(parts, list) and parts:
        return [str(p) for p in parts]
    return [str(node.get("name", ""))]


def _allowed_tables(database: str) -> str:
    system = ", ".join(f"system.{t}" for t in sorted(SYSTEM_TABLES_ALLOWED))
    return f"only the tables of database {database!r} and {system} may be read"


def _check_table(node: dict[str, Any], database: str) -> None:
    parts = _parts(node)
    if len(parts) < 2:
        return  # unqualified: the current database (or a WITH name)
    db, table = parts[0], parts[1]
    if db == database:
        return
    if db.lower() == "system" and table.lower() in SYSTEM_TABLES_ALLOWED:
        return
    raise PolicyViolation(f"table {'.'.join(parts)}: {_allowed_tables(database)}")


def _check_identifier(node: dict[str, Any]) -> None:
    # `x IN system.settings` names a table with a plain identifier; a column of an alias
    # called `system` is refused with it, which costs nothing.
    parts = _parts(node)
    if len(parts) >= 2 and parts[0].lower() in SYSTEM_DATABASES:
        if parts[0].lower() == "system" and parts[1].lower() in SYSTEM_TABLES_ALLOWED:
            return
        raise PolicyViolation(
            f"{'.'.join(parts)}: of the system tables only "
            f"{', '.join(sorted(SYSTEM_TABLES_ALLOWED))} may be read"
        )


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        inner = value.get("value")
        if isinstance(inner, dict) and "value" in inner:
            return repr(inner["value"])
        if "name" in value:
            return str(value["name"])
    return str(value)[:80]


__all__ = [
    "SELECT_NODES",
    "SYSTEM_TABLES_ALLOWED",
    "PolicyViolation",
    "check_statement",
    "not_a_select",
]
