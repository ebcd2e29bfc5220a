"""The public page and the dashboard in a real browser: headless Debian chromium.

uvicorn serves the app on a socket bound before it starts (so the browser can connect at
once, no waiting), over a seeded Redis index and chdb store. Screenshots are kept in
artifacts/screenshots/ for people to look at; the assertions read the page's DOM.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from creditsync.http import HttpDeps, create_http_app
from schemas.identifiers import make_resident_id
from sinks.clickhouse import ClickHouseSink, connect_clickhouse, run_readonly_query
from sinks.publicity import PublicityIndex, PublicityReader
from streams.rules.privacy import contains_resident_id
from tests.factories import make_enriched, newer

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
NAME = "宁夏西吉县六盘山清真食品有限公司"
RESIDENT_ID = make_resident_id("640422", dt.date(1979, 2, 3), "456")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def seed_records() -> list:
    records = [
        make_enriched("registration", n=301, payload={"name": NAME}),
        make_enriched(
            "penalty",
            n=301,
            canonical_name=NAME,
            publication_status="under_review",
            payload={"remarks": f"法定代表人证件号{RESIDENT_ID}"},
        ),
        make_enriched("license", n=301, canonical_name=NAME),
        make_enriched("restriction", n=301, canonical_name=NAME),
        make_enriched("inspection", n=301, canonical_name=NAME),
    ]
    # Issue #17: a listing and its removal, which leaves the section for the history.
    listed = make_enriched(
        "abnormal_operation",
        n=301,
        canonical_name=NAME,
        record_key="西市监异〔2024〕301号",  # the listing number, as the category keys it
        payload={"listing_number": "西市监异〔2024〕301号", "reason": "未按规定报送年度报告"},
    )
    records += [
        listed,
        newer(
            listed,
            publication_status="removed",
            ended_on=dt.date(2025, 3, 3),
            end_reason="移出经营异常名录：已补报年度报告",
        ),
    ]
    for n in range(302, 312):
        region = ("640422", "640104", "110105")[n % 3]
        records.append(make_enriched("registration", n=n, region_code=region))
        records.append(
            make_enriched(
                "penalty",
                n=n,
                region_code=region,
                emitted_at=dt.datetime(2024, 6, 1 + n % 5, tzinfo=dt.UTC),
            )
        )
        records.append(make_enriched("restriction", n=n, region_code=region))
    # 25 more penalties of enterprise 302: its section needs a second page.
    for i in range(25):
        records.append(
            make_enriched(
                "penalty",
                n=302,
                region_code="110105",  # 302 % 3 == 2: registered in 110105
                occurred_at=dt.date(2024, 1, 1) + dt.timedelta(days=i),
                payload={"decision_number": f"银市监罚〔2024〕{i + 1}号"},
            )
        )
    return records


@pytest.fixture
def server(redis_client, chdb_dsn, clickhouse_database) -> Iterator[str]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    records = seed_records()
    index = PublicityIndex(redis_client)
    index.setup()
    assert not index.write_batch(records).rejected
    clickhouse = connect_clickhouse(chdb_dsn, clickhouse_database)
    sink = ClickHouseSink(clickhouse)
    sink.setup()
    assert not sink.write_batch(records).rejected
    app = create_http_app(
        HttpDeps(
            reader=PublicityReader(redis_client),
            analytics=functools.partial(run_readonly_query, clickhouse),
        )
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue here until uvicorn accepts them
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        sock.close()
        clickhouse.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}`")
        clickhouse.close()
    assert not thread.is_alive(), "uvicorn did not stop"


def chromium(tmp_path: Path, url: str, *, screenshot: Path | None = None) -> str:
    """Run headless chromium on `url`: the DOM after scripts ran, or a screenshot."""
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1600",
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
    ]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    done = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # The pages run under a strict CSP (creditsync/security_headers.py): chromium logs every
    # script, style or fetch the policy refused.
    refused = [line for line in done.stderr.splitlines() if "Content Security Policy" in line]
    assert not refused, "\n".join(refused[:5])
    return done.stdout


def assert_screenshot(path: Path) -> None:
    assert path.exists(), f"chromium wrote no screenshot at {path}"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # A blank 1280x1600 page compresses to a few kB; a drawn page is far larger.
    assert len(data) > 30_000, f"{path} is only {len(data)} bytes: the page looks empty"


def test_public_page_deep_link_shows_the_profile(server, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    url = f"{server}/?q={NAME}"
    dom = chromium(tmp_path, url)
    for text in (
        NAME,
        "登记信息",
        "行政许可",
        "行政处罚",
        "抽查检查",
        "经营异常名录",
        "严重违法失信名单/黑名单",
        "守信红名单",
        "异议处理中",
        "西市监罚〔2024〕301号",
        "640422********1234",
    ):
        assert text in dom, f"{text!r} not on the page"
    assert RESIDENT_ID not in dom
    assert not contains_resident_id(dom)
    shot = SCREENSHOTS / "public-profile.png"
    chromium(tmp_path, url, screenshot=shot)
    assert_screenshot(shot)


def test_public_page_shows_a_removal_in_the_history(server, tmp_path):
    dom = chromium(tmp_path, f"{server}/?q={NAME}")
    assert 'id="section-history"' in dom
    history = dom.split('id="section-history"', 1)[1].split("</section>", 1)[0]
    for text in (
        "历史记录（已移出公示）",
        "（1条）",
        "经营异常名录",
        "西市监异〔2024〕301号",  # the title field stays
        "2025-03-03",
        "移出经营异常名录：已补报年度报告",
        "已移出",
    ):
        assert text in history, f"{text!r} not in the history section"
    assert "未按规定报送年度报告" not in history  # the listing's content does not
    abnormal = dom.split('id="section-abnormal_operation"', 1)[1].split("</section>", 1)[0]
    assert "暂无信息" in abnormal  # it left the public section


def test_a_long_section_is_paged(server, tmp_path):
    from tests.factories import make_codes

    uscc = make_codes(302, "110105")["uscc"]
    dom = chromium(tmp_path, f"{server}/?code={uscc}")
    assert "（26条）" in dom  # 25 + the seeded one, counted on the server
    assert "第 1 / 2 页" in dom
    assert "银市监罚〔2024〕25号" in dom  # newest first
    assert "银市监罚〔2024〕1号" not in dom  # on page 2


def test_public_page_reports_an_invalid_code(server, tmp_path):
    dom = chromium(tmp_path, f"{server}/?code=91640422000000019X")
    assert "check character expected" in dom


def test_dashboard_draws_the_views(server, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dom = chromium(tmp_path, f"{server}/dashboard")
    assert "信用信息归集分析看板" in dom
    assert "更新于" in dom  # the first refresh completed
    assert "无法读取" not in dom  # no panel failed to load its view
    assert dom.count("<svg") >= 7
    assert "西吉县" in dom  # restrictions by region
    assert "宁夏回族自治区市场监督管理厅" in dom  # volume by department
    shot = SCREENSHOTS / "dashboard.png"
    chromium(tmp_path, f"{server}/dashboard", screenshot=shot)
    assert_screenshot(shot)
