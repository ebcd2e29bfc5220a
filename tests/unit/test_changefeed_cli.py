"""`creditsync feed …` refuses bad input with one clear line and exit code 1, before any
service is contacted."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from creditsync.feeds_cli import register

EXAMPLE = (
    Path(__file__).resolve().parents[2] / "producers" / "changefeed" / "department.example.toml"
)


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps `feed` a sub-command, as in creditsync
        """Placeholder."""

    return app


def test_poll_without_a_database_url_says_where_to_give_one(monkeypatch):
    monkeypatch.delenv("CREDITSYNC_FEED_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli(), ["feed", "poll", "--mapping", str(EXAMPLE), "--once"])
    assert result.exit_code == 1, result.output
    assert "no database URL" in result.output
    assert "CREDITSYNC_FEED_DATABASE_URL" in result.output


def test_a_malformed_mapping_fails_naming_the_file(tmp_path):
    bad = tmp_path / "hb.toml"
    bad.write_text("[department]\ncode = 'hb'\n", encoding="utf-8")
    result = CliRunner().invoke(cli(), ["feed", "debezium", "--mapping", str(bad)])
    assert result.exit_code == 1, result.output
    assert "hb.toml" in result.output and "name" in result.output
