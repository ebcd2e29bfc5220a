// The department page's section on joint-punishment notices and 查错查重 findings: renders
// into #notices-section (the page loads this file if present). The department's token is
// the page's: window.DepartmentNotices.render(token), or sessionStorage
// "creditsync.department.token", or a "department:token" event with the token as detail.
// Everything shown is set as text (never as HTML): the data comes from departments.
"use strict";

(() => {
  const STAGES = { initiated: "待响应", responded: "已响应", fed_back: "已反馈" };
  const FINDING_STATUS = { open: "待处理", resolved: "已处理" };

  function el(tag, text, props = {}) {
    const node = Object.assign(document.createElement(tag), props);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function call(token, path, options = {}) {
    const response = await fetch(path, {
      ...options,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json",
        "Accept-Language": document.documentElement.lang || "zh-CN" },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
    return body;
  }

  function table(headers, rows) {
    const t = el("table", null, { className: "fields" });
    const head = t.createTHead().insertRow();
    headers.forEach((h) => head.append(el("th", h)));
    const body = t.createTBody();
    rows.forEach((cells) => {
      const tr = body.insertRow();
      cells.forEach((c) => {
        const td = tr.insertCell();
        if (c instanceof Node) td.append(c);
        else td.textContent = c === null || c === undefined || c === "" ? "—" : String(c);
      });
    });
    return t;
  }

  function answerForm(token, notice, after) {
    const form = el("form", null, { className: "notice-answer" });
    const stage = el("select");
    [["responded", "响应（已收到）"], ["fed_back", "反馈（已采取措施）"]].forEach(([v, label]) =>
      stage.append(el("option", label, { value: v })));
    const measures = el("input", null, { type: "text", placeholder: "已采取的惩戒措施（反馈时必填）" });
    const send = el("button", "提交", { type: "submit" });
    const result = el("span", null, { className: "result" });
    form.append(stage, measures, send, result);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      send.disabled = true;
      try {
        const body = { stage: stage.value, measures: measures.value || null };
        await call(token, `/v1/department/notices/${encodeURIComponent(notice.notice_id)}/feedback`,
          { method: "POST", body: JSON.stringify(body) });
        result.textContent = "已提交，处理后状态将更新";
        setTimeout(after, 3000);
      } catch (err) {
        result.textContent = `未提交：${err.message}`;
      } finally {
        send.disabled = false;
      }
    });
    return form;
  }

  function noticeRows(token, notices, redraw) {
    return notices.map((n) => [
      n.notice_id,
      `${n.canonical_name || ""} ${n.uscc}`,
      `${n.information_type || ""}（${n.restricted_from || "?"} 至 ${n.restricted_to || "?"}）`,
      n.measures_expected,
      n.deadline,
      n.ended_on ? `限制已结束：${n.ended_reason}（${n.ended_on}）` : STAGES[n.stage] || n.stage,
      n.measures,
      n.stage === "fed_back" || n.ended_on ? "" : answerForm(token, n, redraw),
    ]);
  }

  async function render(token) {
    const root = document.getElementById("notices-section");
    if (!root || !token) return;
    root.hidden = false;
    const redraw = () => render(token);
    const parts = [el("h2", "联合惩戒通知")];
    try {
      const body = await call(token, "/v1/department/notices");
      parts.push(body.notices.length
        ? table(["通知编号", "企业", "限制", "应采取的措施", "反馈期限", "状态", "已采取措施", "响应/反馈"],
          noticeRows(token, body.notices, redraw))
        : el("p", "本部门暂无收到的联合惩戒通知"));
    } catch (err) {
      parts.push(el("p", `无法读取通知：${err.message}`, { className: "error" }));
    }
    parts.push(el("h2", "查错查重"));
    try {
      const body = await call(token, "/v1/department/findings");
      parts.push(body.findings.length
        ? table(["问题", "状态", "代码", "另一代码", "说明", "发现时间"],
          body.findings.map((f) => [f.reason_text, FINDING_STATUS[f.status] || f.status,
            f.code || f.uscc, f.other_uscc, f.detail, f.detected_at]))
        : el("p", "本部门报送的登记信息暂无查错查重问题"));
    } catch (err) {
      parts.push(el("p", `无法读取查错查重结果：${err.message}`, { className: "error" }));
    }
    root.replaceChildren(...parts);
  }

  window.DepartmentNotices = { render };
  // On the department page (department.js): render once the department has logged in.
  // This file is deferred: a login from a kept token may have finished before it ran.
  if (window.Department && document.body.dataset.ready === "true") {
    render(window.Department.token);
  } else if (window.Department && Array.isArray(window.Department.onReady)) {
    window.Department.onReady.push(() => render(window.Department.token));
  }
  document.addEventListener("department:token", (event) => render(event.detail));
  const stored = window.sessionStorage && sessionStorage.getItem("creditsync.department.token");
  if (stored && document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => render(stored));
  } else if (stored) {
    render(stored);
  }
})();
