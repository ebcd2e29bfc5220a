"""Attack corpus of analytics SQL, run through `creditsync sql` (direct chdb) and through
POST /v1/analytics/sql on chdb: each case is refused with a message naming why, and leaves
no trace (no file written, the canary table whole, nothing secret in the answer, the
engine not left read-only). Ordinary analyst queries still run."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from creditsync.cli import app as cli_app
from creditsync.http import HttpDeps, create_http_app
from producers.departments import hash_token
from sinks.clickhouse import ClickHouseSink, connect_clickhouse, run_readonly_query
from sinks.clickhouse.readonly import QueryLimits
from sinks.publicity import PublicityReader
from tests.factories import make_enriched

pytestmark = [pytest.mark.integration, pytest.mark.security]

TOKEN = "attack-corpus-operator-token"
SECRET = f"SECRET-{uuid.uuid4().hex}"
LIMITS = QueryLimits(max_execution_time=3, max_result_rows=100, max_memory_usage=256 << 20)
LIMIT_ENV = {
    "CREDITSYNC_ANALYTICS_MAX_SECONDS": "3",
    "CREDITSYNC_ANALYTICS_MAX_RESULT_ROWS": "100",
    "CREDITSYNC_ANALYTICS_MAX_MEMORY_BYTES": str(256 << 20),
}


@dataclass(frozen=True)
class Case:
    sql: str
    outcome: str  # "refused" (403 / exit 2), "syntax" or "limit" (400 / exit 1)
    says: str  # what the message must say


R, S, L = "refused", "syntax", "limit"
MULTI = "more than one statement"
OUTFILE = "INTO OUTFILE writes a file on the ClickHouse host"
TABLE_FN = "table function"
LINES = "'LineAsString'"

CORPUS: dict[str, Case] = {
    # Files written on the ClickHouse host.
    "outfile": Case("SELECT 1 INTO OUTFILE '{out}'", R, OUTFILE),
    "outfile_format": Case("SELECT 1 INTO OUTFILE '{out}' FORMAT CSV", R, OUTFILE),
    "outfile_gzip": Case("SELECT 1 INTO OUTFILE '{out}' COMPRESSION 'gzip'", R, OUTFILE),
    "outfile_stdout": Case("SELECT 1 INTO OUTFILE '{out}' AND STDOUT", R, OUTFILE),
    "outfile_append": Case("select * from canary into outfile '{out}' append", R, OUTFILE),
    "explain_outfile": Case("EXPLAIN SYNTAX SELECT 1 INTO OUTFILE '{out}'", R, "EXPLAIN"),
    "insert_function": Case("INSERT INTO FUNCTION file('{out}') SELECT 1", R, "INSERT is not"),
    "backup": Case("BACKUP TABLE canary TO File('{out}')", R, "BACKUP is not"),
    "format_clause": Case("SELECT 1 FORMAT CSV", R, "a FORMAT clause"),
    # A second statement hidden from a text check.
    "semicolon": Case("SELECT 1; DROP TABLE canary", R, MULTI),
    "comment_in_strings": Case("SELECT '/*'; DROP TABLE canary; SELECT '*/'", R, MULTI),
    "line_comment": Case("SELECT 1 -- ;\n; DROP TABLE canary", R, MULTI),
    "nested_comment": Case("SELECT 1 /* a /* b */ c */; TRUNCATE TABLE canary", R, MULTI),
    "quote_escape": Case("SELECT 'it''s;'; DROP TABLE canary --", R, MULTI),
    "backslash_quote": Case("SELECT 'x\\';DROP TABLE canary;--'; DROP TABLE canary", R, MULTI),
    "backquoted": Case("SELECT 1 AS `a;b`; INSERT INTO canary VALUES (9)", R, MULTI),
    "unclosed_comment": Case("SELECT 1 /* ; DROP TABLE canary", S, "Multiline comment"),
    # Statements other than SELECT.
    "drop": Case("DROP TABLE canary", R, "DROP is not a read-only statement"),
    "truncate": Case("TRUNCATE TABLE canary", R, "TRUNCATE is not"),
    "insert_select": Case("INSERT INTO canary SELECT * FROM canary", R, "INSERT is not"),
    "create": Case("CREATE TABLE pwned (a Int8) ENGINE = Memory", R, "CREATE is not"),
    "create_file_engine": Case(
        "CREATE TABLE pwned ENGINE = File(CSV, '{out}') AS SELECT 1", R, "CREATE is not"
    ),
    "alter": Case("ALTER TABLE canary DELETE WHERE 1", R, "ALTER is not"),
    "optimize": Case("OPTIMIZE TABLE canary FINAL", R, "OPTIMIZE is not"),
    "system": Case("SYSTEM FLUSH LOGS", R, "SYSTEM is not"),
    "kill": Case("KILL QUERY WHERE 1", R, "KILL is not"),
    "attach": Case("ATTACH TABLE canary", R, "ATTACH is not"),
    "detach": Case("DETACH TABLE canary", R, "DETACH is not"),
    "rename": Case("RENAME TABLE canary TO pwned", R, "RENAME is not"),
    "grant": Case("GRANT SELECT ON *.* TO default", R, "GRANT is not"),
    "set": Case("SET readonly = 0", R, "SET is not"),
    "use": Case("USE system", R, "USE is not"),
    "explain_write": Case("EXPLAIN PIPELINE INSERT INTO canary SELECT 1", R, "EXPLAIN"),
    "show_settings": Case("SHOW SETTINGS LIKE '%'", R, "SHOW is refused"),
    "show_processlist": Case("SHOW PROCESSLIST", R, "SHOW is refused"),
    "describe_file": Case(f"DESCRIBE TABLE file('{{secret}}', {LINES})", R, "DESCRIBE"),
    # Settings from inside the query.
    "settings_readonly": Case("SELECT 1 SETTINGS readonly = 0", R, "SETTINGS clause (readonly)"),
    "settings_subquery": Case(
        "SELECT * FROM (SELECT 1 SETTINGS max_execution_time = 0)", R, "max_execution_time"
    ),
    "settings_limits": Case(
        "SELECT count() FROM canary SETTINGS max_result_rows = 0, max_memory_usage = 0",
        R,
        "SETTINGS clause (max_result_rows, max_memory_usage)",
    ),
    "settings_union": Case("SELECT 1 UNION ALL SELECT 2 SETTINGS readonly = 2", R, "SETTINGS"),
    # Table functions, wherever they hide.
    "file": Case(f"SELECT * FROM file('{{secret}}', {LINES})", R, "table function file()"),
    "environ": Case(
        f"SELECT * FROM file('/proc/self/environ', {LINES})", R, "table function file()"
    ),
    "file_scalar": Case("SELECT file('{secret}')", R, "function file(): reads a file"),
    "file_in": Case(
        f"SELECT a FROM canary WHERE toString(a) IN file('{{secret}}', {LINES})",
        R,
        "function file()",
    ),
    "file_subquery": Case(
        f"SELECT * FROM (SELECT * FROM file('{{secret}}', {LINES}))", R, TABLE_FN
    ),
    "file_cte": Case(
        f"WITH s AS (SELECT * FROM file('{{secret}}', {LINES})) SELECT * FROM s", R, TABLE_FN
    ),
    "file_join": Case(
        f"SELECT * FROM canary AS c JOIN file('{{secret}}', {LINES}) AS f ON 1 = 1", R, TABLE_FN
    ),
    "file_union": Case(
        f"SELECT toString(a) FROM canary UNION ALL SELECT * FROM file('{{secret}}', {LINES})",
        R,
        TABLE_FN,
    ),
    "url": Case("SELECT * FROM url('http://127.0.0.1:9/x', CSV, 'a String')", R, "url()"),
    "url_in_subquery": Case(
        "SELECT a FROM canary WHERE a IN (SELECT * FROM url('http://127.0.0.1:9/', 'TSV', "
        "'a Int64'))",
        R,
        "table function url()",
    ),
    "s3": Case("SELECT * FROM s3('http://127.0.0.1:9/bucket/key.csv')", R, "s3()"),
    "remote": Case("SELECT * FROM remote('127.0.0.1', system.settings)", R, "remote()"),
    "executable": Case("SELECT * FROM executable('id', 'TSV', 'x String')", R, "executable()"),
    "input": Case("SELECT * FROM input('a Int32')", R, "input()"),
    "mysql": Case("SELECT * FROM mysql('127.0.0.1:9', 'd', 't', 'u', 'p')", R, "mysql()"),
    "postgresql": Case(
        "SELECT * FROM postgresql('127.0.0.1:9', 'd', 't', 'u', 'p')", R, "postgresql()"
    ),
    "merge": Case("SELECT * FROM merge('system', '^settings$')", R, "merge()"),
    "view": Case("SELECT * FROM view(SELECT * FROM system.settings)", R, "view()"),
    "numbers": Case("SELECT * FROM numbers(10)", R, "table function numbers()"),
    "numbers_in": Case("SELECT 1 FROM canary WHERE a IN numbers(3)", R, "numbers()"),
    "dictionary_fn": Case("SELECT * FROM dictionary('secrets')", R, "dictionary()"),
    "dict_get": Case("SELECT dictGet('secrets', 'v', toUInt64(1))", R, "dictGet()"),
    "dict_get_string": Case("SELECT dictGetString('secrets', 'v', 1)", R, "dictGetString()"),
    "join_get": Case("SELECT joinGet('system.x', 'y', 1)", R, "joinGet()"),
    "catboost": Case("SELECT catboostEvaluate('{secret}', 1)", R, "catboostEvaluate()"),
    "server_setting": Case("SELECT getServerSetting('path')", R, "getServerSetting()"),
    # Tables outside the project's database.
    "system_settings": Case("SELECT * FROM system.settings", R, "table system.settings"),
    "server_settings": Case("SELECT name, value FROM system.server_settings", R, "system."),
    "processes": Case("SELECT query FROM system.processes", R, "system.processes"),
    "query_log": Case("SELECT query FROM system.query_log", R, "system.query_log"),
    "named_collections": Case(
        "SELECT * FROM `system`.`named_collections`", R, "system.named_collections"
    ),
    "in_system_table": Case(
        "SELECT a FROM canary WHERE toString(a) IN system.settings", R, "system.settings"
    ),
    "information_schema": Case("SELECT * FROM INFORMATION_SCHEMA.TABLES", R, "INFORMATION"),
    "system_numbers": Case("SELECT * FROM system.numbers LIMIT 5", R, "system.numbers"),
    "other_database": Case("SELECT * FROM default.canary", R, "table default.canary"),
    "system_users": Case("SELECT name, auth_type FROM system.users", R, "system.users"),
    "client_header": Case(
        "SELECT getClientHTTPHeader('Authorization')", R, "getClientHTTPHeader()"
    ),
    "cluster": Case("SELECT * FROM cluster('default', system.settings)", R, "cluster()"),
    "generate_random": Case("SELECT * FROM generateRandom('a String') LIMIT 1", R, "generateRa"),
    "chdb_python": Case("SELECT * FROM python('import os')", R, "table function python()"),
    "insert_values": Case("INSERT INTO canary VALUES (4)", R, "INSERT is not"),
    # Unicode and size tricks.
    "greek_question_mark": Case("SELECT 1\u037e DROP TABLE canary", S, "Syntax error"),
    "fullwidth_semicolon": Case("SELECT 1\uff1b DROP TABLE canary", S, "Syntax error"),
    "fullwidth_select": Case("\uff33\uff25\uff2c\uff25\uff23\uff34 1", S, "Syntax error"),
    "zero_width_space": Case("SELECT 1;\u200b DROP TABLE canary", R, MULTI),
    "byte_order_mark": Case("\ufeffDROP TABLE canary", R, "DROP is not"),
    "rtl_override": Case("SELECT 1 /* \u202e */; DROP TABLE canary", R, MULTI),
    "cyrillic": Case("SELECT '\u0430'; DROP TABLE canary", R, MULTI),
    "very_long": Case("SELECT 1" + " " * 200_000, R, "characters long; at most 100,000"),
    "deep_nesting": Case("SELECT " + "(" * 3000 + "1" + ")" * 3000, S, "parse depth"),
    # Limits.
    "too_many_rows": Case("SELECT arrayJoin(range(5000))", L, "max_result_rows = 100"),
    "too_many_table_rows": Case(
        "SELECT a FROM canary ARRAY JOIN range(1000) AS r", L, "max_result_rows = 100"
    ),
    "too_slow": Case(
        "SELECT count() FROM (SELECT arrayJoin(range(100000)) AS a) AS l "
        "CROSS JOIN (SELECT arrayJoin(range(100000)) AS b) AS r",  # 10^10 rows, little memory
        L,
        "max_execution_time = 3 s",
    ),
    "too_much_memory": Case(
        "SELECT length(groupArray(repeat('x', 1000))) FROM (SELECT arrayJoin(range(3000000)))",
        L,
        "max_memory_usage = 268,435,456 bytes",
    ),
}

ORDINARY = {
    "select_1": ("SELECT 1", [[1]]),
    "trailing_semicolon_and_comment": ("-- count\nSELECT count() FROM canary; ", [[3]]),
    "semicolon_in_string": ("SELECT ';' AS s, '/*' AS a, '*/' AS b", [[";", "/*", "*/"]]),
    "with_join_group_by": (
        "WITH c AS (SELECT a FROM canary WHERE a > 1) "
        "SELECT count() AS n, sum(canary.a) FROM canary JOIN c USING a GROUP BY a > 0",
        [[2, 5]],
    ),
    "subquery_in": ("SELECT count() FROM canary WHERE a IN (SELECT max(a) FROM canary)", [[1]]),
    "union_intersect": (
        "SELECT * FROM (SELECT a FROM canary WHERE a = 1 UNION ALL "
        "(SELECT a FROM canary INTERSECT SELECT toInt64(2))) ORDER BY a",
        [[1], [2]],
    ),
    "window": (
        "SELECT a, sum(a) OVER (ORDER BY a ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        "FROM canary ORDER BY a",
        [[1, 1], [2, 3], [3, 6]],
    ),
    "date_spine": ("SELECT count() FROM (SELECT arrayJoin(range(7)) AS d)", [[7]]),
    "records_by_category": (
        "SELECT category, count() AS n FROM records_raw FINAL GROUP BY category ORDER BY 1",
        [["license", 1], ["penalty", 2]],
    ),
    "dashboard_view": ("SELECT sum(records) FROM v_daily_volume", [[3]]),
    "schema": (
        "SELECT count() > 5 FROM system.tables WHERE database = currentDatabase()",
        [[1]],
    ),
    "columns": (
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'canary'",
        [["a"]],
    ),
}


@pytest.fixture(scope="module")
def store(chdb_dsn, tmp_path_factory):
    database = f"cs_attack_{uuid.uuid4().hex[:10]}"
    clickhouse = connect_clickhouse(chdb_dsn, database)
    sink = ClickHouseSink(clickhouse)
    sink.setup()
    records = [make_enriched("penalty", n=301), make_enriched("penalty", n=302)]
    assert not sink.write_batch([*records, make_enriched("license", n=301)]).rejected
    clickhouse.command("CREATE TABLE canary (a Int64) ENGINE = MergeTree ORDER BY a")
    clickhouse.command("INSERT INTO canary VALUES (1), (2), (3)")
    clickhouse.command("CREATE TABLE IF NOT EXISTS default.canary (a Int64) ENGINE = Memory")
    root = tmp_path_factory.mktemp("attack")
    (root / "secret.txt").write_text(SECRET)
    (root / "out").mkdir()
    yield clickhouse, database, root
    clickhouse.command(f"DROP DATABASE IF EXISTS `{database}`")
    clickhouse.command("DROP TABLE IF EXISTS default.canary")
    clickhouse.close()


@pytest.fixture(scope="module")
def http(store, redis_url):
    clickhouse, _, _ = store
    deps = HttpDeps(
        reader=PublicityReader(redis.Redis.from_url(redis_url)),
        analytics=functools.partial(run_readonly_query, clickhouse, limits=LIMITS),
        operator_token_sha256=hash_token(TOKEN),
    )
    with TestClient(create_http_app(deps), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


@pytest.fixture(scope="module")
def cli(store, chdb_dsn):
    _, database, root = store
    env = {
        "CREDITSYNC_CLICKHOUSE_DSN": chdb_dsn,
        "CREDITSYNC_CLICKHOUSE_DATABASE": database,
        "CREDITSYNC_DATA_DIR": str(root / "data"),  # no run.pid: the direct route
        "COLUMNS": "200",
        **LIMIT_ENV,
    }
    runner = CliRunner()

    def run(sql: str):
        return runner.invoke(cli_app, ["sql", sql], env=env)

    return run


def flat(text: str) -> str:
    return " ".join(text.split())


def fill(sql: str, root: Path, name: str) -> str:
    return sql.replace("{out}", str(root / "out" / f"{name}.csv")).replace(
        "{secret}", str(root / "secret.txt")
    )


def assert_untouched(store, answer: str) -> None:
    clickhouse, database, root = store
    assert SECRET not in answer
    assert list((root / "out").iterdir()) == [], "a file was written"
    assert clickhouse.query("SELECT count() FROM canary").result_rows == [(3,)]
    tables = clickhouse.query(
        f"SELECT name FROM system.tables WHERE database = '{database}' AND name = 'pwned'"
    )
    assert tables.result_rows == []
    # chdb's SET is engine-wide: the sink's client must not have been left read-only.
    assert clickhouse.query("SELECT getSetting('readonly')").result_rows == [(0,)]


@pytest.mark.parametrize("name", list(CORPUS))
def test_attack_is_refused_over_http(name, store, http):
    case = CORPUS[name]
    response = http.post("/v1/analytics/sql", json={"sql": fill(case.sql, store[2], name)})
    body = response.json()
    expected = {
        R: (403, "not_read_only"),
        S: (400, "query_failed"),
        L: (400, "query_limit_exceeded"),
    }[case.outcome]
    assert (response.status_code, body["error"]) == expected, body
    assert flat(case.says) in flat(body["message"])
    assert_untouched(store, response.text)


@pytest.mark.parametrize("name", list(CORPUS))
def test_attack_is_refused_by_the_cli(name, store, cli):
    case = CORPUS[name]
    result = cli(fill(case.sql, store[2], name))
    assert result.exit_code == (2 if case.outcome == R else 1), result.output
    assert flat(case.says) in flat(result.output)
    assert_untouched(store, result.output)


def test_corpus_size():
    # Reported in the issue; grows, never shrinks.
    assert len(CORPUS) >= 90


@pytest.mark.parametrize("name", list(ORDINARY))
def test_ordinary_queries_run_over_http(name, http):
    sql, rows = ORDINARY[name]
    response = http.post("/v1/analytics/sql", json={"sql": sql})
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == rows


@pytest.mark.parametrize("name", ["select_1", "with_join_group_by", "records_by_category"])
def test_ordinary_queries_run_from_the_cli(name, cli):
    sql, rows = ORDINARY[name]
    result = cli(sql)
    assert result.exit_code == 0, result.output
    assert all(str(value) in result.output for value in rows[0])


def test_clickhouse_itself_keeps_readonly_and_the_limits(store):
    # The second lock, without the AST check: under readonly=1 as a query setting, a
    # top-level SETTINGS that lifts it is refused, and one inside a subquery is ignored.
    clickhouse = store[0]
    with pytest.raises(Exception, match="Cannot modify 'readonly' setting in readonly mode"):
        clickhouse.query("SELECT 1 SETTINGS readonly = 0", settings=LIMITS.settings())
    inner = (
        "SELECT * FROM (SELECT getSetting('readonly'), getSetting('max_execution_time') "
        "SETTINGS readonly = 0, max_execution_time = 0)"
    )
    assert clickhouse.query(inner, settings=LIMITS.settings()).result_rows == [(1, 3.0)]
    assert clickhouse.query("SELECT getSetting('readonly')").result_rows == [(0,)]
