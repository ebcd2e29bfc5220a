"""Migration 6: the typed tables of issue #17's categories and the views that fill them.

动产抵押登记, 股权出质登记, 司法协助, 小微企业享受扶持政策信息 and 纳税信用等级 get a typed
table each, in the shape of m0001's (common columns, then one column per field of
schemas/categories.py), and a view from `records_stage` as m0005 has for the others, so the
native path and the Python path (sinks/clickhouse/rows.py) make the same rows.

Personal data (DOMAIN.md "Privacy"): a pledgor's or judgment debtor's ID number is kept only
as its keyed hash (`id_document_number_hash`), as the restriction's is; its masked form has
no column and leaves `records_raw`'s JSON by m0005's view.

Frozen once shipped, like every migration: add m0009+ to change these tables.
"""

from __future__ import annotations

from sinks.clickhouse.migrations.m0001_tables import COMMON, DEDUP
from sinks.clickhouse.migrations.m0005_landing import _columns, _from_stage

CATEGORY_COLUMNS: dict[str, str] = {
    "chattel_mortgage": """
    mortgage_number String,
    registered_on Nullable(Date32),
    registering_authority LowCardinality(String),
    secured_amount Nullable(Decimal(18, 2)),
    status LowCardinality(String),
    secured_claim_kind LowCardinality(String),
    mortgagee String,
    collateral String,
    published_on Nullable(Date32)""",
    "equity_pledge": """
    pledge_number String,
    pledgor String,
    id_document_type LowCardinality(String),
    pledged_amount Nullable(Decimal(18, 2)),
    pledgee String,
    registered_on Nullable(Date32),
    status LowCardinality(String),
    published_on Nullable(Date32),
    changes String,
    id_document_number_hash String""",
    "judicial_assistance": """
    notice_number String,
    assistance_type LowCardinality(String),
    assistance_status LowCardinality(String),
    debtor String,
    id_document_type LowCardinality(String),
    equity_amount Nullable(Decimal(18, 2)),
    enforcing_court LowCardinality(String),
    ruling_number String,
    enforcement_item String,
    executed_on Nullable(Date32),
    frozen_from Nullable(Date32),
    frozen_to Nullable(Date32),
    unfrozen_on Nullable(Date32),
    transferee String,
    published_on Nullable(Date32),
    id_document_number_hash String""",
    "small_business_support": """
    supporting_department LowCardinality(String),
    support_type LowCardinality(String),
    support_content String,
    support_amount Nullable(Decimal(18, 2)),
    implemented_on Nullable(Date32),
    policy_basis String""",
    "tax_credit_rating": """
    evaluation_year LowCardinality(String),
    credit_grade LowCardinality(String),
    evaluating_authority LowCardinality(String),
    published_on Nullable(Date32)""",
}

STATEMENTS: list[str] = [
    # As m0001: the current state per item, the greatest version of (uscc, record_key).
    *[
        f"""CREATE TABLE IF NOT EXISTS {table} ({COMMON},{columns}
) ENGINE = ReplacingMergeTree(version_number)
ORDER BY (uscc, record_key) {DEDUP}"""
        for table, columns in CATEGORY_COLUMNS.items()
    ],
    *[_from_stage(table, table, _columns(ddl)) for table, ddl in CATEGORY_COLUMNS.items()],
]
