"""Intake answers in Chinese by default, English on `Accept-Language: en` (issue #16)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from producers.http_payload import IntakeRefused
from schemas.reasons import explain, language

_CJK = re.compile(r"[\u4e00-\u9fff]")

# Whole-request refusals; the English message (with its figures) stays as `message_en`.
REFUSALS_ZH: dict[str, str] = {
    "unauthorised": "需要有效的部门令牌：Authorization: Bearer <令牌>",
    "unknown_category": "没有这一信息类别；应为国家模板的类别之一（见 message_en）",
    "category_not_allowed": "本部门无权报送这一类别的记录（可报送的类别见 message_en）",
    "batch_over_rate_limit": "一次报送的记录数超过本部门的速率上限，请分批报送",
    "rate_limited": "本部门报送过快，已超过速率上限；请按 Retry-After 等待后重新报送",
    "body_too_large": "请求体超过大小上限，请将记录分成几次报送",
    "too_many_records": "一次请求的记录数超过上限，请将记录分成几次报送",
    "invalid_json": "请求体不是有效的 UTF-8 JSON",
    "invalid_request": '请求格式不对：应为 {"records": [ {字段: 值, …}, … ], "declared_count": N}',
    "invalid_declared_count": "申报条数（declared_count 或 X-Declared-Count）应为不小于 0 的整数",
    "kafka_unavailable": "消息队列（Kafka）未确认，本请求的记录均未接收；请稍后重新报送同一请求",
    "ledger_unavailable": "无法在 Redis 中核对重复记录；请稍后重新报送同一请求",
    "ownership_check_unavailable": "无法在 Redis 中核对记录的归属部门；请稍后重新报送",
}


def localised(refused: IntakeRefused, request: Request) -> IntakeRefused:
    """The refusal in the caller's language; a message already in Chinese stays as it is."""
    if language(request.headers.get("accept-language")) == "en" or _CJK.search(refused.message):
        return refused
    chinese = REFUSALS_ZH.get(refused.error)
    if chinese is None:
        return refused
    # The English original carries the figures (limits, seconds, categories): kept as detail.
    out = IntakeRefused(
        refused.status, refused.error, f"{chinese}（详情：{refused.message}）", refused.headers
    )
    out.message_en = refused.message
    return out


def localise_results(result: dict[str, Any], request: Request) -> None:
    """Each rejected record's `message` in the caller's language (English kept as
    `message_en`), naming the record, the field and what was expected."""
    lang = language(request.headers.get("accept-language"))
    category = result.get("category", "")
    for item in result.get("results", []):
        if item.get("status") != "rejected":
            continue
        problems = item.get("problems") or [{}]
        value = problems[0].get("value")
        item["message_en"] = item.get("message", "")
        item["message"] = explain(
            item.get("reason_code", ""),
            lang=lang,
            category=category,
            field=item.get("field", ""),
            value="" if value is None else str(value),
            record_ref=f"record {item['record']}",
            detail=item.get("reason", ""),
        )
