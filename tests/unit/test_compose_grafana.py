"""infra/compose.yaml's ClickHouse server and Grafana: the YAML parses, the datasource points at
the compose service, and every file mounted into the containers exists (no Docker here)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
PLUGIN = "grafana-clickhouse-datasource"


def _compose() -> dict:
    return yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8"))


def _mounts(service: dict) -> dict[str, Path]:
    """Container path -> host path of each bind mount (named volumes left out)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (INFRA / source).resolve()
    return mounts


def test_compose_has_a_clickhouse_server_and_grafana_with_the_plugin():
    services = _compose()["services"]
    assert {"clickhouse", "grafana"} <= set(services)
    grafana = services["grafana"]
    assert PLUGIN in grafana["environment"]["GF_INSTALL_PLUGINS"]
    assert "clickhouse" in grafana["depends_on"]
    assert services["clickhouse"]["environment"]["CLICKHOUSE_DB"] == "creditsync"
    dsn = services["creditsync-run"]["environment"]["CREDITSYNC_CLICKHOUSE_DSN"]
    assert dsn.startswith("http://") and dsn.endswith("@127.0.0.1:8123/creditsync")


def test_every_bind_mount_exists():
    for name, service in _compose()["services"].items():
        for target, source in _mounts(service).items():
            assert source.exists(), (name, target, source)


def test_the_datasource_is_the_clickhouse_service():
    services = _compose()["services"]
    mounts = _mounts(services["grafana"])
    provisioning = mounts["/etc/grafana/provisioning"]
    datasources = yaml.safe_load(
        (provisioning / "datasources" / "clickhouse.yaml").read_text(encoding="utf-8")
    )["datasources"]
    (source,) = datasources
    assert source["type"] == PLUGIN and source["isDefault"] is True
    assert source["jsonData"]["host"] in services
    assert f"{source['jsonData']['port']}:" in services["clickhouse"]["ports"][0]
    assert source["jsonData"]["defaultDatabase"] == "creditsync"
    # The password comes from the environment Grafana is given, never from this file.
    assert source["secureJsonData"]["password"] == "${GRAFANA_CLICKHOUSE_PASSWORD}"
    assert "GRAFANA_CLICKHOUSE_PASSWORD" in services["grafana"]["environment"]


def test_the_dashboard_provider_loads_the_mounted_dashboard():
    services = _compose()["services"]
    mounts = _mounts(services["grafana"])
    providers = yaml.safe_load(
        (mounts["/etc/grafana/provisioning"] / "dashboards" / "creditsync.yaml").read_text(
            encoding="utf-8"
        )
    )["providers"]
    path = providers[0]["options"]["path"]
    dashboards = [m for t, m in mounts.items() if t.startswith(path + "/")]
    assert dashboards == [(INFRA / "grafana" / "creditsync-dashboard.json").resolve()]
    dashboard = json.loads(dashboards[0].read_text(encoding="utf-8"))
    assert dashboard["uid"] == "creditsync-analytics"
    assert {p["datasource"]["type"] for p in dashboard["panels"]} == {PLUGIN}
