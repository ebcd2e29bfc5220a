"""Generate the sample spreadsheets (one CSV per category) in the Chinese template layout.

Deterministic (seeded): running it again rewrites the same bytes, so the committed CSVs are
exactly its output. Codes are generated valid with schemas.identifiers; one row per file is
sent under a legacy registration number and one under an organisation code, as old agency
systems do, and penalty.csv carries one deliberately invalid USCC (the rejection demo).

    python producers/samples/make_samples.py [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from schemas.categories import (
    CATEGORY_SPECS,
    SERIAL_HEADER,
    SUBJECT_CODE_HEADER,
    SUBJECT_NAME_HEADER,
    Category,
)
from schemas.identifiers import (
    format_organisation_code,
    make_registration_number,
    make_resident_id,
    make_uscc,
)

SEED = 20180101
HERE = Path(__file__).resolve().parent
BASE = dt.date(2018, 3, 1)
MARKET = "宁夏回族自治区市场监督管理厅"
_ALNUM = "0123456789ABCDEFGHJKLMNPQRTUWXY"
INSPECTION_RESULTS = (
    "未发现问题",
    "未按规定公示年报信息",
    "责令整改",
    "通过登记的住所无法联系",
    "未发现问题",
    "未发现问题",
)
PENALTY_BASES = (
    "《中华人民共和国广告法》第五十五条",
    "《中华人民共和国大气污染防治法》第九十九条",
    "《中华人民共和国食品安全法》第一百二十二条",
    "《中华人民共和国税收征收管理法》第六十三条",
    "",
    "《中华人民共和国食品安全法》第一百二十四条",
)
COURTS = ("银川市兴庆区人民法院", "银川市金凤区人民法院", "吴忠市利通区人民法院",
          "固原市原州区人民法院", "中卫市沙坡头区人民法院", "石嘴山市惠农区人民法院")  # fmt: skip
ABNORMAL_REASONS = ("补报未报年份的年度报告并公示", "未按照规定期限公示年度报告")  # removed, listed


@dataclass(frozen=True)
class Enterprise:
    name: str
    region: str
    entity_type: str  # GB 32100 type under authority 9: 1 企业, 2 个体工商户, 3 合作社
    uscc: str
    registration_number: str
    legal_representative: str

    @property
    def organisation_code(self) -> str:
        return self.uscc[8:17]


_NAMES = [
    ("宁夏六盘山商贸有限公司", "640422", "1", "马建国"),
    ("银川贺兰山建筑工程有限公司", "640104", "1", "王立新"),
    ("吴忠市利通区清真食品厂", "640302", "1", "杨秀英"),
    ("固原市原州区张记百货店", "640402", "2", "张志强"),
    ("中卫市沙坡头区枸杞种植专业合作社", "640502", "3", "李春梅"),
    ("石嘴山市惠农区星火化工有限公司", "640205", "1", "刘洪涛"),
    ("宁夏金凤区云端信息技术有限公司", "640106", "1", "赵敏"),
    ("西夏区塞上物流有限公司", "640105", "1", "周文斌"),
]


def enterprises(rng: random.Random) -> list[Enterprise]:
    result = []
    for name, region, entity_type, person in _NAMES:
        body = "".join(rng.choice(_ALNUM[:10]) for _ in range(8))
        seq = "".join(rng.choice("0123456789") for _ in range(8))
        uscc = make_uscc("9", entity_type, region, body)
        result.append(
            Enterprise(
                name, region, entity_type, uscc, make_registration_number(region, seq), person
            )
        )
    return result


def subject_codes(pool: list[Enterprise]) -> list[str]:
    """The subject column as agencies fill it: row 1 a legacy registration number, row 2 an
    organisation code written XXXXXXXX-X, the rest USCCs."""
    codes = [e.uscc for e in pool]
    codes[0] = pool[0].registration_number
    codes[1] = format_organisation_code(pool[1].organisation_code)
    return codes


def day(offset: int) -> dt.date:
    return BASE + dt.timedelta(days=offset)


def rows_for(category: Category, pool: list[Enterprise], rng: random.Random) -> list[list]:
    codes = subject_codes(pool)
    rows: list[list] = []
    for i, e in enumerate(pool[:6]):
        d = day(7 * i)
        if category == "registration":
            rows.append(
                [e.uscc, e.registration_number, format_organisation_code(e.organisation_code),
                 e.name, MARKET, {"1": "有限责任公司", "2": "个体工商户", "3": "农民专业合作社"}
                 [e.entity_type], d.replace(year=2009 + i).isoformat(),
                 "存续" if i != 5 else "吊销", e.legal_representative]
            )  # fmt: skip
            continue
        common = [i + 1, codes[i], e.name]
        number = f"宁{['市监', '环', '建', '税', '市监', '环'][i]}罚〔2018〕{10 + i * 7}号"
        match category:
            case "license":
                fields = [
                    f"宁食药许〔2018〕{100 + i}号",
                    "食品经营许可证",
                    f"{d.year}/{d.month}/{d.day}",
                    "长期有效" if i == 2 else f"{d.year + 5}-{d:%m-%d}",
                    "宁夏回族自治区食品药品监督管理局",
                    "预包装食品销售",
                    "有效",
                    "",
                ]
            case "license_change":
                fields = [
                    f"宁食药许〔2018〕{100 + i}号",
                    "食品经营许可证",
                    "经营场所",
                    f"银川市兴庆区解放街{i + 1}号",
                    f"银川市金凤区北京路{i + 20}号",
                    f"{d.year}年{d.month}月{d.day}日",
                ]
            case "penalty":
                fine = ["5000", "1.5万元", "12,000.00元", "３０００", "0", "20000"][i]
                dates = [
                    f"{d:%Y-%m-%d}",
                    f"{d.year}/{d.month}/{d.day}",
                    f"{d.year}.{d.month}.{d.day}",
                    f"{d.year}年{d.month}月{d.day}日",
                    f"{d:%Y%m%d}",
                    f"{d:%Y-%m-%d}",
                ]
                fields = [f"{MARKET if i % 2 == 0 else '宁夏回族自治区生态环境厅'}", number,
                          dates[i], ["虚假宣传", "超标排放", "无证经营", "偷税", "未按期年报",
                                     "销售过期食品"][i], fine,
                          "" if i % 3 else f"{rng.randint(1, 50) * 100}元", "罚款",
                          "" if i != 4 else "警告", PENALTY_BASES[i]]  # fmt: skip
            case "penalty_change":
                fields = [number, MARKET, "罚款金额由5000元变更为3000元", f"{day(7 * i + 30)}"]
            case "inspection":
                fields = ["银川市市场监督管理局", "双随机抽查", f"{d}", INSPECTION_RESULTS[i]]
            case "restriction":
                birth = dt.date(1960 + 3 * i, 1 + i, 10 + i)
                fields = ["《企业信息公示暂行条例》第十八条", "被列入严重违法失信企业名单",
                          f"{d}", f"{d.replace(year=d.year + 5)}", MARKET,
                          "国家税务总局宁夏回族自治区税务局、宁夏回族自治区住房和城乡建设厅",
                          "严重违法失信企业名单", "法定代表人", e.legal_representative,
                          "居民身份证",
                          make_resident_id(e.region, birth, f"{101 + i:03d}")]  # fmt: skip
            case "abnormal_operation":
                fields = ["listed" if i != 3 else "removed", ABNORMAL_REASONS[i != 3],
                          f"{d}", "银川市市场监督管理局", f"银市监异〔2018〕{i + 1}号"]  # fmt: skip
            case "red_list":
                fields = ["守合同重信用企业", "宁夏回族自治区市场监督管理厅", f"{d}",
                          f"{d.replace(year=d.year + 2)}", "2016-2017年度"]  # fmt: skip
            case "objection":
                fields = ["penalty", number, ["open", "upheld", "dismissed"][i % 3],
                          "处罚决定已撤销，申请更正", f"{day(7 * i + 20)}"]  # fmt: skip
            case "credit_repair":
                fields = ["penalty", number, f"{day(7 * i + 90)}", MARKET, "已履行处罚并完成整改"]
            case "chattel_mortgage":
                fields = [f"宁{e.region}动抵〔2018〕{i + 1}号", f"{d}", "银川市市场监督管理局",
                          ["500000", "120万元", "80,000.00元", "300000", "1000000", "250000"][i],
                          "有效" if i != 4 else "无效", "借款合同",
                          "宁夏银行股份有限公司", ["挖掘机2台", "库存枸杞30吨", "运输车辆5辆",
                                                  "生产设备一批", "原材料", "办公设备"][i],
                          f"{day(7 * i + 3)}"]  # fmt: skip
            case "equity_pledge":
                birth = dt.date(1970 + 2 * i, 2 + i, 5 + i)
                # Row 3's pledgor is an enterprise: its USCC in the ID column, as published.
                pledgor, id_type, id_number = (
                    (pool[7].name, "统一社会信用代码", pool[7].uscc) if i == 2 else
                    (e.legal_representative, "居民身份证",
                     make_resident_id(e.region, birth, f"{201 + i:03d}"))
                )  # fmt: skip
                fields = [f"{e.region}2018{i + 1:04d}", pledgor, id_type, id_number,
                          ["50万元", "1000000", "300000", "20万元", "150000", "800000"][i],
                          "宁夏银行股份有限公司", f"{d}", "有效" if i != 3 else "无效",
                          f"{day(7 * i + 2)}", "" if i != 3 else "注销登记"]  # fmt: skip
            case "judicial_assistance":
                birth = dt.date(1965 + 2 * i, 3 + i, 12 + i)
                # 股权冻结, its release (解除冻结, same 执行通知书文号 as the freeze) and a
                # 股东变更 by court order (强制转让).
                kind, status = [("股权冻结", "冻结"), ("股权冻结", "解除冻结"),
                                ("股东变更", "股东变更"), ("股权冻结", "冻结"),
                                ("股权冻结", "冻结"), ("股东变更", "股东变更")][i]  # fmt: skip
                fields = [f"（2018）宁0{104 + i}执{100 + i}号", kind, status,
                          e.legal_representative, "居民身份证",
                          make_resident_id(e.region, birth, f"{301 + i:03d}"),
                          ["100万元", "500000", "300000", "200000", "80万元", "600000"][i],
                          COURTS[i],
                          f"（2018）宁0{104 + i}执{100 + i}号之一",
                          "冻结股权" if kind == "股权冻结" else "强制转让被执行人股权",
                          f"{d}",
                          f"{d}" if kind == "股权冻结" else "",
                          f"{d.replace(year=d.year + 3)}" if kind == "股权冻结" else "",
                          f"{day(7 * i + 40)}" if status == "解除冻结" else "",
                          pool[7].name if kind == "股东变更" else "",
                          f"{day(7 * i + 1)}"]  # fmt: skip
            case "small_business_support":
                fields = [["银川市财政局", "吴忠市人力资源和社会保障局", "固原市工业和信息化局",
                           "国家税务总局中卫市税务局", "石嘴山市财政局", "银川市科学技术局"][i],
                          ["财政补贴", "创业担保贷款贴息", "技术改造资金", "税收减免",
                           "财政补贴", "科技创新券"][i], "小微企业扶持资金",
                          ["30000", "5万元", "120000", "8,500.00元", "20000", "10000"][i],
                          f"{d}", "《宁夏回族自治区扶持小微企业发展若干政策》"]  # fmt: skip
            case "tax_credit_rating":
                fields = ["2017", ["A", "A", "B", "M", "C", "A"][i],
                          "国家税务总局宁夏回族自治区税务局", f"{day(7 * i + 45)}"]  # fmt: skip
            case "notice_feedback":
                continue  # demo_notice_feedback_rows: answers to notices the demo sends
            case _:  # pragma: no cover — every category is listed above
                raise AssertionError(category)
        # Fields added to the templates later are optional: left empty unless given above.
        width = len(CATEGORY_SPECS[category].fields)
        rows.append(common + fields + [""] * (width - len(fields)))
    if category == "penalty":
        # A USCC whose check character is wrong: the row the rejection demo expects.
        bad = pool[6].uscc[:17] + ("0" if pool[6].uscc[17] != "0" else "1")
        rows.append([7, bad, pool[6].name, MARKET, "宁市监罚〔2018〕99号", f"{day(50)}",
                     "虚假宣传", "8000", "", "罚款", "", ""])  # fmt: skip
    return rows


def demo_notice_feedback_rows(count: int = 6) -> list[list]:
    """The housing department's answers to the first notices `creditsync run --demo` sends
    it (its restrictions name 住建局; the demo itself answers only the tax bureau's):
    notice ids are deterministic from the restriction and the department, so these rows
    name notices that exist once the demo has run a minute or two."""
    import os

    from producers.demo import DemoFeed
    from schemas.pii_crypto import PiiKeyring, install_keyring
    from schemas.records import item_id
    from streams.rules.notices import notice_id

    # The feed seals ID numbers; only the notice ids are kept here, so a throwaway key.
    install_keyring(PiiKeyring({"samples": os.urandom(32)}))
    feed = DemoFeed(seed=2026, today=dt.date(2026, 12, 2))
    rows: list[list] = []
    for event in feed.events(2000):
        if not isinstance(event, dict) or event["category"] != "restriction":
            continue
        uscc = event["subject"]["uscc"]
        if not uscc:  # sent under a legacy code: maybe parked; not a sample
            continue
        i = len(rows)
        e = next(e for e in feed.enterprises if e["uscc"] == uscc)
        nid = notice_id(uscc, item_id("restriction", event["record_key"]), "住建局")
        # As in the other samples, one row under a registration number, one under an
        # organisation code: the feedback still reaches the notice of the USCC.
        code = {1: e["registration_number"],
                3: format_organisation_code(e["organisation_code"])}.get(i, uscc)
        rows.append([i + 1, code, e["name"], nid, "宁夏回族自治区住房和城乡建设厅",
                     "fed_back" if i % 2 == 0 else "responded",
                     "限制参与政府投资工程招标投标" if i % 2 == 0 else "",
                     "2026-12-02"])  # fmt: skip
        if len(rows) == count:
            break
    return rows


def headers_for(category: Category) -> list[str]:
    spec = CATEGORY_SPECS[category]
    own = [f.chinese for f in spec.fields]
    if category == "registration":
        return own
    return [SERIAL_HEADER, SUBJECT_CODE_HEADER, SUBJECT_NAME_HEADER, *own]


def write_samples(out: Path) -> list[Path]:
    """Write one CSV per category into `out` (UTF-8 with BOM, as Excel's "CSV UTF-8")."""
    rng = random.Random(SEED)
    pool = enterprises(rng)
    written = []
    for category in CATEGORY_SPECS:
        path = out / f"{category}.csv"
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f, lineterminator="\r\n")
            writer.writerow(headers_for(category))
            if category == "notice_feedback":
                writer.writerows(demo_notice_feedback_rows())
            else:
                writer.writerows(rows_for(category, pool, rng))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    for path in write_samples(args.out):
        print(path)


if __name__ == "__main__":
    main()
