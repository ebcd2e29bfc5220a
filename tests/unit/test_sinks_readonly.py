"""The AST rules of analytics SQL (sql_policy) on ASTs as ClickHouse's parseQueryToJSON
writes them; the parsing itself and the corpus run on chdb (tests/integration)."""

from __future__ import annotations

from typing import Any

import pytest

from sinks.clickhouse.sql_policy import PolicyViolation, check_statement

pytestmark = pytest.mark.security

TABLE_FUNCTIONS = frozenset({"file", "url", "numbers", "format", "remote"})


def select(*, select: list[Any], tables: list[Any] | None = None, **root: Any) -> dict:
    query: dict[str, Any] = {"type": "SelectQuery", "select": expressions(select)}
    if tables is not None:
        query["tables"] = {
            "type": "TablesInSelectQuery",
            "children": [
                {"type": "TablesInSelectQueryElement", "table_expression": t} for t in tables
            ],
        }
    return {
        "type": "SelectWithUnionQuery",
        "list_of_selects": expressions([query]),
        "is_into_outfile_with_stdout": False,
        **root,
    }


def expressions(children: list[Any]) -> dict:
    return {"type": "ExpressionList", "children": children}


def literal(value: Any) -> dict:
    return {"type": "Literal", "value": {"field_type": "String", "value": value}}


def function(name: str, *args: Any) -> dict:
    return {"type": "Function", "name": name, "arguments": expressions(list(args))}


def table(name: str) -> dict:
    parts = name.split(".")
    node = {"type": "TableIdentifier", "name": name}
    if len(parts) > 1:
        node["name_parts"] = parts
    return {"type": "TableExpression", "database_and_table_name": node}


def check(ast: dict, keyword: str = "SELECT") -> None:
    check_statement(ast, keyword=keyword, database="creditsync", table_functions=TABLE_FUNCTIONS)


@pytest.mark.parametrize(
    "ast",
    [
        select(select=[literal("1")]),
        select(select=[function("count")], tables=[table("penalty")]),
        select(select=[function("count")], tables=[table("creditsync.penalty")]),
        select(select=[function("count")], tables=[table("system.tables")]),
        select(select=[function("format", literal("{}"), literal("x"))]),
    ],
)
def test_selects_over_the_project_tables_pass(ast: dict) -> None:
    check(ast)


@pytest.mark.parametrize(
    ("ast", "reason"),
    [
        (select(select=[literal("1")], out_file=literal("/tmp/x")), "INTO OUTFILE writes a file"),
        (
            select(select=[literal("1")], format_ast={"type": "Identifier", "name": "CSV"}),
            "a FORMAT clause",
        ),
        (
            {
                **select(select=[literal("1")]),
                "list_of_selects": expressions(
                    [
                        {
                            "type": "SelectQuery",
                            "select": expressions([literal("1")]),
                            "settings": {"type": "SetQuery", "changes": [{"name": "readonly"}]},
                        }
                    ]
                ),
            },
            r"a SETTINGS clause \(readonly\)",
        ),
        (
            select(
                select=[literal("1")],
                tables=[{"type": "TableExpression", "table_function": function("numbers")}],
            ),
            r"table function numbers\(\)",
        ),
        (select(select=[function("file", literal("/etc/passwd"))]), r"function file\(\): reads"),
        (select(select=[function("FILE", literal("/etc/passwd"))]), r"function FILE\(\)"),
        (select(select=[function("dictGetString", literal("d"))]), r"dictGetString\(\)"),
        (select(select=[function("url", literal("http://x"))]), r"url\(\) is a table function"),
        (select(select=[literal("1")], tables=[table("system.settings")]), "system.settings"),
        (select(select=[literal("1")], tables=[table("other.t")]), "table other.t"),
        (
            select(
                select=[
                    function(
                        "in",
                        {"type": "Identifier", "name": "a"},
                        {"type": "Identifier", "name_parts": ["system", "processes"]},
                    )
                ]
            ),
            "system.processes",
        ),
        (
            select(select=[{"type": "QueryParameter", "name": "p"}]),
            "QueryParameter is not part of a SELECT",
        ),
    ],
)
def test_each_way_out_is_refused_naming_it(ast: dict, reason: str) -> None:
    with pytest.raises(PolicyViolation, match=reason):
        check(ast)


@pytest.mark.parametrize(
    ("keyword", "kind", "reason"),
    [
        ("DROP", "DropQuery", r"DROP is not a read-only statement \(DropQuery\)"),
        ("INSERT", "InsertQuery", "INSERT is not a read-only statement"),
        ("SHOW", "ShowTables", "SHOW is refused: SHOW reads system tables"),
        ("EXPLAIN", "Explain", "EXPLAIN is refused: EXPLAIN wraps any statement"),
    ],
)
def test_other_statements_are_refused(keyword: str, kind: str, reason: str) -> None:
    with pytest.raises(PolicyViolation, match=reason):
        check({"type": kind}, keyword)
