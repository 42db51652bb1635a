// The service hall (服务大厅) of the official account: one document that
// shows the page its path names, over the same JSON API as every client,
// with the official account's session cookie. Every text the server sends
// is put in the page as text, never as HTML. Money is integer fen and
// volume integer 0.01 m3 from end to end: no float touches either.
"use strict";

const $ = (id) => document.getElementById(id);
const view = $("view");
const params = new URLSearchParams(location.search);
const inWeChat = /MicroMessenger/i.test(navigator.userAgent);

const kinds = { ordinary: "普表", iot: "物联网表", iccard: "IC卡表" };
const channels = {
  wechat_oa: "微信支付（公众号）", wechat_mp: "微信支付（小程序）",
  alipay_wap: "支付宝", alipay_mp: "支付宝小程序", partner: "代收网点",
};
const orderStates = {
  pending: "待支付", paid: "已支付", closed: "已关闭", refunding: "退款中", refunded: "已退款", reversed: "已冲正",
};

// ---------- numbers, exactly ----------

const pad2 = (n) => (n < 10 ? "0" : "") + n;
// Fen (integer) as yuan with two decimals.
function yuan(fen) {
  const neg = fen < 0;
  const f = Math.abs(fen);
  return (neg ? "-" : "") + Math.floor(f / 100) + "." + pad2(f % 100);
}
// 0.01 m3 (integer) as m3 with two decimals.
const m3 = (v) => yuan(v);
// A typed amount in yuan as fen, or null: digits, at most two decimals.
function parseYuan(s) {
  const m = /^\s*(\d{1,7})(?:\.(\d{0,2}))?\s*$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
}
// A line's volume, in 0.01 m3 (the page ships with the server, so it reads
// the current name only, never the deprecated volume_cm3).
const lineVolume = (l) => l.volume_centi_m3;
const bjTime = (iso) => new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });

// ---------- the API ----------

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, headers) {
  const opts = { method, headers: Object.assign({ Accept: "application/json" }, headers || {}), credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    throw new APIError(0, "network", "网络异常，请检查网络后重试。");
  }
  let data = null;
  if (resp.status !== 204) {
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
  }
  if (!resp.ok) {
    const msg = data && data.message ? data.message : "系统繁忙，请稍后再试。";
    throw new APIError(resp.status, data && data.code, msg);
  }
  return data;
}

let hallInfo = { utility_name: "燃气公司", sandbox: {} };

// ---------- building the page ----------

// h builds an element: attributes (class, href, type, on* handlers,
// hidden…) and children (strings become text).
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function show(title, ...nodes) {
  $("title").textContent = title;
  document.title = title + " - " + hallInfo.utility_name;
  view.replaceChildren(...nodes);
}

let toastTimer;
function toast(msg) {
  const t = $("toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

const dl = (rows) => h("dl", { class: "rows" }, rows.filter(Boolean).flatMap(([k, v, cls]) => [h("dt", {}, k), h("dd", { class: cls }, v)]));
const card = (...c) => h("section", { class: "card" }, ...c);
const link = (href, text, cls) => h("a", { href, class: cls || "button" }, text);
const go = (href) => { location.href = href; };

// ---------- login ----------

function loginPage() {
  const next = location.pathname + location.search;
  const nodes = [card(
    h("h2", {}, "欢迎使用" + hallInfo.utility_name + "服务大厅"),
    h("p", {}, "登录后可绑定燃气账户，查询欠费、缴纳燃气费、为物联网表充值，并查看缴费记录。"),
    link("/oa/login?" + new URLSearchParams({ next }), "微信登录"),
    inWeChat ? null : h("p", { class: "hint" }, "请在微信中打开「" + hallInfo.utility_name + "」服务号，进入【服务大厅】。"),
  )];
  if (!inWeChat && hallInfo.sandbox.login) {
    const name = h("input", { id: "sandbox-name", name: "as", value: "demo", maxlength: "32", pattern: "[A-Za-z0-9_-]{1,32}", required: true, autocomplete: "off" });
    nodes.push(card(
      h("h2", {}, "沙箱登录"),
      h("p", { class: "hint" }, "这是沙箱环境：不经微信，以一个测试用户的身份登录（同名即同一用户）。"),
      h("form", {
        id: "sandbox-login", class: "form", onsubmit: (ev) => {
          ev.preventDefault();
          go("/oa/login?" + new URLSearchParams({ as: name.value.trim(), next }));
        },
      }, h("label", {}, "测试用户名", name), h("button", { type: "submit" }, "沙箱登录")),
    ));
  }
  show("登录", ...nodes);
}

// Runs a page; a missing or expired session shows the login instead.
async function guarded(page) {
  try {
    await page();
  } catch (e) {
    if (e.status === 401) {
      if (inWeChat && !params.has("no_auto_login")) {
        go("/oa/login?" + new URLSearchParams({ next: location.pathname + location.search }));
        return;
      }
      $("logout").hidden = true;
      loginPage();
      return;
    }
    show("出错了", card(h("p", { class: "error" }, e.message || "系统繁忙，请稍后再试。"), link("/h5/", "返回服务大厅")));
  }
}

async function bindings() {
  const list = (await api("GET", "/api/bindings")).bindings;
  $("logout").hidden = false;
  return list;
}

// The account a page is about: ?id=, else the default one.
async function chosenAccount(list) {
  const id = Number(params.get("id"));
  const b = list.find((x) => x.account_id === id) || list[0];
  return b ? api("GET", "/api/accounts/" + b.account_id) : null;
}

function accountPicker(list, current, page) {
  if (list.length < 2) return null;
  return h("label", { class: "picker" }, "选择账户",
    h("select", { id: "account-picker", onchange: (ev) => go("/h5/" + page + "?id=" + ev.target.value) },
      list.map((b) => h("option", { value: b.account_id, selected: b.account_id === current.id },
        accountName(b) + "（" + kinds[b.kind] + "）"))));
}

// accountName is how an account is shown: its user number and masked
// holder, or, bound by meter number alone (which shows neither), its meter.
function accountName(x) {
  if (x.access === "meter_only") return "表号 " + (x.meter_number || (x.meter && x.meter.number) || "");
  return x.user_number + " " + x.holder;
}

const noAccount = () => card(h("p", {}, "您还没有绑定燃气账户。"), link("/h5/bind", "绑定账户"));

// ---------- 服务大厅 ----------

async function homePage() {
  const list = await bindings();
  const a = await chosenAccount(list);
  const q = a ? "?id=" + a.id : "";
  const tiles = [
    ["/h5/pay" + q, "我要缴费", "普表缴费 · 物联网表充值"],
    ["/h5/accounts", "我的账户", "绑定 · 解绑 · 默认账户"],
    ["/h5/records" + q, "缴费记录", "凭证 · 到账状态"],
    ["/h5/account" + q, "账户信息", "欠费 · 余额 · 表况"],
  ];
  show(hallInfo.utility_name + "服务大厅",
    a ? card(h("h2", {}, "当前账户"), summary(a)) : noAccount(),
    h("nav", { class: "tiles" }, tiles.map(([href, t, sub]) => h("a", { href, class: "tile" }, h("strong", {}, t), h("small", {}, sub)))),
    card(h("h2", {}, "温馨提示"), h("ul", { class: "tips" },
      h("li", {}, "本服务号用于普表缴费和物联网表充值。"),
      h("li", {}, "IC卡表请使用微信小程序配合蓝牙充值宝，或到自助售气终端、营业厅购气。"),
      h("li", {}, "物联网表充值后，长按表上按钮 5 秒以上可立即通讯，约 10 分钟后到表；否则次日自动到表。"))),
  );
}

function summary(a, withMeter) {
  const rows = a.access === "meter_only"
    ? [["表号", a.meter ? a.meter.number : ""], ["类型", kinds[a.kind]], ["说明", "用表号绑定：可查看余额和本人缴费记录；用用户号和户主姓名绑定后可查看全部信息。"]]
    : [["用户号", a.user_number], ["户主", a.holder], ["类型", kinds[a.kind]], ["地址", a.address]];
  if (withMeter && a.meter && a.access !== "meter_only") rows.push(["表号", a.meter.number]);
  if (a.kind === "ordinary") rows.push(["欠费合计", yuan(a.arrears_fen || 0) + " 元", a.arrears_fen > 0 ? "owing" : ""]);
  if (a.kind === "iot" && a.meter && a.meter.last_balance_fen !== undefined) rows.push(["表内余额", yuan(a.meter.last_balance_fen) + " 元"]);
  rows.push(["账户余额", yuan(a.balance_fen) + " 元"]);
  return dl(rows);
}

// ---------- 我的账户 ----------

async function accountsPage() {
  const list = await bindings();
  const items = list.map((b) => h("li", { class: "account" },
    h("div", {}, h("strong", {}, b.access === "meter_only" ? accountName(b) : b.holder + " · " + b.user_number), h("span", { class: "tag" }, kinds[b.kind]),
      b.is_default ? h("span", { class: "tag default" }, "默认") : null, h("br"), h("small", {}, b.address)),
    h("div", { class: "actions" },
      link("/h5/account?id=" + b.account_id, "查看", "small"),
      b.is_default ? null : h("button", {
        type: "button", class: "small", onclick: async () => {
          try {
            await api("PUT", "/api/bindings/" + b.id + "/default");
            toast("已设为默认账户");
            accountsPage();
          } catch (e) { toast(e.message); }
        },
      }, "设为默认"),
      h("button", {
        type: "button", class: "small danger", onclick: async () => {
          if (!confirm("确定解绑账户 " + (b.access === "meter_only" ? accountName(b) : b.user_number) + "？")) return;
          try {
            await api("DELETE", "/api/bindings/" + b.id);
            toast("已解绑");
            accountsPage();
          } catch (e) { toast(e.message); }
        },
      }, "解绑"))));
  show("我的账户",
    card(h("h2", {}, "已绑定的账户"), list.length ? h("ul", { class: "list", id: "account-list" }, items) : h("p", { id: "no-accounts" }, "您还没有绑定燃气账户。")),
    link("/h5/bind", "添加账户", "button wide"));
}

// ---------- 绑定账户 ----------

async function bindPage() {
  await bindings();
  const err = h("p", { class: "error", id: "bind-error", role: "alert" });
  const number = h("input", { id: "bind-number", name: "number", inputmode: "numeric", pattern: "[0-9]{1,20}", maxlength: "20", required: true, autocomplete: "off" });
  const holder = h("input", { id: "bind-holder", name: "holder_name", maxlength: "32", autocomplete: "off" });
  const holderRow = h("label", {}, "户主姓名", holder);
  const numberLabel = h("span", {}, "用户号");
  const scan = h("button", { type: "button", class: "small", id: "scan", hidden: true, onclick: () => scanMeter(number, err) }, "扫一扫");
  const hint = h("p", { class: "hint" });
  const setBy = (by) => {
    const meter = by === "meter_number";
    numberLabel.textContent = meter ? "表号" : "用户号";
    number.placeholder = meter ? "表盘条形码下的数字" : "收费票据上的用户号";
    holderRow.hidden = meter;
    holder.required = !meter;
    scan.hidden = !(meter && inWeChat);
    hint.textContent = meter
      ? "物联网表号为表盘或控制器上条形码下的数字串" + (inWeChat ? "，可点「扫一扫」扫描条形码，也可直接输入。" : "。")
      : "用户号和户主姓名见以前的收费票据，也可拨打客服电话咨询。";
  };
  const radio = (value, text, checked) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "by", value, checked, onchange: () => setBy(value) }), text);
  const form = h("form", {
    id: "bind-form", class: "form", onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      const by = form.querySelector("input[name=by]:checked").value;
      const body = { by, number: number.value.trim() };
      if (by === "user_number") body.holder_name = holder.value.trim();
      try {
        const b = await api("POST", "/api/bindings", body);
        toast("绑定成功");
        go("/h5/account?id=" + b.account_id);
      } catch (e) {
        err.textContent = e.message;
      }
    },
  },
  h("div", { class: "choices" }, radio("user_number", "普表 / IC卡表（用户号）", true), radio("meter_number", "物联网表（表号）", false)),
  h("label", {}, numberLabel, h("span", { class: "with-button" }, number, scan)),
  holderRow, h("button", { type: "submit" }, "立即绑定"), err, hint);
  setBy("user_number");
  show("绑定账户", card(form));
}

// scanMeter reads the meter's barcode with the JS-SDK's scanQRCode, talking
// to WeixinJSBridge directly (what jweixin.js does), so that no script is
// loaded from elsewhere. Whatever fails, the customer types the number.
async function scanMeter(input, err) {
  const fallback = (why) => { err.textContent = why + "请直接输入表号。"; input.focus(); };
  if (!window.WeixinJSBridge) return fallback("无法调用微信扫一扫，");
  let cfg;
  try {
    cfg = await api("GET", "/api/oa/jssdk-config?" + new URLSearchParams({ url: location.href.split("#")[0] }));
  } catch (e) {
    return fallback(e.message);
  }
  const invoke = (name, args) => new Promise((resolve) => window.WeixinJSBridge.invoke(name, args, resolve));
  const ok = await invoke("preVerifyJSAPI", {
    appId: cfg.appId, verifyAppId: cfg.appId, verifySignType: "sha1", verifyTimestamp: String(cfg.timestamp),
    verifyNonceStr: cfg.nonceStr, verifySignature: cfg.signature, verifyJsApiList: ["scanQRCode"],
  });
  if (!ok || !/:ok$/.test(ok.err_msg || "")) return fallback("微信扫一扫暂不可用，");
  const res = await invoke("scanQRCode", { needResult: 1, scanType: ["barCode"], desc: "scanQRCode desc" });
  const text = res && (res.resultStr || res.scan_code && res.scan_code.scan_result);
  const digits = text ? String(text).split(",").pop().replace(/\D/g, "") : "";
  if (!digits) return fallback("没有读到条形码，");
  input.value = digits;
  err.textContent = "";
}

// ---------- 账户信息 ----------

async function accountPage() {
  const list = await bindings();
  const a = await chosenAccount(list);
  if (!a) return show("账户信息", noAccount());
  const parts = [accountPicker(list, a, "account"), card(h("h2", {}, kinds[a.kind] + "账户"), summary(a, true))];
  if (a.kind === "ordinary") {
    const bills = a.bills || [];
    parts.push(card(h("h2", {}, "未缴账单"),
      bills.length ? h("table", { class: "lines", id: "bills" },
        h("thead", {}, h("tr", {}, h("th", {}, "账期"), h("th", {}, "应缴(元)"), h("th", {}, "已缴(元)"), h("th", {}, "欠费(元)"))),
        h("tbody", {}, bills.map((b) => h("tr", {}, h("td", {}, b.period), h("td", {}, yuan(b.amount_due_fen)), h("td", {}, yuan(b.amount_paid_fen)), h("td", {}, yuan(b.owing_fen))))),
        h("tfoot", {}, h("tr", {}, h("th", { colspan: "3" }, "欠费合计"), h("th", {}, yuan(a.arrears_fen))))) : h("p", {}, "没有未缴账单。"),
      link("/h5/pay?id=" + a.id, a.arrears_fen > 0 ? "缴纳欠费" : "预存燃气费", "button wide")));
  } else if (a.kind === "iot") {
    const m = a.meter || {};
    parts.push(card(h("h2", {}, "表内余额"),
      m.last_reported_at ? h("p", { class: "big" }, yuan(m.last_balance_fen) + " 元") : h("p", {}, "燃气表尚未上报余额。"),
      m.last_reported_at ? h("p", { class: "hint" }, "截至 " + bjTime(m.last_reported_at) + " 燃气表上报") : null,
      a.pending_credit ? inFlight(a.pending_credit) : null,
      link("/h5/pay?id=" + a.id, "我要充值", "button wide")));
  } else {
    const c = a.card;
    parts.push(card(h("h2", {}, "燃气卡"),
      c ? dl([["卡号", c.serial], ["卡类型", c.type === "volume" ? "气量卡" : "金额卡"], ["购气次数", c.last_written_seq === null ? "尚未购气" : String(c.last_written_seq)]]) : h("p", {}, "该账户没有在用的燃气卡，请联系营业厅。"),
      a.pending_credit ? h("p", { class: "notice" }, "有一笔已支付的购气（订单 " + a.pending_credit.order_no + "）等待写卡：请在微信小程序中连接蓝牙充值宝读卡，系统会写入这笔购气。") : null,
      h("p", { class: "notice", id: "card-channel" }, "IC卡表不能在服务号直接缴费（EQ0027）：请使用「" + hallInfo.utility_name + "」微信小程序配合蓝牙充值宝购气写卡，或到自助售气终端、营业厅购气。")));
  }
  parts.push(link("/h5/records?id=" + a.id, "缴费记录", "button wide secondary"));
  show("账户信息", ...parts.filter(Boolean));
}

// inFlight says where a paid IoT credit is and what the customer can do.
function inFlight(c) {
  return h("div", { class: "notice", id: "in-flight" },
    h("p", {}, "充值 " + yuan(c.amount) + " 元已支付，已排队等待燃气表通讯。"),
    h("p", {}, "如需立即生效：长按燃气表上的按钮 5 秒以上主动通讯，约 10 分钟后再查看；不主动通讯，次日燃气表自动通讯后到表。"),
    link("/h5/result?order_no=" + encodeURIComponent(c.order_no), "查看进度", "small"));
}

// ---------- 我要缴费 ----------

async function payPage() {
  const list = await bindings();
  const a = await chosenAccount(list);
  if (!a) return show("我要缴费", noAccount());
  const picker = accountPicker(list, a, "pay");
  if (a.kind === "iccard") {
    return show("我要缴费", picker || "", card(h("h2", {}, "IC卡表购气"), summary(a),
      h("p", { class: "notice", id: "card-channel" }, "IC卡表不能在服务号直接缴费（EQ0027）：请使用「" + hallInfo.utility_name + "」微信小程序配合蓝牙充值宝购气写卡，或到自助售气终端、营业厅购气。")));
  }
  const ordinary = a.kind === "ordinary";
  const err = h("p", { class: "error", id: "pay-error", role: "alert" });
  const amount = h("input", { id: "amount", inputmode: "decimal", autocomplete: "off", placeholder: "0.00" });
  const quoteBox = h("div", { id: "quote" });
  const limitFen = a.purchase_limit_fen;
  const maxFen = ordinary ? Math.max(limitFen, a.arrears_fen || 0) : limitFen;
  const quick = ordinary
    ? [a.arrears_fen, 5000, 10000, 20000].filter((v, i, all) => v > 0 && all.indexOf(v) === i)
    : [5000, 10000, 20000, 50000];
  if (ordinary && a.arrears_fen > 0) amount.value = yuan(a.arrears_fen);
  const reset = () => { quoteBox.replaceChildren(); err.textContent = ""; };
  amount.addEventListener("input", reset);
  const chips = h("div", { class: "chips" }, quick.map((fen) => h("button", {
    type: "button", class: "chip", onclick: () => { amount.value = yuan(fen); reset(); },
  }, (ordinary && fen === a.arrears_fen ? "欠费 " : "") + yuan(fen) + " 元")));
  const query = h("button", {
    type: "button", id: "query", onclick: async () => {
      reset();
      const fen = parseYuan(amount.value);
      if (fen === null || fen <= 0) { err.textContent = "请输入正确的金额（元，最多两位小数）。"; return; }
      if (fen > maxFen) { err.textContent = "单次最多可缴 " + yuan(maxFen) + " 元。"; return; }
      try {
        const q = await api("POST", "/api/quotes", { account_id: a.id, amount_fen: fen });
        showQuote(quoteBox, a, q, fen);
      } catch (e) {
        err.textContent = e.message;
      }
    },
  }, "我要查询");
  show(ordinary ? "普表缴费" : "物联网表充值",
    picker || "",
    card(h("h2", {}, "用户信息"), summary(a)),
    card(h("h2", {}, ordinary ? "缴费金额" : "充值金额"), chips,
      h("label", { class: "amount" }, h("span", {}, "金额"), amount, h("span", {}, "元")),
      h("p", { class: "hint", id: "limits" }, ordinary
        ? "最少 0.01 元，单次最多 " + yuan(maxFen) + " 元；先结清最早的账单，多缴部分存入账户余额。"
        : "单次最多 " + yuan(limitFen) + " 元；账户余额先抵扣。"),
      query, err),
    quoteBox);
}

// showQuote lays out the quote as the kiosk shows it: the lines of the
// purchase, 合计, 账户余额抵扣 and 应付款, then the ways to pay.
function showQuote(box, a, q, fen) {
  const rows = q.purpose === "bill"
    ? billRows(a.bills || [], q.gross_fen)
    : q.lines.map((l) => h("tr", {}, h("td", {}, "气费（第" + l.tier + "阶梯）"), h("td", {}, yuan(l.price_fen_per_m3)), h("td", {}, m3(lineVolume(l))), h("td", {}, yuan(l.amount_fen))));
  const credited = q.purpose === "bill"
    ? (q.arrears_fen > 0 ? "结清欠费 " + yuan(Math.min(q.gross_fen, q.arrears_fen)) + " 元" + (q.gross_fen > q.arrears_fen ? "，余下 " + yuan(q.gross_fen - q.arrears_fen) + " 元存入账户余额" : "") : "存入账户余额 " + yuan(q.gross_fen) + " 元")
    : "到表金额 " + yuan(q.credit_amount) + " 元（约 " + m3(q.volume_centi_m3) + " 立方米）";
  const key = "h5-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  const payErr = h("p", { class: "error", id: "order-error", role: "alert" });
  const buttons = [];
  if (inWeChat || hallInfo.sandbox.wechat_pay) {
    buttons.push(h("button", { type: "button", class: "wechat", id: "pay-wechat", onclick: (ev) => pay(ev.target, a, fen, "wechat_oa", key + "-w", q, payErr) }, "微信支付"));
  }
  if (!inWeChat) {
    buttons.push(h("button", { type: "button", class: "alipay", id: "pay-alipay", onclick: (ev) => pay(ev.target, a, fen, "alipay_wap", key + "-a", q, payErr) }, "支付宝支付"));
  } else {
    buttons.push(h("p", { class: "hint" }, "微信内不能打开支付宝；如需支付宝支付，请在手机浏览器中打开本页。"));
  }
  box.replaceChildren(card(h("h2", {}, "购气信息"),
    h("table", { class: "lines", id: "quote-lines" },
      h("thead", {}, h("tr", {}, h("th", {}, "费用"), h("th", {}, "单价(元)"), h("th", {}, "气量(方)"), h("th", {}, "金额(元)"))),
      h("tbody", {}, rows),
      h("tfoot", {}, h("tr", {}, h("th", { colspan: "3" }, "合计"), h("th", {}, yuan(q.gross_fen))))),
    dl([["账户余额抵扣", yuan(q.deduction_fen) + " 元"], ["应付款", yuan(q.payable_fen) + " 元", "payable"],
      q.leftover_fen > 0 ? ["存入余额", yuan(q.leftover_fen) + " 元"] : null, ["到账", credited]]),
    h("p", { class: "hint" }, "报价有效至 " + bjTime(q.valid_until) + "，以支付时的计算为准。"),
    h("div", { class: "pay-buttons" }, buttons), payErr));
  box.scrollIntoView({ block: "start" });
}

// billRows shows what a bill payment settles, as the server settles it:
// the oldest open bill first, the rest to the account's balance.
function billRows(bills, gross) {
  const rows = [];
  let left = gross;
  for (const b of bills) {
    if (left <= 0) break;
    const take = Math.min(b.owing_fen, left);
    rows.push(h("tr", {}, h("td", {}, "燃气费 " + b.period), h("td", {}, "—"), h("td", {}, "—"), h("td", {}, yuan(take))));
    left -= take;
  }
  if (left > 0) rows.push(h("tr", {}, h("td", {}, "预存（存入账户余额）"), h("td", {}, "—"), h("td", {}, "—"), h("td", {}, yuan(left))));
  return rows;
}

async function pay(button, a, fen, channel, key, q, err) {
  err.textContent = "";
  button.disabled = true;
  let res;
  try {
    res = await api("POST", "/api/orders", { account_id: a.id, amount_fen: fen, channel }, { "Idempotency-Key": key });
  } catch (e) {
    err.textContent = e.message;
    button.disabled = false;
    if (e.code === "previous_order_paid") toast(e.message);
    return;
  }
  const no = res.order.order_no;
  const result = "/h5/result?order_no=" + encodeURIComponent(no);
  if (channel === "alipay_wap") return go(res.payment.pay_url);
  if (window.WeixinJSBridge || inWeChat) {
    return wechatPay(res.payment, () => go(result), (msg) => { err.textContent = msg; button.disabled = false; });
  }
  paySheet(res.order, () => go(result), () => { button.disabled = false; });
}

// wechatPay opens WeChat's pay sheet (JSAPI) with the parameters the
// order answered.
function wechatPay(p, done, failed) {
  const invoke = () => window.WeixinJSBridge.invoke("getBrandWCPayRequest", {
    appId: p.appId, timeStamp: p.timeStamp, nonceStr: p.nonceStr, package: p.package, signType: p.signType, paySign: p.paySign,
  }, (res) => {
    const m = (res && res.err_msg) || "";
    if (m === "get_brand_wcpay_request:ok") done();
    else if (m === "get_brand_wcpay_request:cancel") failed("已取消支付，未扣款。");
    else failed("微信支付未完成，请重试。");
  });
  if (window.WeixinJSBridge) invoke();
  else document.addEventListener("WeixinJSBridgeReady", invoke, { once: true });
}

// paySheet stands in for WeChat's pay sheet in the sandbox, outside
// WeChat: the amount, and 支付, which the sandbox WeChat Pay takes as the
// customer paying (it then notifies the server, as WeChat does).
function paySheet(order, done, cancelled) {
  const err = h("p", { class: "error", role: "alert" });
  const close = () => { sheet.remove(); cancelled(); };
  const payBtn = h("button", {
    type: "button", id: "sheet-pay", class: "wechat", onclick: async () => {
      payBtn.disabled = true;
      try {
        await api("POST", "/sandbox/wechat/pay/" + encodeURIComponent(order.order_no));
        done();
      } catch (e) {
        err.textContent = e.message;
        payBtn.disabled = false;
      }
    },
  }, "支付");
  const sheet = h("div", { class: "sheet-backdrop", id: "pay-sheet" },
    h("div", { class: "sheet", role: "dialog", "aria-label": "微信支付（沙箱）" },
      h("div", { class: "sheet-head" }, h("button", { type: "button", class: "link", onclick: close }, "✕"), h("span", {}, "微信支付（沙箱）")),
      h("p", { class: "sheet-payee" }, hallInfo.utility_name),
      h("p", { class: "sheet-amount", id: "sheet-amount" }, "¥" + yuan(order.payable_fen)),
      h("p", { class: "hint" }, "沙箱环境：不会真实扣款。订单号 " + order.order_no),
      payBtn, err));
  document.body.append(sheet);
}

// ---------- 支付结果 ----------

async function resultPage() {
  const no = params.get("order_no") || params.get("out_trade_no");
  if (!no) return show("支付结果", card(h("p", {}, "没有订单号。"), link("/h5/", "返回服务大厅")));
  await bindings();
  const state = h("p", { class: "big", id: "pay-state" }, "正在查询支付结果…");
  const delivery = h("div", { id: "delivery" });
  const details = h("div");
  const actions = h("div", { class: "pay-buttons" });
  show("支付结果", card(state, details), card(h("h2", {}, "到账进度"), delivery), actions);
  const started = Date.now();
  for (;;) {
    let o;
    try {
      o = await api("GET", "/api/orders/" + encodeURIComponent(no));
    } catch (e) {
      if (e.status === 401 || e.status === 404) throw e;
      state.textContent = e.message;
      await sleep(3000);
      continue;
    }
    renderResult(o, state, delivery, details, actions);
    const settled = o.status !== "pending" && !(o.status === "paid" && o.credit && o.credit.status === "pending");
    if (settled) return;
    // Fast while the payment is news, then gently while the credit travels.
    await sleep(Date.now() - started < 60000 ? 1000 : 5000);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function renderResult(o, state, delivery, details, actions) {
  const paid = o.paid_at !== undefined;
  state.className = "big " + (o.status === "paid" ? "ok" : o.status === "pending" ? "" : "warn");
  state.textContent = {
    pending: "等待支付结果…", paid: o.purpose === "bill" ? "缴费成功" : "充值成功",
    closed: "订单已关闭，未扣款", refunding: "正在退款", refunded: "已退款", reversed: "已冲正",
  }[o.status] || o.status;
  details.replaceChildren(dl([["订单号", o.order_no], ["支付方式", channels[o.channel] || o.channel],
    ["应付款", yuan(o.payable_fen) + " 元"], paid ? ["支付时间", bjTime(o.paid_at)] : null]));
  delivery.replaceChildren(...deliverySteps(o));
  actions.replaceChildren(...[
    paid ? link("/h5/receipt?order_no=" + encodeURIComponent(o.order_no), "查看缴费凭证", "button") : null,
    link("/h5/records?id=" + o.account_id, "缴费记录", "button secondary"),
    link("/h5/", "返回服务大厅", "button secondary"),
  ].filter(Boolean));
}

// deliverySteps says where the credit is: bill settled, queued for the
// meter, waiting for the card, applied.
function deliverySteps(o) {
  const c = o.credit;
  if (o.status === "pending") return [h("p", { id: "delivery-state" }, "支付完成后显示到账进度。")];
  if (!c) return [h("p", { id: "delivery-state" }, o.status === "closed" ? "订单未支付，不会到账。" : "—")];
  if (c.status === "cancelled") return [h("p", { id: "delivery-state" }, "本次到账已取消（已退款或冲正）。")];
  if (c.kind === "bill") {
    const parts = [];
    if (c.settled_fen) parts.push("结清账单 " + yuan(c.settled_fen) + " 元");
    if (c.to_balance_fen) parts.push("存入账户余额 " + yuan(c.to_balance_fen) + " 元");
    return [h("p", { id: "delivery-state", class: "ok" }, "已销账：" + (parts.join("，") || "已入账"))];
  }
  if (c.kind === "iot") {
    if (c.status === "delivered") return [h("p", { id: "delivery-state", class: "ok" }, "已到表：充值 " + yuan(c.amount) + " 元已写入燃气表。")];
    return [h("p", { id: "delivery-state" }, "已排队：充值 " + yuan(c.amount) + " 元等待燃气表通讯后到表。"),
      h("p", { class: "hint" }, "长按燃气表上的按钮 5 秒以上主动通讯，约 10 分钟后到表；不主动通讯，次日自动到表。本页会自动更新。")];
  }
  if (c.status === "delivered") return [h("p", { id: "delivery-state", class: "ok" }, "已写卡：请将燃气卡插入燃气表。")];
  return [h("p", { id: "delivery-state" }, "等待写卡：请在微信小程序中连接蓝牙充值宝读卡，系统会写入这笔购气。")];
}

// ---------- 缴费记录 ----------

async function recordsPage() {
  const list = await bindings();
  const a = await chosenAccount(list);
  if (!a) return show("缴费记录", noAccount());
  const orders = (await api("GET", "/api/orders?account_id=" + a.id)).orders;
  const items = orders.map((o) => {
    const href = o.paid_at ? "/h5/receipt?order_no=" + encodeURIComponent(o.order_no) : "/h5/result?order_no=" + encodeURIComponent(o.order_no);
    return h("li", {}, h("a", { href, class: "record" },
      h("span", {}, h("strong", {}, (o.purpose === "bill" ? "燃气费 " : "购气 ") + yuan(o.payable_fen) + " 元"), h("br"),
        h("small", {}, bjTime(o.paid_at || o.created_at) + " · " + (channels[o.channel] || o.channel))),
      h("span", { class: "tag " + o.status }, orderStates[o.status] || o.status)));
  });
  show("缴费记录", accountPicker(list, a, "records") || "",
    card(h("h2", {}, accountName(a)),
      orders.length ? h("ul", { class: "list", id: "records" }, items) : h("p", {}, "暂无缴费记录。")));
}

// ---------- 缴费凭证 ----------

async function receiptPage() {
  const no = params.get("order_no");
  await bindings();
  const r = await api("GET", "/api/orders/" + encodeURIComponent(no || "-") + "/receipt");
  const d = r.delivery;
  let delivered = "—";
  if (d) {
    delivered = d.status === "delivered" ? (d.kind === "bill" ? "已销账" : d.kind === "card" ? "已写卡" : "已到表")
      : d.status === "cancelled" ? "已取消" : d.kind === "card" ? "等待写卡" : "已排队，等待燃气表通讯";
  }
  const rows = r.purpose === "bill"
    ? [h("tr", {}, h("td", {}, "燃气费"), h("td", {}, "—"), h("td", {}, "—"), h("td", {}, yuan(r.gross_fen)))]
    : r.lines.map((l) => h("tr", {}, h("td", {}, "气费（第" + l.tier + "阶梯）"), h("td", {}, yuan(l.price_fen_per_m3)), h("td", {}, m3(lineVolume(l))), h("td", {}, yuan(l.amount_fen))));
  show("缴费凭证",
    h("article", { class: "card receipt", id: "receipt" },
      h("h2", { class: "center" }, r.utility_name + " 缴费凭证"),
      dl([["用户号", r.user_number], ["户主", r.holder], ["用户类型", kinds[r.account_kind]], ["订单号", r.order_no],
        ["支付方式", channels[r.channel] || r.channel], ["支付时间", bjTime(r.paid_at)], ["订单状态", orderStates[r.status] || r.status]]),
      h("table", { class: "lines" },
        h("thead", {}, h("tr", {}, h("th", {}, "费用"), h("th", {}, "单价(元)"), h("th", {}, "气量(方)"), h("th", {}, "金额(元)"))),
        h("tbody", {}, rows),
        h("tfoot", {}, h("tr", {}, h("th", { colspan: "3" }, "合计"), h("th", {}, yuan(r.gross_fen))))),
      dl([["账户余额抵扣", yuan(r.deduction_fen) + " 元"], ["实付金额", yuan(r.paid_fen) + " 元", "payable"],
        r.leftover_fen > 0 ? ["存入余额", yuan(r.leftover_fen) + " 元"] : null,
        d && d.kind === "bill" && d.settled_fen ? ["结清账单", yuan(d.settled_fen) + " 元"] : null,
        d && d.kind === "bill" && d.to_balance_fen ? ["存入余额", yuan(d.to_balance_fen) + " 元"] : null,
        ["购气次数", r.purchase_seq === null ? "—" : String(r.purchase_seq)], ["到账状态", delivered, "delivery"]]),
      h("p", { class: "hint center" }, "请妥善保存本凭证（可截图或打印），以备查询。")),
    h("div", { class: "pay-buttons no-print" },
      h("button", { type: "button", id: "print", onclick: () => window.print() }, "打印凭证"),
      link("/h5/records", "缴费记录", "button secondary")));
}

// ---------- start ----------

const pages = {
  "/h5/": homePage, "/h5/accounts": accountsPage, "/h5/bind": bindPage, "/h5/account": accountPage,
  "/h5/pay": payPage, "/h5/result": resultPage, "/h5/records": recordsPage, "/h5/receipt": receiptPage,
};

$("logout").addEventListener("click", async () => {
  try {
    await api("POST", "/api/logout");
  } catch (e) { /* the session is gone either way */ }
  go("/h5/");
});

(async () => {
  try {
    hallInfo = await api("GET", "/api/hall");
  } catch (e) { /* the pages still work with the defaults */ }
  $("back").hidden = location.pathname === "/h5/";
  const page = pages[location.pathname] || homePage;
  await guarded(page);
  view.dataset.ready = location.pathname;
})();
