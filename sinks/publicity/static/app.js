// The public query page (信用信息公示查询): search, result list, profile, public lists.
// Plain JS over the JSON API; every value is put in the page as text (never as HTML), so
// nothing a department sent can run in a visitor's browser.
"use strict";

const SECTIONS = [
  ["license", "行政许可"],
  ["penalty", "行政处罚"],
  ["inspection", "抽查检查"],
  ["abnormal_operation", "经营异常名录"],
  ["restriction", "严重违法失信名单/黑名单"],
  ["red_list", "守信红名单"],
  // Issue #17 (seed 002 §三, seed 004), titled as the national publicity system titles them.
  ["chattel_mortgage", "动产抵押登记信息"],
  ["equity_pledge", "股权出质登记信息"],
  ["judicial_assistance", "司法协助信息"],
  ["small_business_support", "小微企业享受扶持政策信息"],
  ["tax_credit_rating", "纳税信用等级"],
];
// The lists a profile can be on, where the badge says more than the section title.
const LIST_LABELS = { tax_credit_rating: "纳税信用A级纳税人" };
const STATUS_LABELS = { public: "公示中", under_review: "异议处理中" };
const ACTIONS = { listed: "列入", removed: "移出" };
// Field labels come from /v1/categories (the national templates); these cover the masked
// ID number, which the published payload carries instead of the number itself.
const EXTRA_LABELS = { id_document_number_masked: "证件号码" };
const PAGE_SIZE = 20; // items per section page (the API allows up to 100)
let fieldLabels = {};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "className") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = { message: `服务返回了无法读取的内容 (HTTP ${response.status})` };
  }
  return { status: response.status, ok: response.ok, body };
}

function showMessage(text) {
  const box = document.getElementById("message");
  box.replaceChildren();
  if (text) box.append(el("p", { className: "error", role: "alert" }, text));
}

function display(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.join("、");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function fieldsTable(rows) {
  return el(
    "table",
    { className: "fields" },
    el("tbody", {}, rows.map(([label, value]) => el("tr", {}, el("th", {}, label), el("td", {}, display(value)))))
  );
}

function regionText(region) {
  if (!region) return null;
  const parts = [region.province, region.prefecture, region.county].filter(Boolean);
  const unique = parts.filter((p, i) => p !== parts[i - 1] && p !== "市辖区");
  return unique.length ? `${unique.join(" ")}（${region.code}）` : region.code;
}

function registrationSection(p) {
  const rows = [
    ["统一社会信用代码", p.codes && p.codes.uscc],
    ["注册号", p.codes && p.codes.registration_number],
    ["组织机构代码", p.codes && p.codes.organisation_code],
    ["名称", p.name],
    ["曾用名", p.former_names && p.former_names.length ? p.former_names : null],
    ["类型", p.registered_type || p.entity_type],
    ["主体类别", p.entity_type],
    ["法定代表人", p.legal_representative],
    ["登记机关", p.registration_authority],
    ["成立日期", p.established_on],
    ["登记状态", p.status],
    ["所属地区", regionText(p.region)],
  ];
  return el("section", { className: "card", id: "section-registration" },
    el("h2", {}, "登记信息"), el("div", { className: "body" }, fieldsTable(rows)));
}

function itemView(category, item) {
  const labels = fieldLabels[category] || {};
  const rows = [];
  for (const [name, value] of Object.entries(item.payload || {})) {
    let shown = value;
    if (name === "list_action") shown = ACTIONS[value] || value;
    rows.push([labels[name] || EXTRA_LABELS[name] || name, shown]);
  }
  rows.push(["信息提供部门", item.department && item.department.name]);
  const badges = [];
  if (item.status === "under_review") {
    badges.push(el("span", { className: "badge review", title: "企业已提出异议，正在核查" }, "异议处理中"));
  }
  return el("div", { className: "item", "data-status": item.status },
    el("div", { className: "item-head" },
      el("span", {}, item.record_key, ...badges),
      el("span", { className: "hint" }, STATUS_LABELS[item.status] || item.status)),
    fieldsTable(rows));
}

// One section: its newest items, the total count, and a pager when there are more pages
// (the API gives each category its own pages: ?category=…&page=…).
function itemSection(uscc, category, title, items, total, page, pageSize) {
  const list = items || [];
  const count = total === undefined ? list.length : total;
  const pages = Math.max(1, Math.ceil(count / pageSize));
  const body = list.length
    ? list.map((item) => itemView(category, item))
    : [el("p", { className: "empty" }, "暂无信息")];
  const section = el("section", { className: "card", id: `section-${category}` },
    el("h2", {}, title, el("span", { className: "count" }, `（${count}条）`)),
    el("div", { className: "body" }, body));
  if (pages > 1) {
    section.append(el("div", { className: "pager section-pager" },
      el("button", { type: "button", className: "secondary", "data-page": page - 1,
        onclick: () => loadSection(uscc, category, title, page - 1),
        ...(page <= 1 ? { disabled: "" } : {}) }, "上一页"),
      `第 ${page} / ${pages} 页`,
      el("button", { type: "button", className: "secondary", "data-page": page + 1,
        onclick: () => loadSection(uscc, category, title, page + 1),
        ...(page >= pages ? { disabled: "" } : {}) }, "下一页")));
  }
  return section;
}

async function loadSection(uscc, category, title, page) {
  const params = new URLSearchParams({ category, page: String(page), page_size: String(PAGE_SIZE) });
  const { ok, body } = await getJson(`/v1/entities/${encodeURIComponent(uscc)}?${params}`);
  const current = document.getElementById(`section-${category}`);
  if (!ok) {
    showMessage(body.message || "查询失败");
    return;
  }
  showMessage("");
  const counts = body.item_counts || {};
  current.replaceWith(itemSection(uscc, category, title, (body.items || {})[category],
    counts[category], page, PAGE_SIZE));
}

// Items that left the public view (issue #17): what they were, when and why their
// publication ended; never their content. Every value goes in as text.
const END_STATUS_LABELS = {
  expired: "公示期满",
  removed: "已移出",
  repaired: "信用修复",
  withdrawn: "已撤销",
};
const HISTORY_TITLE_LABELS = {
  decision_number: "决定书文号",
  license_number: "许可证书编号",
  license_name: "许可证书名称",
  listing_number: "列入决定书文号",
  information_type: "信息类别",
  honour_name: "荣誉名称",
  inspection_type: "检查类型",
};

function historyEntry(entry) {
  const labels = fieldLabels[entry.category] || {};
  const section = SECTIONS.find(([key]) => key === entry.category);
  const rows = Object.entries(entry.title || {}).map(([name, value]) =>
    [labels[name] || HISTORY_TITLE_LABELS[name] || name, value]);
  rows.push(["结束公示日期", entry.ended_on]);
  rows.push(["结束原因", entry.end_reason]);
  rows.push(["信息提供部门", entry.department && entry.department.name]);
  return el("div", { className: "item ended", "data-status": entry.status,
    "data-item": entry.item_id },
    el("div", { className: "item-head" },
      el("span", {}, section ? section[1] : entry.category, "　", entry.record_key),
      el("span", { className: "hint" }, END_STATUS_LABELS[entry.status] || entry.status)),
    fieldsTable(rows));
}

function historySection(entries) {
  const list = entries || [];
  const body = list.length
    ? list.map(historyEntry)
    : [el("p", { className: "empty" }, "暂无已移出公示的信息")];
  return el("section", { className: "card history", id: "section-history" },
    el("h2", {}, "历史记录（已移出公示）", el("span", { className: "count" }, `（${list.length}条）`)),
    el("div", { className: "body" },
      el("p", { className: "hint" }, "以下信息已期满、移出、修复或撤销，不再公示其内容，仅列明结束日期和原因。"),
      body));
}

function renderProfile(p) {
  const badges = (p.lists || []).map((name) => {
    const cls = name === "red_list" || name === "tax_credit_rating" ? "badge red" : "badge list";
    const label = SECTIONS.find(([key]) => key === name);
    return el("span", { className: cls }, LIST_LABELS[name] || (label ? label[1] : name));
  });
  const box = document.getElementById("profile");
  box.replaceChildren(
    el("h2", { className: "entity-name" }, p.name, ...badges),
    el("p", { className: "hint" }, `统一社会信用代码：${p.uscc}`),
    registrationSection(p),
    ...SECTIONS.map(([key, title]) => itemSection(p.uscc, key, title, (p.items || {})[key],
      (p.item_counts || {})[key], 1, PAGE_SIZE)),
    historySection(p.history)
  );
}

async function loadProfile(code) {
  const params = new URLSearchParams({ page_size: String(PAGE_SIZE) });
  const { ok, body } = await getJson(`/v1/entities/${encodeURIComponent(code)}?${params}`);
  if (!ok) {
    document.getElementById("profile").replaceChildren();
    showMessage(body.message || "查询失败");
    return;
  }
  showMessage("");
  renderProfile(body);
}

function renderResults(results) {
  const list = document.getElementById("results");
  list.replaceChildren(
    ...results.map((r) => el("li", { onclick: () => loadProfile(r.uscc), "data-uscc": r.uscc },
      el("div", { className: "name" }, r.name),
      el("div", { className: "meta" },
        `统一社会信用代码：${r.uscc}`,
        r.former && r.matched_name ? `　曾用名：${r.matched_name}` : "",
        r.county || r.province ? `　${[r.province, r.prefecture, r.county].filter(Boolean).join(" ")}` : "",
        r.status ? `　${r.status}` : "")))
  );
}

async function search(q) {
  document.getElementById("profile").replaceChildren();
  document.getElementById("results").replaceChildren();
  const { ok, body } = await getJson(`/v1/search?q=${encodeURIComponent(q)}`);
  if (!ok) {
    showMessage(body.message || "查询失败");
    return;
  }
  if (!body.results.length) {
    showMessage(`未找到与“${q}”相关的企业`);
    return;
  }
  showMessage("");
  renderResults(body.results);
  const first = body.results[0];
  // An exact name or a code leads straight to the profile, as does a single result.
  if (body.results.length === 1 || first.match === "exact" || first.match === "code") {
    await loadProfile(first.uscc);
  }
}

async function showList(page) {
  const name = document.getElementById("list-name").value;
  const region = document.getElementById("list-region").value.trim();
  const params = new URLSearchParams({ page: String(page), size: "20" });
  if (region) params.set("region", region);
  const { ok, body } = await getJson(`/v1/lists/${name}?${params}`);
  const target = document.getElementById("list-body");
  if (!ok) {
    target.replaceChildren(el("p", { className: "error" }, body.message || "查询失败"));
    return;
  }
  const rows = body.items.map((r) => el("li", { onclick: () => loadProfile(r.uscc) },
    el("div", { className: "name" }, r.name || r.uscc),
    el("div", { className: "meta" }, `统一社会信用代码：${r.uscc}　列入日期：${r.listed_on}`)));
  target.replaceChildren(
    el("p", { className: "hint" }, `${body.title}：共 ${body.total} 户`),
    el("ul", { className: "results" }, rows),
    el("div", { className: "pager" },
      el("button", { type: "button", className: "secondary", onclick: () => showList(page - 1),
        ...(page <= 1 ? { disabled: "" } : {}) }, "上一页"),
      `第 ${body.page} / ${Math.max(body.pages, 1)} 页`,
      el("button", { type: "button", className: "secondary", onclick: () => showList(page + 1),
        ...(page >= body.pages ? { disabled: "" } : {}) }, "下一页"))
  );
}

async function start() {
  const labels = await getJson("/v1/categories");
  if (labels.ok) {
    fieldLabels = Object.fromEntries(Object.entries(labels.body).map(([k, v]) => [k, v.fields]));
  }
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (q.length < 2) {
      showMessage("请至少输入2个字的企业名称，或统一社会信用代码的开头部分");
      return;
    }
    history.replaceState(null, "", `?q=${encodeURIComponent(q)}`);
    search(q);
  });
  document.getElementById("nav-lists").addEventListener("click", () => {
    document.getElementById("lists").hidden = false;
    showList(1);
  });
  document.getElementById("list-go").addEventListener("click", () => showList(1));
  const params = new URLSearchParams(location.search);
  if (params.get("code")) {
    await loadProfile(params.get("code"));
  } else if (params.get("q")) {
    input.value = params.get("q");
    await search(params.get("q").trim());
  }
}

start();
