// The analysts' dashboard: reads the ClickHouse dashboard views through
// /v1/analytics/views/<view> and redraws every few seconds.
"use strict";

const REFRESH_MS = 5000;
const AGE_ORDER = ["0-7", "8-30", "31-90", ">90"];
const REASONS = {
  required: "必填项为空",
  invalid_value: "字段值不合规",
  invalid_code: "主体代码校验失败",
  conflicting_codes: "代码相互矛盾",
  unknown_field: "未知字段",
  malformed_row: "无法读取的记录",
  unknown_subject: "主体尚未登记",
  unknown_registration_number: "注册号尚无登记信息",
  unknown_organisation_code: "组织机构代码尚无登记信息",
  unpublishable: "不能按原样公示",
  missing_field: "缺少必需字段",
  not_owner: "无权修改他部门的记录",
  undecodable: "消息无法读取",
  unapplicable: "无法应用到所指记录",
  state_bound_exceeded: "超出状态上限",
  state_too_large: "状态超出上限",
  output_too_large: "记录超过消息上限",
  record_too_large: "记录超过消息上限",
};
const OVERDUE_ORDER = ["1-7", "8-30", ">30"];
// 查错查重 findings (streams/rules/registry.py, creditsync/department_notices.py).
const FINDINGS = {
  organisation_code_mismatch: "组织机构代码与信用代码不一致",
  legacy_code_claimed: "旧代码已对应另一信用代码",
  legacy_code_claimed_twice: "一个旧代码对应两个信用代码",
  enterprise_under_two_usccs: "一个注册号对应两个信用代码",
  legacy_code_changed: "同一信用代码报送了不同注册号",
  one_code_two_names: "一个代码、两个名称",
  one_name_two_codes: "一个名称、两个代码（疑似重复）",
};
let categoryNames = {};
let busy = false;

async function view(name) {
  const response = await fetch(`/v1/analytics/views/${name}${query(name)}`);
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  return body.rows.map((row) => Object.fromEntries(body.columns.map((c, i) => [c, row[i]])));
}

function sumBy(rows, key, value) {
  const totals = new Map();
  for (const row of rows) {
    const k = typeof key === "function" ? key(row) : row[key];
    totals.set(k, (totals.get(k) || 0) + Number(row[value] || 0));
  }
  return [...totals.entries()].map(([label, v]) => ({ label: String(label || "未知"), value: v }))
    .sort((a, b) => b.value - a.value);
}

function panel(id, ...nodes) {
  const body = document.querySelector(`#${id} .body`);
  body.replaceChildren(...nodes);
}

function panelError(id, err) {
  const p = document.createElement("p");
  p.className = "error";
  p.textContent = `无法读取：${err.message}`;
  panel(id, p);
}

function table(headers, rows) {
  const t = document.createElement("table");
  t.className = "fields";
  const head = t.createTHead().insertRow();
  headers.forEach((h) => { const th = document.createElement("th"); th.textContent = h; head.append(th); });
  const body = t.createTBody();
  rows.forEach((r) => {
    const tr = body.insertRow();
    r.forEach((v) => { tr.insertCell().textContent = v === null || v === undefined ? "—" : String(v); });
  });
  return t;
}

const PANELS = [
  ["v_daily_volume", (rows) => {
    const days = [...new Set(rows.map((r) => r.day))].sort().slice(-30);
    const series = [...new Set(rows.map((r) => categoryNames[r.category] || r.category))];
    const groups = days.map((day) => {
      const values = {};
      rows.filter((r) => r.day === day).forEach((r) => {
        const s = categoryNames[r.category] || r.category;
        values[s] = (values[s] || 0) + Number(r.records);
      });
      return { label: day, values };
    });
    panel("panel-daily", Charts.stackedColumns(groups, series), Charts.legend(series));
    panel("panel-department", Charts.horizontalBars(sumBy(rows, "department_name", "records").slice(0, 12)));
    panel("panel-region", Charts.horizontalBars(
      sumBy(rows, (r) => r.province || r.province_code, "records").slice(0, 12), { color: "#2b6cb0" }));
  }, ["panel-daily", "panel-department", "panel-region"]],
  ["v_timeliness", (rows) => {
    const bars = rows.filter((r) => r.with_deadline > 0).map((r) => ({
      // Category first: long department names are cut at the end of the label.
      label: `${categoryNames[r.category] || r.category}·${r.department_name}`,
      value: Number(r.within_deadline) / Number(r.with_deadline),
      title: `${r.department_name} ${r.category}: ${r.within_deadline}/${r.with_deadline}`,
    })).sort((a, b) => a.value - b.value).slice(0, 14);
    panel("panel-timeliness", Charts.horizontalBars(bars, { percent: true, max: 1, color: "#2f855a" }));
  }, ["panel-timeliness"]],
  ["v_control_totals", (rows) => {
    // 申报 is what departments declared themselves (blank when none did); names, not codes.
    const byDept = new Map();
    rows.forEach((r) => {
      const t = byDept.get(r.department_code) ||
        { name: r.department_name || r.department_code, declared: null, received: 0, published: 0,
          refused: 0, parked: 0, unaccounted: 0 };
      if (r.declared !== null && r.declared !== undefined) t.declared = (t.declared || 0) + Number(r.declared);
      t.received += Number(r.received); t.published += Number(r.published);
      t.refused += Number(r.refused || 0); t.parked += Number(r.parked || 0);
      t.unaccounted += Number(r.unaccounted || 0);
      byDept.set(r.department_code, t);
    });
    const list = [...byDept.values()].sort((a, b) => b.received - a.received);
    panel("panel-control", table(["部门", "申报", "接收", "公示", "退回", "暂存", "差额", "未到达"],
      list.map((t) => [t.name, t.declared === null ? "未申报" : t.declared, t.received, t.published,
        t.refused, t.parked, t.declared === null ? "—" : t.received - t.declared, t.unaccounted])));
  }, ["panel-control"]],
  ["v_rejections_by_reason", (rows) => {
    panel("panel-rejected", Charts.horizontalBars(
      sumBy(rows, (r) => REASONS[r.reason_code] || r.reason_code, "rejected"), { color: "#c05621" }));
  }, ["panel-rejected"]],
  ["v_parked_by_reason", (rows) => {
    panel("panel-parked", Charts.horizontalBars(
      sumBy(rows, (r) => REASONS[r.reason_code] || r.reason_code, "parked"), { color: "#b7791f" }));
  }, ["panel-parked"]],
  ["v_restrictions_by_region", (rows) => {
    const place = (r) => [r.prefecture === "市辖区" ? r.province : r.prefecture, r.county];
    const bars = sumBy(rows, (r) => place(r).filter(Boolean).join(" ") || r.region_code,
      "restrictions").slice(0, 14);
    panel("panel-restrictions", Charts.horizontalBars(bars, { color: "#b4232a" }));
  }, ["panel-restrictions"]],
  ["v_open_notices_by_age", (rows) => {
    const bars = sumBy(rows, (r) => `${r.age_bucket} 天`, "notices")
      .sort((a, b) => AGE_ORDER.indexOf(a.label.split(" ")[0]) - AGE_ORDER.indexOf(b.label.split(" ")[0]));
    panel("panel-notices", Charts.horizontalBars(bars, { color: "#6b46c1" }));
  }, ["panel-notices"]],
  ["v_overdue_feedback", (rows) => {
    // Feedback past its deadline, by receiving department and how long overdue.
    const bars = sumBy(rows, (r) => `${r.department_name}（逾期 ${r.overdue_bucket} 天）`, "notices")
      .sort((a, b) => OVERDUE_ORDER.indexOf(a.label.split("逾期 ")[1].split(" ")[0])
        - OVERDUE_ORDER.indexOf(b.label.split("逾期 ")[1].split(" ")[0]));
    panel("panel-overdue", rows.length ? Charts.horizontalBars(bars, { color: "#9b2c2c" })
      : Object.assign(document.createElement("p"), { textContent: "无逾期未反馈的通知" }));
  }, ["panel-overdue"]],
  ["v_findings_by_reason", (rows) => {
    const open = rows.filter((r) => r.status === "open");
    const resolved = sumBy(rows.filter((r) => r.status === "resolved"),
      (r) => FINDINGS[r.reason] || r.reason, "findings");
    const done = Object.fromEntries(resolved.map((r) => [r.label, r.value]));
    const list = sumBy(open, (r) => FINDINGS[r.reason] || r.reason, "findings");
    panel("panel-findings", table(["问题", "待处理", "已处理"],
      [...list.map((r) => [r.label, r.value, done[r.label] || 0]),
        ...resolved.filter((r) => !list.some((o) => o.label === r.label)).map((r) => [r.label, 0, r.value])]));
  }, ["panel-findings"]],
];

// The report period the monthly panels show: last month (seed 003 #26: reported before the 25th).
function reportMonth() {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}
const MONTH = reportMonth();
const MONTHLY = new Set(["v_monthly_indicators", "v_department_scorecard"]);
const pct = (v) => (v === null || v === undefined ? "—" : `${(Number(v) * 100).toFixed(1)}%`);

PANELS.push(
  ["v_monthly_indicators", (rows) => {
    document.getElementById("monthly-period").textContent = `报告期 ${MONTH}，次月25日前报送`;
    const list = rows.sort((a, b) => String(a.region_code).localeCompare(String(b.region_code)));
    panel("panel-monthly", list.length ? table(
      ["地区", "归集记录", "双公示", "按时", "按时率", "未反馈通知", "信用修复", "异议受理", "异议办结"],
      list.map((r) => [[r.province, r.prefecture === "市辖区" ? "" : r.prefecture, r.county]
        .filter(Boolean).join(" ") || r.region_code || "未知", r.records, r.shuang_gongshi_records,
      r.shuang_gongshi_on_time, pct(r.shuang_gongshi_on_time_share), r.open_feedback,
      r.credit_repairs, r.objections_filed, r.objections_decided]))
      : Object.assign(document.createElement("p"), { textContent: `${MONTH} 无数据` }));
  }, ["panel-monthly"]],
  ["v_department_scorecard", (rows) => {
    const list = rows.sort((a, b) => Number(b.records) - Number(a.records));
    panel("panel-scorecard", table(
      ["部门", "报送", "按时率", "退回", "退回率", "未反馈通知", "查错查重", "待处理"],
      list.map((r) => [r.department_name || r.department_code, r.records, pct(r.on_time_share),
        r.refused, pct(r.refusal_rate), r.open_notices, r.findings, r.findings_open])));
  }, ["panel-scorecard"]],
  ["v_conversion_progress", (rows) => {
    const list = rows.sort((a, b) => Number(b.outstanding) - Number(a.outstanding));
    panel("panel-conversion", table(
      ["地区", "登记机关", "已映射", "待映射", "完成率"],
      list.map((r) => [[r.prefecture === "市辖区" ? r.province : r.prefecture, r.county]
        .filter(Boolean).join(" ") || r.region_code || "未知（组织机构代码）",
      r.registration_authority || "（尚无登记）", r.mapped, r.outstanding, pct(r.mapped_share)])));
  }, ["panel-conversion"]],
);

function query(name) {
  return MONTHLY.has(name) ? `?month=${MONTH}` : "";
}

// A CSV and an XLSX download link in the title of each panel (the first panel a view draws).
function addDownloads() {
  PANELS.forEach(([name, , ids]) => {
    const title = document.querySelector(`#${ids[0]} > h2`);
    if (!title || title.querySelector(".downloads")) return;
    const links = document.createElement("span");
    links.className = "downloads";
    ["csv", "xlsx"].forEach((format) => {
      const a = document.createElement("a");
      const sep = query(name) ? "&" : "?";
      a.href = `/v1/analytics/views/${name}${query(name)}${sep}format=${format}`;
      a.textContent = format.toUpperCase();
      a.setAttribute("download", "");
      links.append(a);
    });
    title.append(links);
  });
}

async function refresh() {
  if (busy) return; // a slow query must not pile up requests behind it
  busy = true;
  try {
    await Promise.all(PANELS.map(async ([name, draw, ids]) => {
      try {
        draw(await view(name));
      } catch (err) {
        ids.forEach((id) => panelError(id, err));
      }
    }));
    document.getElementById("updated").textContent = `　更新于 ${new Date().toLocaleTimeString("zh-CN")}`;
  } finally {
    busy = false;
  }
}

async function start() {
  try {
    const response = await fetch("/v1/categories");
    const body = await response.json();
    categoryNames = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, v.chinese]));
  } catch (err) {
    categoryNames = {};
  }
  addDownloads();
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

start();
