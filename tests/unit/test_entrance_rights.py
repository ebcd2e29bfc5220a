"""Category rights and unknown departments at every entrance: one clear line, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditsync.cli import app
from creditsync.ops.dead_letters import DeadLetter
from creditsync.ops.rejected import prepare_redrive
from producers.errors import UnknownDepartment

pytestmark = pytest.mark.security
SAMPLES = Path(__file__).resolve().parents[2] / "producers" / "samples"
EXAMPLE = Path(__file__).resolve().parents[2] / "producers" / "departments.example.toml"
runner = CliRunner()


def env(tmp_path: Path) -> dict[str, str]:
    # Kafka and Redis on closed ports: nothing may be reached before the check refuses.
    return {
        "CREDITSYNC_DEPARTMENTS_FILE": str(EXAMPLE),
        "CREDITSYNC_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "CREDITSYNC_REDIS_URL": "redis://127.0.0.1:9/0",
        "CREDITSYNC_DATA_DIR": str(tmp_path),
    }


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_ingest_with_an_unknown_department(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["ingest", str(SAMPLES / "penalty.csv"), "--department", "nobody-1"],
        env=env(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert "unknown department 'nobody-1'" in line and "scjg-640000" in line
    assert result.stdout == ""


@pytest.mark.parametrize("category", [None, "penalty"])
def test_ingest_without_rights_to_the_category(tmp_path: Path, category: str | None) -> None:
    # fy-640000 (the court) may send restrictions and feedback only, not penalties.
    args = ["ingest", str(SAMPLES / "penalty.csv"), "--department", "fy-640000"]
    result = runner.invoke(app, args + (["--category", category] if category else []),
                           env=env(tmp_path))  # fmt: skip
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert "fy-640000" in line and "may not submit 'penalty'" in line
    assert "restriction" in line  # what it may submit


def test_feed_with_an_unknown_department_or_category(tmp_path: Path) -> None:
    mapping = tmp_path / "feed.toml"
    source = (SAMPLES.parent / "changefeed" / "department.example.toml").read_text("utf-8")
    mapping.write_text(source.replace('code = "hb-640000"', 'code = "fy-640000"'), "utf-8")
    result = runner.invoke(app, ["feed", "poll", "--mapping", str(mapping), "--once",
                                 "--database-url", "sqlite://"], env=env(tmp_path))  # fmt: skip
    assert result.exit_code == 1
    assert "may not submit 'penalty'" in one_error_line(result.stderr)
    mapping.write_text(source.replace('code = "hb-640000"', 'code = "nobody-1"'), "utf-8")
    result = runner.invoke(app, ["feed", "debezium", "--mapping", str(mapping)],
                           env=env(tmp_path))  # fmt: skip
    assert result.exit_code == 1
    assert "unknown department 'nobody-1'" in one_error_line(result.stderr)


def letter(department: str, category: str) -> DeadLetter:
    body = f'{{"category": "{category}", "department": "{department}", "fields": {{}}}}'
    headers = (
        ("__connect.errors.topic", f"credit.intake.{category}".encode()),
        ("__connect.errors.offset", b"-1"),
        ("creditsync.department", department.encode()),
        ("creditsync.category", category.encode()),
    )
    return DeadLetter("credit.rejected:0:5", 0, None, body.encode(), headers)


def test_redrive_refuses_a_category_the_department_may_not_send(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CREDITSYNC_DEPARTMENTS_FILE", str(EXAMPLE))
    record, outcome = prepare_redrive(letter("fy-640000", "penalty"))
    assert record is None and outcome.status == "still_rejected"
    assert outcome.detail.startswith("category_not_allowed:")
    assert "may not submit 'penalty'" in outcome.detail
    with pytest.raises(UnknownDepartment, match="nobody-1"):
        prepare_redrive(letter("nobody-1", "penalty"))


def test_ingest_with_an_unknown_category(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["ingest", str(SAMPLES / "penalty.csv"), "--department", "scjg-640000",
         "--category", "unknowncat"],
        env=env(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert "unknown category 'unknowncat'" in line and "penalty" in line


@pytest.mark.parametrize(
    ("department", "category", "allowed"),
    [
        ("sw-640000", "judicial_assistance", "tax_credit_rating"),  # tax bureau: no court orders
        ("fy-640000", "tax_credit_rating", "judicial_assistance"),  # court: no tax ratings
        ("hb-640000", "chattel_mortgage", "inspection"),  # environment: no registrations
        ("sw-640000", "equity_pledge", "penalty"),
    ],
)
def test_issue17_categories_only_from_their_departments(
    tmp_path: Path, department: str, category: str, allowed: str
) -> None:
    """A hostile department is refused before anything is read or published (issue #17)."""
    args = ["ingest", str(SAMPLES / f"{category}.csv"), "--department", department]
    result = runner.invoke(app, args, env=env(tmp_path))
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert department in line and f"may not submit '{category}'" in line
    assert allowed in line  # what it may submit
