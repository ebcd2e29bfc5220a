"""A synthetic agency feed for `creditsync run --demo`: what a newcomer needs to see it work.

Enterprises with faker zh_CN names and valid generated codes; every category; some records
sent with only a legacy registration number or organisation code; some registrations that
arrive after the records about them (parked, then released); a few invalid rows (rejected
with reasons); restrictions that leave the public view within minutes through credit repair; the tax
bureau answering its joint-punishment notices (响应, then 反馈 with the measures taken).
Every event goes through `build_intake_event`, the validation every real adapter uses.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from faker import Faker

from producers.events import build_intake_event
from schemas.identifiers import make_registration_number, make_resident_id, make_uscc
from schemas.records import IntakeEvent, item_id
from streams.rules.notices import notice_id

DEMO_DEPARTMENTS = (
    {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"},
    {"code": "sw-640000", "name": "国家税务总局宁夏回族自治区税务局"},
    {"code": "hb-640000", "name": "宁夏回族自治区生态环境厅"},
)
REGIONS = ("640104", "640202", "640302", "640402", "640422", "640502", "110105", "310115")
CITIES = ("银川市", "固原市", "西吉县")
# Restrictions are dated from this day, not from today, so their record keys and the ids of
# the notices they send are the same on every run (producers/samples/notice_feedback.csv
# names them). Published long after that date they count as late: the demo has late ones.
RESTRICTION_ANCHOR = dt.date(2026, 11, 2)
TAX = 1  # DEMO_DEPARTMENTS index of the tax bureau, a receiving department of the notices
AUTHORITIES = ("市场监督管理局", "生态环境局", "应急管理局", "住房和城乡建设局")


class DemoFeed:
    """Deterministic for a seed: the same seed gives the same enterprises and records."""

    def __init__(self, seed: int = 2026, today: dt.date | None = None) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.today = today or dt.date.today()
        self.sequence = 0
        self.enterprises: list[dict[str, Any]] = []
        self.late_registrations: list[dict[str, Any]] = []
        # Workflow events that follow a record some time later: (due sequence, category,
        # fields, department index) — credit repair, objections, notice feedback.
        self.followups: list[tuple[int, str, dict[str, Any], int]] = []

    def _enterprise(self, n: int) -> dict[str, Any]:
        region = self.rng.choice(REGIONS)
        uscc = make_uscc("9", self.rng.choice("1112"), region, f"{self.rng.randrange(10**8):08d}")
        return {
            "uscc": uscc,
            "organisation_code": uscc[8:17],
            "registration_number": make_registration_number(region, f"{n:08d}"),
            "name": self.fake.company(),
            "region": region,
            "person": self.fake.name(),
        }

    def _event(self, category: str, fields: dict[str, Any], department: int = 0) -> Any:
        self.sequence += 1
        return build_intake_event(
            category,  # type: ignore[arg-type]
            fields,
            DEMO_DEPARTMENTS[department],  # type: ignore[arg-type]
            "demo/1",
            self.sequence,
            dt.datetime.now(dt.UTC),
            record_ref=f"demo record {self.sequence}",
        )

    def _registration(self, e: dict[str, Any]) -> Any:
        return self._event(
            "registration",
            {
                "subject_code": e["uscc"],
                "uscc": e["uscc"],
                "name": e["name"],
                "registration_number": e["registration_number"],
                "organisation_code": e["organisation_code"],
                "registration_authority": f"{self.rng.choice(CITIES)}市场监督管理局",
                "entity_type": "有限责任公司",
                "status": "存续",
                "legal_representative": e["person"],
                # Code assignment reported within 0-3 days: some meet the 1-working-day rule,
                # some do not, as in a real province. The deadline runs from the assignment
                # (赋码日期, seed 000), here the day the enterprise was established.
                "established_on": (
                    assigned := self.today - dt.timedelta(days=self.rng.randrange(0, 4))
                ),
                "code_assigned_on": assigned,
            },
        )

    def _subject(self, e: dict[str, Any]) -> str:
        if e.get("late"):
            # Not registered yet: the record can only be parked until its registration.
            return e["registration_number"]
        # About one record in five comes with a legacy code only (新旧码映射 needed).
        roll = self.rng.random()
        if roll < 0.12:
            return e["registration_number"]
        if roll < 0.2:
            return e["organisation_code"]
        return e["uscc"]

    def _decision_date(self) -> dt.date:
        return self.today - dt.timedelta(days=self.rng.randrange(0, 20))

    def _record(self, e: dict[str, Any]) -> Any:
        subject = {"subject_code": self._subject(e), "subject_name": e["name"]}
        kind = self.rng.choices(
            ("license", "penalty", "inspection", "restriction", "abnormal_operation", "red_list"),
            weights=(30, 25, 20, 8, 10, 7),
        )[0]
        n, day = self.sequence, self._decision_date()
        authority = f"{self.rng.choice(('银川市', '固原市'))}{self.rng.choice(AUTHORITIES)}"
        if kind == "license":
            return self._event(
                kind,
                {
                    **subject,
                    "license_number": f"JY1640{n:010d}",
                    "license_name": "食品经营许可证",
                    # 双公示 counts from the decision (许可决定日期), not the validity start;
                    # the demo's licences are valid from the day they are decided.
                    "decided_on": day,
                    "valid_from": day,
                    "valid_to": day + dt.timedelta(days=1825),
                    "licensing_authority": authority,
                    "license_content": "预包装食品销售",
                },
            )
        if kind == "penalty":
            event = self._event(
                kind,
                {
                    **subject,
                    "penalising_authority": authority,
                    "decision_number": f"宁市监罚〔{day.year}〕{n}号",
                    "decided_on": day,
                    "violation_type": self.rng.choice(("虚假宣传", "无证经营", "超标排放")),
                    "fine_amount": f"{self.rng.randrange(1, 200) * 1000:,}.00",
                    "penalty_kind": "罚款",
                },
                department=self.rng.choice((0, 2)),
            )
            if isinstance(event, dict) and self.rng.random() < 0.1:
                # The enterprise objects (异议): the item shows as under review.
                self.followups.append(
                    (
                        self.sequence + 100,
                        "objection",
                        {
                            "subject_code": e["uscc"],
                            "target_category": "penalty",
                            "target_record_key": event["record_key"],
                            "objection_status": "open",
                            "reason": "处罚对象有误",
                            "filed_on": self.today,
                        },
                        0,
                    )
                )
            return event
        if kind == "inspection":
            return self._event(
                kind,
                {
                    **subject,
                    "inspecting_authority": authority,
                    "inspection_type": "双随机抽查",
                    "inspected_on": day,
                    "inspection_result": self.rng.choice(("未发现问题", "发现问题已责令改正")),
                },
            )
        if kind == "restriction":
            day = RESTRICTION_ANCHOR - (self.today - day)
            event = self._event(
                kind,
                {
                    **subject,
                    "legal_basis": "《企业信息公示暂行条例》第十八条",
                    "restricted_from": day,
                    "restricted_to": day + dt.timedelta(days=1095),
                    "sending_department": "市场监管局",
                    "receiving_departments": "税务局、住建局、人民银行",
                    "information_type": "严重违法失信企业名单",
                    "person_category": "法定代表人",
                    "person_name": e["person"],
                    "id_document_type": "身份证",
                    "id_document_number": make_resident_id(
                        e["region"],
                        dt.date(1980, 1, 1) + dt.timedelta(days=self.rng.randrange(9000)),
                        f"{n % 1000:03d}",
                    ),
                },
            )
            if isinstance(event, dict) and self.rng.random() < 0.5:
                # Credit repair a few minutes later takes it out of the public view.
                self.followups.append(
                    (
                        self.sequence + 300,
                        "credit_repair",
                        {
                            "subject_code": e["uscc"],
                            "target_category": "restriction",
                            "target_record_key": event["record_key"],
                            "repaired_on": self.today,
                            "repairing_authority": "宁夏回族自治区市场监督管理厅",
                        },
                        0,
                    )
                )
            if isinstance(event, dict) and not e.get("late"):
                self._answer_notice(e, event)
            return event
        if kind == "abnormal_operation":
            return self._event(
                kind,
                {
                    **subject,
                    "list_action": "listed",
                    "reason": "未按规定报送年度报告",
                    "listing_number": f"宁市监异〔{day.year}〕{n}号",
                    "decided_on": day,
                    "deciding_authority": authority,
                },
            )
        return self._event(
            kind,
            {
                **subject,
                "honour_name": "守合同重信用企业",
                "awarding_authority": authority,
                "awarded_on": day,
                "valid_to": day + dt.timedelta(days=730),
            },
        )

    def _answer_notice(self, e: dict[str, Any], restriction: IntakeEvent) -> None:
        """The tax bureau acknowledges its notice (响应) and later reports what it did (反馈),
        well before the restriction's credit repair (300 events on) ends it."""
        nid = notice_id(e["uscc"], item_id("restriction", restriction["record_key"]), "税务局")
        for due, stage, measures in (
            (100, "responded", None),
            (200, "fed_back", "纳税信用级别调整为D级，发票领用从严管理"),
        ):
            self.followups.append(
                (
                    self.sequence + due,
                    "notice_feedback",
                    {
                        "subject_code": e["uscc"],
                        "subject_name": e["name"],
                        "notice_id": nid,
                        "receiving_department": DEMO_DEPARTMENTS[TAX]["name"],
                        "feedback_stage": stage,
                        "measures": measures,
                        "feedback_on": self.today,
                    },
                    TAX,
                )
            )

    def _invalid(self) -> Any:
        # A USCC with a wrong check character: rejected with the reason, never lost.
        bad = self.enterprises[0]["uscc"][:-1] + (
            "0" if self.enterprises[0]["uscc"][-1] != "0" else "1"
        )
        return self._event(
            "penalty",
            {
                "subject_code": bad,
                "subject_name": "错误代码企业",
                "penalising_authority": "银川市市场监督管理局",
                "decision_number": f"错{self.sequence}",
                "decided_on": self.today,
                "violation_type": "虚假宣传",
                "penalty_kind": "罚款",
            },
        )

    def events(self, count: int) -> Iterator[IntakeEvent | Any]:
        """`count` events: intake events and (for invalid rows) rejections."""
        for i in range(count):
            due = [(c, f, d) for at, c, f, d in self.followups if at <= self.sequence]
            if due:
                self.followups = [x for x in self.followups if x[0] > self.sequence]
                for category, fields, department in due:
                    yield self._event(category, fields, department)
                continue
            if not self.enterprises or self.rng.random() < 0.15:
                e = self._enterprise(len(self.enterprises) + len(self.late_registrations) + 1)
                if self.enterprises and self.rng.random() < 0.2:
                    # A late registration: records first, the code assignment later.
                    self.late_registrations.append({**e, "late": True})
                else:
                    self.enterprises.append(e)
                    yield self._registration(e)
                    continue
            if self.late_registrations and self.rng.random() < 0.1:
                e = {**self.late_registrations.pop(0), "late": False}
                self.enterprises.append(e)
                yield self._registration(e)
                continue
            if i % 97 == 96:
                yield self._invalid()
                continue
            pool = self.enterprises + self.late_registrations
            yield self._record(self.rng.choice(pool))
