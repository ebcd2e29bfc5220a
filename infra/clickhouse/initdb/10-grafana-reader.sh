#!/bin/bash
# Runs once, when the clickhouse service starts on an empty volume (the image runs
# /docker-entrypoint-initdb.d/*.sh as CLICKHOUSE_USER): the creditsync database and a
# `grafana` user that may only read it. readonly=2: no writes or DDL, but the query settings
# the Grafana plugin sends are allowed (readonly=1 refuses them).
set -euo pipefail
clickhouse client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --multiquery <<SQL
CREATE DATABASE IF NOT EXISTS creditsync;
CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY '${GRAFANA_CLICKHOUSE_PASSWORD}'
    SETTINGS readonly = 2;
GRANT SELECT ON creditsync.* TO grafana;
SQL
