"""HTTP intake, `POST /v1/intake/{category}`: a department's records as JSON, a result for each.

The request is `{"records": [{field: value, …}, …]}` with template field names in Chinese
(「作出行政处罚决定日期」) or snake_case English (`decided_on`). Every record goes through
the same validation as a spreadsheet row (producers.events.build_intake_event) and ends
either accepted — with its event id, and `duplicate: true` when it had been published
before — or rejected with the field, the value and what was expected.

Refusals of the whole request, before any record is looked at: 401 without a valid bearer
token, 404 for an unknown category, 403 for a category the department may not submit, 413
for a body or a batch over the limits, 429 with Retry-After over the department's rate; 413
`record_too_large` naming each record whose encoded form would be over the Kafka topics'
message limit (about 1 MB, well under the 4 MiB body limit): such a record could never be
stored, and refusing the request whole keeps it with the department instead of a cut copy on
credit.rejected (and stops the 503 "send again" it used to get forever, issue #13).
When Kafka does not acknowledge, the answer is 503 and nothing is recorded as published, so
the department sends again (never a silent loss). Event ids are deterministic; the ledger
of ids already published (a Redis set per department) is written only after Kafka
acknowledged, so a repeated request publishes nothing new.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import redis
from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import Counter as MetricCounter

from producers.departments import DepartmentAccess, DepartmentDirectory
from producers.errors import BatchTooLarge
from producers.events import (
    FieldProblem,
    RecordRejection,
    build_intake_event,
    control_totals_event,
    spreadsheet_sequence,
)
from producers.http_language import localise_results, localised
from producers.http_payload import (
    IntakeLimits,
    IntakeRefused,
    backfill_flag,
    bearer_token,
    declared_count,
    map_record_fields,
    parse_request_flags,
    rejection_json,
)
from producers.ledger import PublishedLedger
from producers.ownership_check import OwnershipPrecheck
from producers.publisher import (
    KafkaPublisher,
    OutgoingRecord,
    PublishFailed,
    RecordTooLarge,
    intake_record,
    rejection_record,
)
from producers.ratelimit import TokenBucketLimiter
from schemas.categories import CATEGORIES, Category
from schemas.codec import encode_intake, fingerprint_of
from schemas.errors import SchemaError
from schemas.records import IntakeEvent
from schemas.topics import CONTROL_TOTALS

ADAPTER = "http/1"
Clock = Callable[[], dt.datetime]

INTAKE_RECORDS = MetricCounter(
    "creditsync_http_intake_records_total",
    "Records received by the HTTP intake, by department, category and outcome",
    ["department", "category", "outcome"],
)


class HttpIntake:
    """Validates, deduplicates and publishes one request's records for one department."""

    def __init__(
        self,
        *,
        departments: DepartmentDirectory,
        publisher: KafkaPublisher,
        ledger: PublishedLedger,
        limiter: TokenBucketLimiter | None = None,
        topic_prefix: str = "",
        limits: IntakeLimits | None = None,
        publish_timeout: float = 30.0,
        clock: Clock | None = None,
        ownership: OwnershipPrecheck | None = None,
    ) -> None:
        self.departments = departments
        # Records that would change another department's public item are refused here
        # already (the items stage refuses them in any case).
        self.ownership = ownership
        self.publisher = publisher
        self.ledger = ledger
        self.limiter = limiter or TokenBucketLimiter(departments.rate_limits())
        self.topic_prefix = topic_prefix
        self.limits = limits or IntakeLimits()
        self.publish_timeout = publish_timeout
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def close(self) -> None:
        """Flush and close the Kafka producer (the HTTP app calls this on shutdown)."""
        self.publisher.close()
        owners = self.ownership and self.ownership.owners
        if owners is not None and hasattr(owners, "close"):
            owners.close()

    def authorise(self, authorization: str | None, category: str) -> DepartmentAccess:
        """The department sending this request, or IntakeRefused 401 / 404 / 403."""
        department = self.departments.authenticate(bearer_token(authorization))
        if department is None:
            raise IntakeRefused(
                401,
                "unauthorised",
                "a valid department token is required: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="creditsync intake"'},
            )
        if category not in CATEGORIES:
            raise IntakeRefused(
                404,
                "unknown_category",
                f"no category {category!r}; expected one of {', '.join(CATEGORIES)}",
            )
        if not department.may_submit(category):
            raise IntakeRefused(403, "category_not_allowed", department.refusal(category))
        return department

    def admit(self, department: DepartmentAccess, count: int) -> None:
        """Take `count` records from the department's rate, or IntakeRefused 413 / 429."""
        try:
            wait = self.limiter.allow(department.code, count)
        except BatchTooLarge as exc:
            raise IntakeRefused(413, "batch_over_rate_limit", str(exc)) from None
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise IntakeRefused(
                429,
                "rate_limited",
                f"department {department.code} is over its rate limit; {count} records can be "
                f"accepted again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def submit(
        self,
        department: DepartmentAccess,
        category: Category,
        records: list[Any],
        declared: int | None = None,
        backfill: bool = False,
    ) -> dict[str, Any]:
        """Validate and publish; the response body with one result per record, in order.
        `declared`: the department's own count of the records it sent (对账), if any;
        `backfill`: the records are a back-load (存量), kept out of timeliness figures."""
        emitted = self._clock()
        request_id = str(uuid.uuid4())
        results: list[dict[str, Any]] = []
        events: dict[int, IntakeEvent] = {}
        refused: list[RecordRejection] = []
        for index, record in enumerate(records, start=1):
            outcome = self._event(department, category, record, index, emitted)
            if not isinstance(outcome, RecordRejection):
                # Issue #17: the sender's network status (registration deadline 1 or 5
                # working days) and back-load flag travel with each event.
                outcome["networked"] = department.networked
                outcome["backfill"] = backfill
            if isinstance(outcome, RecordRejection):
                refused.append(outcome)
                results.append({"record": index, **rejection_json(outcome)})
            else:
                events[index] = outcome
                results.append({"record": index})
        self._refuse_oversized(events)
        fresh = self._publish(
            department, category, events, refused, request_id, emitted, declared
        )
        first_of: dict[str, int] = {}
        for index, event in events.items():
            event_id = event["event_id"]
            # A record repeated inside the request, or published by an earlier one.
            duplicate = event_id not in fresh or first_of.setdefault(event_id, index) != index
            results[index - 1].update(
                status="accepted",
                event_id=event_id,
                record_key=event["record_key"],
                duplicate=duplicate,
            )
        accepted = len(events)
        duplicates = sum(1 for r in results if r.get("duplicate"))
        counts = {"accepted": accepted - duplicates, "duplicate": duplicates}
        for outcome, n in {**counts, "rejected": len(refused)}.items():
            if n:
                INTAKE_RECORDS.labels(department.code, category, outcome).inc(n)
        return {
            "request_id": request_id,
            "department": department.code,
            "category": category,
            "received": len(records),
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": len(refused),
            **({"declared": declared} if declared is not None else {}),
            **({"backfill": True} if backfill else {}),
            "results": results,
        }

    def _event(
        self,
        department: DepartmentAccess,
        category: Category,
        record: Any,
        index: int,
        emitted: dt.datetime,
    ) -> IntakeEvent | RecordRejection:
        ref = f"record {index}"
        fields: Any = record
        if isinstance(record, Mapping):
            fields = map_record_fields(category, record, ref)
            if isinstance(fields, RecordRejection):
                return fields
        outcome = build_intake_event(
            category,
            fields,
            department.department,
            ADAPTER,
            spreadsheet_sequence(emitted, index),
            emitted,
            record_ref=ref,
            row=record if isinstance(record, Mapping) else None,
        )
        if isinstance(outcome, RecordRejection):
            return outcome
        try:
            encode_intake(outcome)
        except SchemaError as exc:
            # The validation above should make this impossible; if not, the department
            # hears which record and why instead of a 500 for the whole request.
            return RecordRejection.of(
                ref, [FieldProblem("(record)", "（记录）", None, f"cannot be encoded: {exc}")]
            )
        if self.ownership is not None:
            try:
                refused = self.ownership.refusal(
                    outcome, ref, record if isinstance(record, Mapping) else None
                )
            except redis.RedisError as exc:
                raise IntakeRefused(
                    503, "ownership_check_unavailable",
                    f"cannot check who owns the records' items in Redis: {exc}",
                ) from exc  # fmt: skip
            if refused is not None:
                return refused
        return outcome

    def _refuse_oversized(self, events: dict[int, IntakeEvent]) -> None:
        """IntakeRefused 413 naming every record too large for Kafka, before anything is
        published: the department shortens it and sends the request again."""
        limit = self.publisher.limit
        oversized = []
        for index, event in events.items():
            value = encode_intake(event)
            size = intake_record(event, value, fingerprint_of(value), self.topic_prefix).size()
            if size > limit:
                oversized.append(f"第 {index} 条记录（{event['record_key']}）编码后 {size} 字节")
        if oversized:
            raise IntakeRefused(
                413,
                "record_too_large",
                f"{'；'.join(oversized)}，超过消息上限 {limit} 字节，无法保存；本请求的记录均未"
                "接收，请缩短上述记录的长文本字段后重新报送",
            )

    def _publish(
        self,
        department: DepartmentAccess,
        category: Category,
        events: dict[int, IntakeEvent],
        refused: list[RecordRejection],
        request_id: str,
        emitted: dt.datetime,
        declared: int | None = None,
    ) -> set[str]:
        """Publish what is new, the rejections and the control totals; the ids published."""
        code = department.code
        ids = list(dict.fromkeys(e["event_id"] for e in events.values()))
        try:
            seen = self.ledger.already_published(code, ids)
        except redis.RedisError as exc:
            raise IntakeRefused(
                503, "ledger_unavailable", f"cannot check for repeated records in Redis: {exc}"
            ) from exc
        fresh = [i for i in ids if i not in seen]
        by_id = {e["event_id"]: e for e in events.values()}
        outgoing: list[OutgoingRecord] = []
        for event_id in fresh:
            value = encode_intake(by_id[event_id])
            outgoing.append(
                intake_record(by_id[event_id], value, fingerprint_of(value), self.topic_prefix)
            )
        # Rejected records go to credit.rejected too: counted on the dashboard, and kept
        # for correction even if the department loses this response (nothing is lost).
        for rejection in refused:
            row = rejection.row if isinstance(rejection.row, Mapping) else {}
            outgoing.append(
                rejection_record(
                    rejection,
                    category=category,
                    department_code=code,
                    adapter=ADAPTER,
                    fields=dict(row),
                    topic_prefix=self.topic_prefix,
                )
            )
        totals = control_totals_event(
            department.department,
            category,
            f"http request {request_id}",
            declared,
            len(fresh),
            len(events) - len(fresh),
            Counter(r.code for r in refused),
            emitted_at=emitted,
        )
        outgoing.append(
            OutgoingRecord(
                topic=f"{self.topic_prefix}{CONTROL_TOTALS}",
                key=code.encode(),
                value=json.dumps(totals, ensure_ascii=False).encode(),
                headers=[("department", code.encode())],
            )
        )
        try:
            self.publisher.publish(outgoing, timeout=self.publish_timeout)
        except RecordTooLarge as exc:
            raise IntakeRefused(
                413, "record_too_large", f"记录超过消息上限，本请求的记录均未接收：{exc}"
            ) from exc
        except PublishFailed as exc:
            raise IntakeRefused(
                503,
                "kafka_unavailable",
                f"Kafka did not acknowledge the records, none is recorded as accepted; send the "
                f"same request again later: {exc}",
                headers={"Retry-After": "30"},
            ) from exc
        try:
            self.ledger.record_published(code, fresh)
        except redis.RedisError as exc:
            # Published but not recorded: a re-send publishes again, which every stage
            # downstream absorbs by event id; the department must still hear it failed.
            raise IntakeRefused(
                503,
                "ledger_unavailable",
                f"records were published but could not be recorded in Redis: {exc}",
            ) from exc
        return set(fresh)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise IntakeRefused(
            413,
            "body_too_large",
            f"request body of {declared} bytes exceeds the limit of {limit} bytes; "
            "split the records over several requests",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            # Stop reading: a body without Content-Length (chunked) is capped here too.
            raise IntakeRefused(
                413,
                "body_too_large",
                f"request body exceeds the limit of {limit} bytes; "
                "split the records over several requests",
            )
        chunks.append(chunk)
    return b"".join(chunks)


_REQUEST_SCHEMA = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["records"],
                "properties": {
                    "records": {
                        "type": "array",
                        "items": {"type": "object", "additionalProperties": True},
                        "description": "template field names in Chinese or snake_case English",
                    }
                },
            },
            "example": {
                "records": [
                    {
                        "统一社会信用代码（企业注册号）": "91640422MA76XXXXXX",
                        "企业名称": "宁夏某某商贸有限公司",
                        "行政处罚决定书文号": "西市监罚〔2024〕12号",
                    }
                ]
            },
        }
    },
    "required": True,
}


def intake_router(intake: HttpIntake) -> APIRouter:
    """The intake route over one HttpIntake."""
    router = APIRouter(tags=["intake 信息归集"])

    @router.post(
        "/v1/intake/{category}",
        summary="A department submits records; one result per record",
        openapi_extra={"requestBody": _REQUEST_SCHEMA},
        responses={
            401: {"description": "no valid token"},
            403: {"description": "category not allowed for the department"},
            413: {"description": "body, batch or one record over the limit"},
            422: {"description": "every record rejected (see results)"},
            429: {"description": "over the department's rate; see Retry-After"},
            503: {"description": "Kafka did not acknowledge: nothing accepted, send again"},
        },
    )
    async def submit(
        category: str,
        request: Request,
        authorization: str | None = Header(default=None),
        x_declared_count: str | None = Header(default=None),
        x_backfill: str | None = Header(default=None),
    ) -> JSONResponse:
        try:
            department = intake.authorise(authorization, category)
            body = await _read_body(request, intake.limits.max_body_bytes)
            records, declared, backfill = parse_request_flags(body, intake.limits)
            header = declared_count(x_declared_count, "X-Declared-Count")
            declared = header if header is not None else declared
            flagged = backfill_flag(x_backfill, "X-Backfill")
            backfill = flagged if flagged is not None else backfill
            intake.admit(department, len(records))
            # Publishing waits for Kafka's acknowledgement: off the event loop.
            result = await run_in_threadpool(
                intake.submit, department, category, records, declared,  # type: ignore[arg-type]
                bool(backfill),
            )  # fmt: skip
        except IntakeRefused as refused:
            raise localised(refused, request).as_http() from None
        localise_results(result, request)
        status = 422 if result["accepted"] == 0 else 200
        return JSONResponse(result, status_code=status)

    return router


__all__ = ["ADAPTER", "HttpIntake", "IntakeLimits", "IntakeRefused", "intake_router"]
