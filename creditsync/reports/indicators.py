"""The analysts' reports over the migration-8 views: monthly indicators, scorecard, conversion.

Each report runs read-only queries through a `Query` (the one `creditsync sql` uses: straight
to ClickHouse, or through the running `creditsync run` that owns chdb) and becomes a
`Report`: keyed rows for JSON, Chinese column labels for CSV/XLSX, the reporting period.
Per-category counts are pivoted here over schemas.categories, so a new category is a new
column without touching a view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from creditsync.reports.export import Sheet
from creditsync.reports.periods import ReportingPeriod
from schemas.categories import CATEGORIES, WORKFLOW_CATEGORIES, category_spec


class QueryResultLike(Protocol):
    columns: list[str]
    rows: list[tuple[Any, ...]]


Query = Callable[[str], QueryResultLike]
TOTAL = "合计"
DUE_RULE = "每月25日前报送上月监测指标，seed 003 第26条"
SOURCE_NOTE = "数据来源：creditsync 分析库（ClickHouse）视图 {view}；月份按北京时间的报送时间计"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str


@dataclass(frozen=True)
class Report:
    """A report as its rows (dicts by column key) and what it covers."""

    title: str
    name: str  # file stem: monthly-2026-11
    columns: list[Column]
    rows: list[dict[str, Any]]
    period: ReportingPeriod | None
    generated_at: dt.datetime
    notes: list[str] = field(default_factory=list)

    def about(self) -> list[tuple[str, str]]:
        lines = [("报告", self.title)]
        if self.period is not None:
            lines += [
                ("报告期", f"{self.period.month}（{self.period.label}）"),
                ("报送截止", f"{self.period.due_before.isoformat()} 前（{DUE_RULE}）"),
            ]
        lines.append(("生成时间", self.generated_at.isoformat(timespec="seconds")))
        return lines + [("说明", note) for note in self.notes]

    def sheet(self) -> Sheet:
        """The rows under Chinese labels; a monthly report's rows carry its period."""
        return Sheet(
            self.title[:31],
            [c.label for c in self.columns],
            [[row.get(c.key) for c in self.columns] for row in self.rows],
            about=self.about(),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "report": self.name,
            "title": self.title,
            "period": self.period.as_dict() if self.period else None,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "columns": {c.key: c.label for c in self.columns},
            "rows": self.rows,
            "notes": self.notes,
        }


def _dicts(result: QueryResultLike) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def collected_categories(seen: Sequence[str] = ()) -> list[str]:
    """The categories a monthly report counts: every non-workflow category in CATEGORIES'
    order, then any the data has that this build does not know yet."""
    known = [c for c in CATEGORIES if c not in WORKFLOW_CATEGORIES]
    extra = sorted({c for c in seen if c not in CATEGORIES})
    return known + extra


def category_label(category: str) -> str:
    try:
        return category_spec(category).chinese
    except KeyError:
        return category


_REGION = [
    Column("month", "报告期"),
    Column("region_code", "行政区划代码"),
    Column("province", "省"),
    Column("prefecture", "市"),
    Column("county", "县（区）"),
]
_MONTHLY_TAIL = [
    Column("shuang_gongshi_records", "双公示记录数（许可、处罚）"),
    Column("shuang_gongshi_on_time", "其中7个工作日内公示"),
    Column("shuang_gongshi_on_time_share", "双公示按时率"),
    Column("open_feedback", "月末未反馈联合惩戒通知"),
    Column("credit_repairs", "信用修复"),
    Column("objections_filed", "异议受理"),
    Column("objections_decided", "异议办结"),
]
_MONTHLY_SUMS = (
    "records",
    "shuang_gongshi_records",
    "shuang_gongshi_on_time",
    "open_feedback",
    "credit_repairs",
    "objections_filed",
    "objections_decided",
)


def monthly_report(query: Query, period: ReportingPeriod, now: dt.datetime) -> Report:
    """The month's indicators per region (county), with a 合计 row."""
    month = period.month  # YYYY-MM, checked by reporting_period: safe in the SQL text
    regions = _dicts(
        query(f"SELECT * FROM v_monthly_indicators WHERE month = '{month}' ORDER BY region_code")
    )
    counts = _dicts(
        query(
            "SELECT region_code, category, sum(records) AS records FROM v_monthly_records "
            f"WHERE month = '{month}' GROUP BY region_code, category"
        )
    )
    categories = collected_categories([c["category"] for c in counts])
    by_region: dict[str, dict[str, int]] = {}
    for c in counts:
        by_region.setdefault(c["region_code"], {})[c["category"]] = int(c["records"])
    rows = []
    for region in regions:
        row = {k.key: region.get(k.key) for k in _REGION}
        row["records"] = int(region["records"])
        for category in categories:
            row[f"records_{category}"] = by_region.get(region["region_code"], {}).get(category, 0)
        row.update({k.key: region.get(k.key) for k in _MONTHLY_TAIL})
        rows.append(row)
    if rows:
        total: dict[str, Any] = {k.key: None for k in (*_REGION, *_MONTHLY_TAIL)}
        total.update(month=month, region_code=TOTAL)
        for key in (*_MONTHLY_SUMS, *(f"records_{c}" for c in categories)):
            total[key] = sum(int(r[key] or 0) for r in rows)
        total["shuang_gongshi_on_time_share"] = _share(
            total["shuang_gongshi_on_time"], total["shuang_gongshi_records"]
        )
        rows.append(total)
    columns = [
        *_REGION,
        Column("records", "归集记录总数"),
        *(Column(f"records_{c}", f"归集：{category_label(c)}") for c in categories),
        *_MONTHLY_TAIL,
    ]
    return Report(
        f"信用状况监测指标 {month}",
        f"monthly-{month}",
        columns,
        rows,
        period,
        now,
        [
            SOURCE_NOTE.format(view="v_monthly_indicators, v_monthly_records"),
            "归集记录：各部门报送并入库的记录（不含异议、修复、反馈等业务事件和到期自动生成的记录）；"
            "按时率只计有时限的许可、处罚记录",
            "未反馈联合惩戒通知：月末仍未反馈且所涉限制未结束的通知，按企业所在地区计",
        ],
    )


_SCORECARD = [
    Column("month", "报告期"),
    Column("department_code", "部门代码"),
    Column("department_name", "部门"),
    Column("records", "报送记录数"),
    Column("with_deadline", "有时限记录数"),
    Column("within_deadline", "其中按时"),
    Column("on_time_share", "按时率"),
    Column("refused", "退回记录数"),
    Column("refusal_rate", "退回率"),
    Column("open_notices", "月末未反馈联合惩戒通知"),
    Column("findings", "查错查重问题（当月发现）"),
    Column("findings_open", "其中尚未处理"),
]


def scorecard_report(
    query: Query, period: ReportingPeriod, now: dt.datetime, department: str | None = None
) -> Report:
    """Each department's month (考核/通报), or one department's when `department` names its
    code."""
    rows = _dicts(
        query(
            "SELECT * FROM v_department_scorecard "
            f"WHERE month = '{period.month}' ORDER BY department_code"
        )
    )
    if department:
        rows = [r for r in rows if department in (r["department_code"], r["department_name"])]
    shown = [{c.key: r.get(c.key) for c in _SCORECARD} for r in rows]
    return Report(
        f"部门信用信息归集考核 {period.month}",
        f"scorecard-{period.month}",
        _SCORECARD,
        shown,
        period,
        now,
        [
            SOURCE_NOTE.format(view="v_department_scorecard"),
            "退回率 = 退回记录数 ÷（报送记录数 + 退回记录数）；按时率只计有公示时限的记录",
        ],
    )


_CONVERSION = [
    Column("region_code", "行政区划代码"),
    Column("province", "省"),
    Column("prefecture", "市"),
    Column("county", "县（区）"),
    Column("registration_authority", "登记机关"),
    Column("mapped_registration_numbers", "已映射注册号"),
    Column("mapped_organisation_codes", "已映射组织机构代码"),
    Column("outstanding_registration_numbers", "待映射注册号"),
    Column("outstanding_organisation_codes", "待映射组织机构代码"),
    Column("mapped", "已映射合计"),
    Column("outstanding", "待映射合计"),
    Column("mapped_share", "转换完成率"),
]
_CONVERSION_SUMS = tuple(c.key for c in _CONVERSION[5:11])


def conversion_report(query: Query, now: dt.datetime) -> Report:
    """Legacy codes mapped to a USCC vs still outstanding, by region and registering
    authority, as of now, with a 合计 row."""
    rows = _dicts(
        query("SELECT * FROM v_conversion_progress ORDER BY region_code, registration_authority")
    )
    shown = [{c.key: r.get(c.key) for c in _CONVERSION} for r in rows]
    for row in shown:
        if not row["registration_authority"]:
            row["registration_authority"] = "（尚无登记）"
    if shown:
        total: dict[str, Any] = {c.key: None for c in _CONVERSION} | {"region_code": TOTAL}
        for key in _CONVERSION_SUMS:
            total[key] = sum(int(r[key] or 0) for r in shown)
        total["mapped_share"] = _share(total["mapped"], total["mapped"] + total["outstanding"])
        shown.append(total)
    return Report(
        f"新旧代码转换进度（截至 {now.date().isoformat()}）",
        f"conversion-{now.date().isoformat()}",
        _CONVERSION,
        shown,
        None,
        now,
        [
            SOURCE_NOTE.format(view="v_conversion_progress"),
            "已映射：登记信息中带有注册号或组织机构代码的统一社会信用代码（新旧码映射）；"
            "待映射：各部门以旧代码报送、尚无登记信息对应而暂存的代码（15位注册号按前6位计地区）",
        ],
    )


__all__ = [
    "Column",
    "Query",
    "Report",
    "collected_categories",
    "conversion_report",
    "monthly_report",
    "scorecard_report",
]
