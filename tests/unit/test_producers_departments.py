"""Department access configuration: loading, authentication, rights, helpful errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.departments import hash_token, load_departments, main
from producers.errors import DepartmentConfigError
from producers.ratelimit import RateLimit

EXAMPLE = Path(__file__).resolve().parents[2] / "producers" / "departments.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "departments.toml"
    path.write_text(text, encoding="utf-8")
    return path


def entry(code: str = "sw-640000", token: str = "t-1", categories: str = '["penalty"]') -> str:
    return (
        f'[[departments]]\ncode = "{code}"\nname = "税务局"\n'
        f'token_sha256 = "{hash_token(token)}"\ncategories = {categories}\n'
    )


def test_the_example_file_loads_and_its_documented_tokens_work() -> None:
    directory = load_departments(EXAMPLE)
    market = directory.authenticate("example-token-scjg-640000")
    assert market is not None and market.code == "scjg-640000"
    assert market.department == {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"}
    assert market.may_submit("penalty") and not market.may_submit("objection")
    assert market.rate_limit == RateLimit(200.0, 2000)
    # A county registration authority without a network: 5 working days for registrations.
    county = directory.authenticate("example-token-scjg-640422")
    assert county is not None and county.code == "scjg-640422" and county.networked is False
    assert market.networked is True
    court = directory.get("fy-640000")
    assert court.may_submit("restriction") and not court.may_submit("license")
    # The tokens are documented in comments only; the settings hold nothing but hashes.
    settings = [ln for ln in EXAMPLE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    assert not any("example-token" in line for line in settings)


def test_authenticate_refuses_unknown_and_empty_tokens(tmp_path: Path) -> None:
    directory = load_departments(write(tmp_path, entry()))
    assert directory.authenticate("t-1") is not None
    assert directory.authenticate("t-2") is None
    assert directory.authenticate("") is None
    assert directory.authenticate(None) is None
    # The hash, should it leak, is not itself a token.
    assert directory.authenticate(hash_token("t-1")) is None


def test_hash_token_is_sha256_hex() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(ValueError, match="empty token"):
        hash_token("")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("departments = [", "not valid TOML"),
        ("title = 'x'", r"expected one or more \[\[departments\]\] tables"),
        (entry(code="Bad Code!"), r"departments\[0\]\.code: expected lower-case"),
        (entry().replace(hash_token("t-1"), "t-1"), "token_sha256: expected 64 lower-case hex"),
        (entry(categories='["penalties"]'), r"categories: unknown \['penalties'\]"),
        (entry(categories="[]"), "categories: expected a list"),
        (entry() + entry(token="t-2"), "department code 'sw-640000' is repeated"),
        (entry() + entry(code="fy-640000"), "'sw-640000' and 'fy-640000' share one token"),
        (entry() + "rate_limit = { per_second = 0 }\n", "per_second must be a positive"),
        (entry() + "rate_limit = { per_second = 5, burst = 1.5 }\n", "burst: expected a whole"),
    ],
)
def test_config_errors_name_the_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DepartmentConfigError, match=message) as info:
        load_departments(write(tmp_path, text))
    assert str(tmp_path / "departments.toml") in str(info.value)


def test_unknown_department_code_lists_the_configured_ones(tmp_path: Path) -> None:
    directory = load_departments(write(tmp_path, entry()))
    with pytest.raises(KeyError, match="configured: sw-640000"):
        directory.get("nobody")


def test_cli_prints_a_new_token_with_its_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-token"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].rsplit(" ", 1)[1]
    assert lines[1] == f'token_sha256 = "{hash_token(token)}"'
    assert main(["hash-token", "abc"]) == 0
    assert hash_token("abc") in capsys.readouterr().out
