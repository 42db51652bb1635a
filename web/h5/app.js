// The service hall: bindings and account views over the JSON API, with the
// official account's session cookie. Every text the server sends is put in
// the page as text, never as HTML.
"use strict";

const kinds = { ordinary: "普表", iot: "物联网表", iccard: "IC卡表" };
const yuan = (fen) => (fen / 100).toFixed(2) + " 元";
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const data = resp.status === 204 ? null : await resp.json();
  if (!resp.ok) throw Object.assign(new Error(data.message), { status: resp.status, code: data.code });
  return data;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function showAccount(id) {
  const a = await api("GET", "/api/accounts/" + id);
  const rows = [["户主", a.holder], ["用户号", a.user_number], ["类型", kinds[a.kind]], ["地址", a.address], ["账户余额", yuan(a.balance_fen)]];
  if (a.arrears_fen !== undefined) rows.push(["欠费", yuan(a.arrears_fen)]);
  if (a.meter) {
    rows.push(["表号", a.meter.number]);
    if (a.meter.last_balance_fen !== undefined) {
      rows.push(["表内余额", yuan(a.meter.last_balance_fen) + "（" + new Date(a.meter.last_reported_at).toLocaleString("zh-CN") + " 上报）"]);
    }
  }
  if (a.card) rows.push(["燃气卡号", a.card.serial]);
  rows.push(["单次购气上限", yuan(a.purchase_limit_fen)]);
  const dl = $("detail-list");
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  $("detail").hidden = false;
}

async function load() {
  let list;
  try {
    list = (await api("GET", "/api/bindings")).bindings;
  } catch (e) {
    if (e.status === 401) { $("login").hidden = false; return; }
    throw e;
  }
  $("logout").hidden = false;
  $("accounts").hidden = false;
  $("bind").hidden = false;
  $("no-accounts").hidden = list.length > 0;
  const ul = $("account-list");
  ul.replaceChildren(...list.map((b) => {
    const li = el("li");
    const name = el("span", b.holder + " · " + b.user_number);
    name.append(el("span", kinds[b.kind], "tag"));
    if (b.is_default) name.append(el("span", "默认", "tag"));
    const view = el("button", "查看");
    view.onclick = () => showAccount(b.account_id);
    const unbind = el("button", "解绑");
    unbind.onclick = async () => { if (confirm("解绑该账户？")) { await api("DELETE", "/api/bindings/" + b.id); $("detail").hidden = true; load(); } };
    const actions = el("span");
    actions.append(view, unbind);
    li.append(name, actions);
    return li;
  }));
  if (list.length > 0) showAccount(list[0].account_id);
}

$("bind-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { by: f.get("by"), number: f.get("number").trim() };
  if (f.get("holder_name").trim()) body.holder_name = f.get("holder_name").trim();
  $("bind-error").textContent = "";
  try {
    await api("POST", "/api/bindings", body);
    ev.target.reset();
    load();
  } catch (e) {
    $("bind-error").textContent = e.message;
  }
};

$("logout").onclick = async () => { await api("POST", "/api/logout"); location.reload(); };

load().catch((e) => { $("bind-error").textContent = e.message; });
