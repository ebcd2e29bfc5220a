// A department's own view: 对账, refused rows (download, fix, upload again), parked records.
// The token stays in this tab (sessionStorage); every call sends it as a bearer token.
"use strict";

const Department = {
  token: sessionStorage.getItem("creditsync-department-token") || "",
  info: null,
  // Hooks for other panels (department_notices.js): called with the department after login.
  onReady: [],
  async api(path, options = {}) {
    // The page is Chinese: ask for its language, not the browser's (an English browser would
    // otherwise get English refusal reasons inside a Chinese page).
    const headers = { "Accept-Language": document.documentElement.lang || "zh-CN",
      ...(options.headers || {}), Authorization: `Bearer ${this.token}` };
    const response = await fetch(path, { ...options, headers });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).message || message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return response;
  },
  async json(path, options) { return (await this.api(path, options)).json(); },
};
window.Department = Department;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function table(headers, rows, rowClass) {
  const t = el("table", null, "fields");
  const head = t.createTHead().insertRow();
  headers.forEach((h) => head.append(el("th", h)));
  const body = t.createTBody();
  rows.forEach((r, i) => {
    const tr = body.insertRow();
    const cls = rowClass ? rowClass(i) : "";
    if (cls) tr.className = cls;
    r.forEach((v) => {
      const cell = tr.insertCell();
      if (v instanceof Node) cell.append(v); else cell.textContent = v === null || v === undefined ? "—" : String(v);
    });
  });
  return t;
}

function fill(id, node) {
  const body = document.querySelector(`#${id} .body`);
  body.replaceChildren(node);
}

async function loadReconciliation() {
  const data = await Department.json("/v1/department/reconciliation");
  const rows = data.rows;
  fill("panel-reconciliation", rows.length ? table(
    ["日期", "类别", "申报", "接收", "重复", "公示", "退回", "暂存", "差额", "未到达"],
    rows.map((r) => [r.day, r.category_name, r.declared === null ? "未申报" : r.declared, r.received,
      r.duplicates, r.published, r.refused, r.parked, r.difference, r.unaccounted]),
    (i) => (rows[i].mismatch ? "mismatch" : "")) : el("p", "尚无报送记录"));
}

async function loadRefusals() {
  const status = document.getElementById("refusal-status").value;
  const data = await Department.json(`/v1/department/refusals?status=${status}`);
  const rows = data.rows;
  fill("panel-refusals", rows.length ? table(
    ["类别", "记录", "字段", "退回原因", "退回时间", "状态"],
    rows.map((r) => [r.category_name || r.category, r.record_ref_label, r.field_label, r.reason_text,
      String(r.rejected_at).replace("T", " ").slice(0, 19), r.status === "closed" ? "已更正" : "待更正"]),
    (i) => (rows[i].status === "closed" ? "closed" : "refused")) : el("p", "没有退回记录"));
  const downloads = document.getElementById("downloads");
  downloads.replaceChildren();
  const names = new Map(rows.map((r) => [r.category, r.category_name || r.category]));
  names.forEach((name, category) => {
    const button = el("button", `下载「${name}」退回记录（XLSX）`, "download");
    button.type = "button";
    button.dataset.category = category;
    button.addEventListener("click", () => download(category, status));
    downloads.append(button);
  });
}

async function download(category, status) {
  const response = await Department.api(`/v1/department/refusals.xlsx?category=${category}&status=${status}`);
  const blob = await response.blob();
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${Department.info.code}-${category}-refused.xlsx`;
  document.body.append(link);
  link.click();
  link.remove();
}

async function loadParked() {
  const data = await Department.json("/v1/department/parked");
  fill("panel-parked", data.rows.length ? table(["类别", "主体代码", "说明", "已等待（天）"],
    data.rows.map((r) => [r.category, r.subject_code, r.reason_text, r.age_days]))
    : el("p", "没有暂存记录"));
}

async function upload(event) {
  event.preventDefault();
  const file = document.getElementById("upload-file").files[0];
  const declared = document.getElementById("upload-declared").value;
  const result = document.getElementById("upload-result");
  const headers = { "Content-Type": "application/octet-stream" };
  if (declared !== "") headers["X-Declared-Count"] = declared;
  try {
    const body = await Department.json(`/v1/department/uploads?filename=${encodeURIComponent(file.name)}`,
      { method: "POST", body: file, headers });
    result.textContent = `已接收 ${body.read} 条：新发布 ${body.published} 条，重复 ${body.already_published} 条，` +
      `退回 ${body.rejected} 条` + (body.declared === null ? "" : `；申报 ${body.declared} 条`);
    result.className = body.rejected ? "error" : "ok";
  } catch (e) {
    result.textContent = `上传失败：${e.message}`;
    result.className = "error";
  }
  refresh();
}

async function refresh() {
  const jobs = [loadReconciliation(), loadRefusals(), loadParked()];
  for (const job of jobs) {
    try { await job; } catch (e) { document.getElementById("who").textContent = `无法读取：${e.message}`; }
  }
}

async function login(event) {
  if (event) event.preventDefault();
  const input = document.getElementById("token");
  if (input.value) Department.token = input.value.trim();
  try {
    Department.info = await Department.json("/v1/department/me");
  } catch (e) {
    document.getElementById("login-error").textContent = e.message;
    return;
  }
  sessionStorage.setItem("creditsync-department-token", Department.token);
  document.getElementById("who").textContent = `${Department.info.name}（${Department.info.code}）`;
  document.getElementById("login").hidden = true;
  document.getElementById("department").hidden = false;
  await refresh();
  Department.onReady.forEach((hook) => hook(Department.info));
  document.body.dataset.ready = "true";
}

document.getElementById("login").addEventListener("submit", login);
document.getElementById("refusal-status").addEventListener("change", () => loadRefusals());
document.getElementById("upload-form").addEventListener("submit", upload);
if (Department.token) login();
