// The staff console: one page over /api/admin. The session is an HttpOnly
// cookie; the CSRF token the login answers is kept in memory and sent with
// every change (a reload asks /api/admin/me for it again).
"use strict";
(function () {
  var csrf = "", me = null;
  var view = document.getElementById("view");

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function yuan(fen) {
    if (fen == null) return "";
    var neg = fen < 0; fen = Math.abs(fen);
    return (neg ? "-" : "") + "¥" + Math.floor(fen / 100) + "." + String(fen % 100).padStart(2, "0");
  }
  function when(t) {
    if (!t) return "";
    var d = new Date(t);
    function p(n) { return String(n).padStart(2, "0"); }
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  var words = {
    ordinary: "普通表", iot: "物联网表", iccard: "IC卡表", active: "正常", suspended: "停用", closed: "销户",
    pending: "待支付", paid: "已支付", refunding: "退款中", refunded: "已退款", reversed: "已冲正",
    delivered: "已到表", cancelled: "已取消", processing: "处理中", succeeded: "成功", failed: "失败",
    awaiting_approval: "等待审批", approved: "已批准", rejected: "已驳回", current: "在用", lost: "挂失",
    wechat_mp: "微信小程序", wechat_oa: "微信公众号", alipay_wap: "支付宝H5", alipay_mp: "支付宝小程序", partner: "代收合作方",
    viewer: "客服", operator: "营业员", finance: "财务", admin: "管理员", bill: "账单", gas: "购气", card: "IC卡", applied: "已导入",
    staging: "暂存", committed: "导入中",
    queued: "排队待发", sent: "已发往平台", expired: "平台已过期，待重发", applied_iot: "燃气表已确认", awaiting_write: "待写卡",
    in_doubt: "结果未知", low_balance: "余额不足提醒", payment_received: "缴费成功", credit_delivered: "充值到账",
    delivery_action: "需要操作", arrears_reminder: "欠费提醒", refused: "用户拒收", quota: "无订阅授权或超额", given_up: "已放弃",
    matched: "已平", mismatched: "有差异", reported: "充值宝已回报", on_card: "读卡确认已在卡上", not_landed: "读卡确认未写入",
    superseded: "已由另一次写卡送达", alipay: "支付宝", wechat: "微信支付", done: "已完成", waiting: "等待账单", open: "未处理", repaired: "已修复", resolved: "已处理", running: "对账中", retry: "待重试",
    // alert kinds
    payment_mismatch: "支付与订单不符", unknown_order: "未知订单的付款", second_payment: "同一订单重复付款",
    payment_refunded: "付款已自动退回", refund_mismatch: "退款金额不符", unknown_refund: "未知的退款通知",
    refund_failed: "退款失败", delivery_overdue: "已付款长时间未送达", import_paid_over: "导入期间账单多缴",
    import_row_skipped: "导入行被跳过", message_given_up: "消息发送放弃", reconcile_missing_here: "对账：本系统无此交易",
    reconciliation: "对账有差异", gas_for_refunded_order: "已退款订单的气量到账",
    iot_rejected: "燃气表拒绝充值", iot_meter_behind: "燃气表缺少前一笔充值", iot_meter_silent: "燃气表长时间未通讯",
    iot_credit_unapplied: "物联网充值长时间未到账", iot_refund_failed: "物联网退款未完成"
  };
  function w(s) { return words[s] || s || ""; }

  function toast(msg, bad) {
    var t = document.getElementById("toast");
    t.textContent = msg; t.hidden = false; t.className = "toast" + (bad ? " err" : "");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 4000);
  }

  // api calls the JSON API; a change carries the CSRF token. It resolves
  // to {status, body}; a lost session shows the login form.
  function api(method, path, body, contentType) {
    var opts = { method: method, headers: {}, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      opts.headers["Content-Type"] = contentType || "application/json";
      opts.body = contentType ? body : JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var b = null;
        try { b = t ? JSON.parse(t) : null; } catch (e) { b = { message: t }; }
        if (r.status === 401 && path !== "/api/admin/login") { showLogin("登录已过期，请重新登录。"); throw new Error("unauthenticated"); }
        return { status: r.status, body: b || {} };
      });
    });
  }
  function failed(res) { toast((res.body && res.body.message) || ("出错了（" + res.status + "）"), true); }

  function can(perm) {
    var g = { read: ["viewer", "operator", "finance", "admin"], act: ["operator", "admin"], approve: ["finance", "admin"],
      audit: ["finance", "admin"], report: ["finance", "admin"], manage: ["admin"] };
    return me && g[perm].indexOf(me.role) >= 0;
  }

  function showLogin(msg) {
    me = null; csrf = "";
    document.getElementById("nav").hidden = true;
    document.getElementById("logout").hidden = true;
    document.getElementById("who").hidden = true;
    view.innerHTML = '<form id="login-form" class="card login">' +
      '<h2>员工登录</h2>' + (msg ? '<p class="err">' + esc(msg) + "</p>" : "") +
      '<label for="name">用户名</label><input id="name" name="name" type="text" autocomplete="username" required>' +
      '<label for="password">密码</label><input id="password" name="password" type="password" autocomplete="current-password" required>' +
      '<label for="otp">动态验证码（已开通时填写）</label><input id="otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="6">' +
      '<p id="login-error" class="err" hidden></p><button type="submit">登录</button></form>';
    document.getElementById("login-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var body = { name: val("name"), password: val("password") };
      if (val("otp")) body.otp = val("otp");
      api("POST", "/api/admin/login", body).then(function (res) {
        if (res.status !== 200) {
          var p = document.getElementById("login-error");
          p.textContent = res.body.message || "登录失败"; p.hidden = false;
          return;
        }
        csrf = res.body.csrf_token;
        start();
      });
    });
  }
  function val(id) { var e = document.getElementById(id); return e ? e.value.trim() : ""; }

  function start() {
    api("GET", "/api/admin/me").then(function (res) {
      if (res.status !== 200) { showLogin(); return; }
      me = res.body; csrf = me.csrf_token || csrf;
      var who = document.getElementById("who");
      who.textContent = me.name + "（" + w(me.role) + "）"; who.hidden = false;
      document.getElementById("logout").hidden = false;
      document.getElementById("nav").hidden = false;
      route();
    }).catch(function () {});
  }

  document.getElementById("logout").addEventListener("click", function () {
    api("POST", "/api/admin/logout").then(function () { location.hash = ""; showLogin("已退出登录。"); });
  });

  function route() {
    if (!me) return;
    var h = location.hash.replace(/^#/, "") || "dash";
    var parts = h.split("/");
    var tabs = document.querySelectorAll("nav a");
    for (var i = 0; i < tabs.length; i++) {
      tabs[i].className = tabs[i].getAttribute("data-tab") === (parts[0] === "customer" ? "search" : parts[0]) ? "on" : "";
    }
    var pages = { dash: dashboard, search: search, customer: customer, orders: orders, approvals: approvals, alerts: alerts,
      imports: imports, audit: audit, reports: reports, recon: recon, settings: settings };
    (pages[parts[0]] || dashboard)(parts[1] ? decodeURIComponent(parts[1]) : "");
  }
  window.addEventListener("hashchange", route);

  function table(head, rows) {
    if (!rows.length) return '<p class="muted">没有记录。</p>';
    return '<div class="scroll"><table><thead><tr>' + head.map(function (h) { return "<th>" + esc(h) + "</th>"; }).join("") +
      "</tr></thead><tbody>" + rows.map(function (r) { return "<tr>" + r.map(function (c) { return "<td>" + c + "</td>"; }).join("") + "</tr>"; }).join("") +
      "</tbody></table></div>";
  }

  // 工作台
  function dashboard() {
    view.innerHTML = "<h2>工作台</h2><p class='muted'>正在加载…</p>";
    api("GET", "/api/admin/dashboard").then(function (res) {
      if (res.status !== 200) return failed(res);
      var d = res.body;
      view.innerHTML = "<h2>工作台 · " + esc(d.day) + "</h2>" +
        '<div class="grid"><div class="card"><div class="muted">今日收款</div><div class="fig" id="today-total">' + yuan(d.total_fen) + "</div><div>" + d.total_count + " 笔</div></div>" +
        '<div class="card"><div class="muted">未处理告警</div><div class="fig">' + d.open_alerts + '</div><a href="#alerts">查看</a></div>' +
        '<div class="card"><div class="muted">待审批退款</div><div class="fig">' + d.pending_approvals + '</div><a href="#approvals">查看</a></div>' +
        '<div class="card"><div class="muted">对账任务最近完成</div><div>' + (d.janitor_last_run ? esc(when(d.janitor_last_run)) : "尚未运行") + "</div></div></div>" +
        "<h2>今日各渠道收款</h2>" + table(["渠道", "笔数", "金额"], d.payments.map(function (p) { return [esc(w(p.channel)), p.count, yuan(p.total_fen)]; })) +
        "<h2>等待送达的气量</h2>" + table(["方式", "已等待", "笔数"], d.pending_credits.map(function (p) { return [esc(w(p.kind)), esc(p.age), p.count]; }));
    });
  }

  // 查询
  function search(q) {
    view.innerHTML = '<h2>查询账户</h2><form id="search-form" class="row card"><input id="q" type="text" placeholder="用户号、表号、卡号、电话或户名开头" maxlength="32" value="' + esc(q) + '"><button type="submit">查询</button></form><div id="results"></div>';
    document.getElementById("search-form").addEventListener("submit", function (e) {
      e.preventDefault();
      location.hash = "search/" + encodeURIComponent(val("q"));
    });
    if (!q) return;
    api("GET", "/api/admin/accounts?q=" + encodeURIComponent(q)).then(function (res) {
      if (res.status !== 200) return failed(res);
      var list = res.body.accounts;
      document.getElementById("results").innerHTML = list.length ? table(["用户号", "户名", "类型", "状态", "表号 / 卡号", "电话", "地址", "余额", "欠费"],
        list.map(function (a) {
          return ['<a class="account" href="#customer/' + a.id + '">' + esc(a.user_number) + "</a>", esc(a.holder_name), esc(w(a.kind)),
            esc(w(a.status)), esc(a.meter_number || a.card_serial || ""), esc(a.phone), esc(a.address), yuan(a.balance_fen), yuan(a.arrears_fen)];
        })) : '<p class="muted">没有找到匹配的账户。</p>';
    });
  }

  // Customer
  function customer(id) {
    view.innerHTML = "<p class='muted'>正在加载…</p>";
    api("GET", "/api/admin/accounts/" + encodeURIComponent(id)).then(function (res) {
      if (res.status !== 200) return failed(res);
      var c = res.body, a = c.account;
      var html = '<h2 id="customer-title">' + esc(a.holder_name) + " · " + esc(a.user_number) + "</h2>" +
        '<div class="card"><dl class="kv"><dt>类型</dt><dd>' + esc(w(a.kind)) + "</dd><dt>状态</dt><dd>" + esc(w(a.status)) + "</dd>" +
        "<dt>电话</dt><dd>" + esc(a.phone) + "</dd><dt>地址</dt><dd>" + esc(a.address) + "</dd>" +
        "<dt>余额</dt><dd>" + yuan(a.balance_fen) + "</dd><dt>欠费</dt><dd>" + yuan(a.arrears_fen) + "</dd>" +
        "<dt>购气次数</dt><dd>" + a.purchase_seq + "</dd>" +
        (c.meter ? "<dt>表号</dt><dd>" + esc(c.meter.meter_number) + (c.meter.last_reported_at ? "（" + yuan(c.meter.last_balance_fen) + "，" + esc(when(c.meter.last_reported_at)) + "）" : "") + "</dd>" : "") +
        "</dl></div>";
      if (can("act")) {
        html += '<div class="card"><form id="status-form" class="row"><select id="new-status"><option value="suspended">停用</option><option value="active">启用</option></select>' +
          '<input id="status-note" type="text" placeholder="原因（必填）" maxlength="120"><button type="submit">更改状态</button></form>' +
          '<form id="correct-form" class="row"><input id="new-phone" type="text" placeholder="新电话" maxlength="20"><input id="new-address" type="text" placeholder="新地址" maxlength="255"><button type="submit">更正</button></form>' +
          (a.kind === "iccard" ? '<form id="card-form" class="row"><input id="new-card" type="text" placeholder="新卡号（16位）" maxlength="16"><input id="card-note" type="text" placeholder="备注" maxlength="120"><button type="submit" class="warn">挂失并补卡</button></form>' : "") +
          "</div>";
      }
      html += "<h2>卡</h2>" + table(["卡号", "类型", "状态", "最近写卡次数", "登记时间"], c.cards.map(function (k) {
        return [esc(k.card_serial), esc(k.card_type === "volume" ? "气量卡" : "金额卡"), '<span class="tag ' + (k.status === "lost" ? "bad" : "good") + '">' + esc(w(k.status)) + "</span>", k.last_written_seq == null ? "" : k.last_written_seq, esc(when(k.created_at))];
      }));
      html += "<h2>绑定的微信用户</h2>" + table(["应用", "OpenID", "默认", "绑定时间", ""], c.bindings.map(function (b) {
        return [esc(b.app === "mp" ? "小程序" : "公众号"), esc(b.open_id), b.is_default ? "是" : "", esc(when(b.created_at)),
          can("act") ? '<button type="button" class="link unbind" data-id="' + b.binding_id + '">解绑</button>' : ""];
      }));
      html += "<h2>账单</h2>" + table(["账期", "应缴", "已缴", "截止日"], c.bills.map(function (b) { return [esc(b.period), yuan(b.amount_due_fen), yuan(b.amount_paid_fen), esc(b.due_date || "")]; }));
      html += "<h2>订单</h2>" + orderTable(c.orders);
      html += "<h2>抄表读数</h2>" + table(["日期", "读数（m³）"], c.readings.map(function (r) { return [esc(when(r.read_at).slice(0, 10)), (r.reading_centi_m3 / 100).toFixed(2)]; }));
      if (a.kind === "iccard") html += "<h2>写卡记录（恢复状态）</h2>" + table(["下发时间", "充值宝", "购气次数", "写入量", "结果"], c.card_writes.map(function (x) {
        return [esc(when(x.issued_at)), esc(x.box_id), x.seq, x.amount, x.in_doubt ? '<span class="tag bad">未确认，可能已写入卡中（读卡后确定）</span>' : esc(x.result) + " " + esc(when(x.resolved_at))];
      }));
      html += "<h2>充值宝记录</h2>" + table(["时间", "事件", "订单", "卡号", "说明"], c.box_events.map(function (e) { return [esc(when(e.created_at)), esc(e.kind), esc(e.order_no || ""), esc(e.card_serial || ""), esc(e.detail)]; }));
      html += '<h2>发送的消息</h2><div id="messages">' + table(["时间", "消息", "应用", "OpenID", "状态", "发送时间", "说明"], c.messages.map(function (m) {
        return [esc(when(m.created_at)), '<span class="message-event">' + esc(w(m.event)) + "</span>", esc(m.app === "mp" ? "小程序" : "公众号"), esc(m.open_id),
          '<span class="tag ' + (m.state === "sent" ? "good" : (m.state === "pending" ? "" : "bad")) + '">' + esc(w(m.state)) + "</span>", esc(when(m.sent_at)), esc(m.last_error || "")];
      })) + "</div>";
      view.innerHTML = html;
      bindOrderButtons(function () { customer(id); });
      on("status-form", function () {
        return api("POST", "/api/admin/accounts/" + a.id + "/status", { status: val("new-status"), note: val("status-note") });
      }, "状态已更改", function () { customer(id); });
      on("correct-form", function () {
        var b = { note: "营业厅更正" };
        if (val("new-phone")) b.phone = val("new-phone");
        if (val("new-address")) b.address = val("new-address");
        return api("POST", "/api/admin/accounts/" + a.id + "/correction", b);
      }, "已更正", function () { customer(id); });
      on("card-form", function () {
        return api("POST", "/api/admin/accounts/" + a.id + "/card-replacement", { card_serial: val("new-card"), note: val("card-note") });
      }, "旧卡已挂失，新卡已登记", function () { customer(id); });
      var ub = view.querySelectorAll("button.unbind");
      for (var i = 0; i < ub.length; i++) ub[i].addEventListener("click", function (e) {
        api("DELETE", "/api/admin/accounts/" + a.id + "/bindings/" + e.target.getAttribute("data-id")).then(function (res) {
          if (res.status !== 204) return failed(res);
          toast("已解绑"); customer(id);
        });
      });
    });
  }

  // on submits a form through send and reports the outcome.
  function on(formID, send, okMsg, then) {
    var f = document.getElementById(formID);
    if (!f) return;
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      send().then(function (res) {
        if (res.status >= 300) return failed(res);
        toast(okMsg); if (then) then(res);
      });
    });
  }

  function orderTable(list) {
    return table(["订单号", "创建时间", "渠道", "状态", "应付", "价格版本", "支付", "送达", ""], list.map(function (o) {
      var credit = o.credit ? ({ pending: "待送达", delivered: "已到表", cancelled: "已取消" }[o.credit.status] || o.credit.status) + (o.delivery_attempts ? "（已尝试 " + o.delivery_attempts + " 次）" : "") : "";
      var acts = '<button type="button" class="link ask" data-no="' + esc(o.order_no) + '">查询支付机构</button>';
      if (o.credit && o.credit.kind !== "bill") acts += ' <button type="button" class="link delivery" data-no="' + esc(o.order_no) + '">送达状态</button>';
      if (can("act") && o.status === "paid") acts += ' <button type="button" class="link refund" data-no="' + esc(o.order_no) + '">退款</button>';
      return ['<span class="order-no">' + esc(o.order_no) + "</span>", esc(when(o.created_at)), esc(w(o.channel)),
        '<span class="order-status">' + esc(w(o.status)) + "</span>" + (o.refund ? "<br>退款" + esc(w(o.refund.status)) : ""),
        yuan(o.payable_fen), o.tariff_version ? '<span class="tariff-version">第 ' + o.tariff_version + " 版</span>" : "", o.payment ? esc(o.payment.provider) + " " + esc(o.payment.provider_txn_id) : "", esc(credit),
        acts + '<div class="order-extra" data-no="' + esc(o.order_no) + '"></div>'];
    }));
  }

  function extra(no) { return view.querySelector('.order-extra[data-no="' + no + '"]'); }

  // deliveryState shows where an order's credit stands: a card credit's
  // recovery, or an IoT credit's delivery with a resend for the counter.
  function deliveryState(no, box) {
    api("GET", "/api/admin/orders/" + no + "/delivery").then(function (res) {
      if (res.status !== 200) { box.innerHTML = '<span class="err">' + esc(res.body.message) + "</span>"; return; }
      var d = res.body, html = "";
      if (d.card) {
        var says = { awaiting_write: "待写卡：客户下次在任一充值宝或自助机读卡时写入，不再收费。", in_doubt: "写卡结果未知：下次读卡时确定；卡上没有就重新写入，不会重复。",
          delivered: "已写入卡中。", cancelled: "已取消（已退款或冲正）。" };
        html = '<div class="recovery"><b>恢复状态：</b><span class="recovery-state">' + esc(w(d.card.recovery)) + "</span> " + esc(says[d.card.recovery] || "") +
          table(["下发时间", "充值宝", "购气次数", "写入量", "结果"], d.card.writes.map(function (x) {
            return [esc(when(x.issued_at)), esc(x.box_id), x.seq, x.amount, x.result ? esc(x.result) + " " + esc(when(x.resolved_at)) : '<span class="tag bad">未确认</span>'];
          })) + "</div>";
      } else if (d.iot) {
        var i = d.iot;
        html = '<div class="recovery"><b>物联网下发：</b><span class="iot-state">' + esc(i.state === "applied" ? w("applied_iot") : w(i.state)) + "</span>，第 " + i.seq + " 次购气，已发 " + i.copies + " 份" +
          (i.valid_until ? "，最后一份有效至 " + esc(when(i.valid_until)) : "") + (i.cancel_requested_at ? "，已申请取消（" + (i.cancel_confirmed_at ? "平台已确认" : "待平台确认") + "）" : "") +
          (d.in_doubt ? '，<span class="tag bad">可能仍会到账，不能直接退款</span>' : "") +
          (can("act") && (i.state === "sent" || i.state === "expired" || i.state === "queued") && !i.cancel_requested_at ? ' <button type="button" class="resend" data-no="' + esc(no) + '">重发指令</button>' : "") + "</div>";
      } else if (d.kind === "iot") {
        html = '<div class="recovery"><b>物联网下发：</b><span class="iot-state">待排队</span>，付款已到，下发任务将很快发往燃气表平台' +
          (can("act") && d.credit_status === "pending" ? ' <button type="button" class="resend" data-no="' + esc(no) + '">立即下发</button>' : "") + "</div>";
      } else {
        html = '<span class="muted">' + esc(w(d.credit_status)) + "</span>";
      }
      box.innerHTML = html;
      var rb = box.querySelector("button.resend");
      if (rb) rb.addEventListener("click", function () {
        api("POST", "/api/admin/orders/" + no + "/resend", { note: "营业厅重发" }).then(function (r) {
          if (r.status !== 200) return failed(r);
          toast("已重发，共 " + r.body.copies + " 份"); deliveryState(no, box);
        });
      });
    });
  }

  function bindOrderButtons(reload) {
    view.querySelectorAll("button.delivery").forEach(function (b) {
      b.addEventListener("click", function () { var no = b.getAttribute("data-no"); deliveryState(no, extra(no)); });
    });
    view.querySelectorAll("button.ask").forEach(function (b) {
      b.addEventListener("click", function () {
        var no = b.getAttribute("data-no");
        api("GET", "/api/admin/orders/" + no + "/provider").then(function (res) {
          var box = extra(no);
          if (res.status !== 200) { box.innerHTML = '<span class="err">' + esc(res.body.message) + "</span>"; return; }
          var t = res.body;
          box.innerHTML = '<span class="provider-answer">' + esc(t.provider) + "：" + esc({ paid: "已支付", not_paid: "未支付", closed: "已关闭", not_found: "无此订单" }[t.state] || t.state) +
            (t.amount_fen ? "，" + yuan(t.amount_fen) : "") + (t.txn_id ? "，交易号 " + esc(t.txn_id) : "") + "</span>";
        });
      });
    });
    view.querySelectorAll("button.refund").forEach(function (b) {
      b.addEventListener("click", function () {
        var no = b.getAttribute("data-no"), box = extra(no);
        box.innerHTML = '<form class="row refund-form"><input class="refund-reason" type="text" placeholder="退款原因" maxlength="60"><button type="submit" class="warn">确认退款</button></form>';
        box.querySelector("form").addEventListener("submit", function (e) {
          e.preventDefault();
          api("POST", "/api/admin/orders/" + no + "/refund", { reason: box.querySelector(".refund-reason").value.trim() }).then(function (res) {
            if (res.status !== 202) { box.innerHTML = '<span class="err">' + esc(res.body.message) + "</span>"; return; }
            if (res.body.status === "cancel_requested") {
              box.innerHTML = '<span class="refund-result">充值指令已发往燃气表，已申请取消；燃气表上报确认未到账后自动原路退款。</span>';
              return;
            }
            if (res.body.status === "awaiting_approval") {
              box.innerHTML = '<span class="refund-result">退款金额超过 ' + yuan(res.body.threshold_fen) + "，已提交审批（编号 " + res.body.approval_id + "），需另一位财务或管理员批准。</span>";
              return;
            }
            box.innerHTML = '<span class="refund-result ok">已发起退款 ' + esc(res.body.refund_no) + "：" + esc(w(res.body.status)) + "</span>";
          });
        });
      });
    });
  }

  // 订单
  function orders() {
    view.innerHTML = '<h2>订单</h2><form id="order-filter" class="row card"><label>从 <input id="f-from" type="date"></label><label>到 <input id="f-to" type="date"></label>' +
      '<select id="f-channel"><option value="">全部渠道</option><option value="wechat_mp">微信小程序</option><option value="wechat_oa">微信公众号</option><option value="alipay_wap">支付宝H5</option><option value="alipay_mp">支付宝小程序</option><option value="partner">代收合作方</option></select>' +
      '<select id="f-status"><option value="">全部状态</option><option value="pending">待支付</option><option value="paid">已支付</option><option value="closed">已关闭</option><option value="refunding">退款中</option><option value="refunded">已退款</option><option value="reversed">已冲正</option></select>' +
      '<input id="f-account" type="text" placeholder="账户编号" size="8"><button type="submit">筛选</button></form><div id="order-list"></div>';
    function load() {
      var q = [];
      [["from", "f-from"], ["to", "f-to"], ["channel", "f-channel"], ["status", "f-status"], ["account_id", "f-account"]].forEach(function (p) {
        if (val(p[1])) q.push(p[0] + "=" + encodeURIComponent(val(p[1])));
      });
      api("GET", "/api/admin/orders?" + q.join("&")).then(function (res) {
        if (res.status !== 200) return failed(res);
        document.getElementById("order-list").innerHTML = orderTable(res.body.orders);
        bindOrderButtons(load);
      });
    }
    document.getElementById("order-filter").addEventListener("submit", function (e) { e.preventDefault(); load(); });
    load();
  }

  // 审批
  function approvals() {
    api("GET", "/api/admin/approvals?all=1").then(function (res) {
      if (res.status !== 200) return failed(res);
      view.innerHTML = "<h2>退款审批</h2><p class='muted'>超过 " + yuan(me.approval_threshold_fen) + " 的退款需由申请人以外的财务或管理员批准。</p>" +
        table(["编号", "订单", "金额", "原因", "申请人", "申请时间", "状态", ""], res.body.approvals.map(function (a) {
          var acts = a.status === "pending" && can("approve") && a.requested_by !== me.name ?
            '<button type="button" class="approve" data-id="' + a.id + '">批准</button> <button type="button" class="link reject" data-id="' + a.id + '">驳回</button>' :
            (a.decided_by ? esc(a.decided_by) + " " + esc(when(a.decided_at)) : "");
          return [a.id, esc(a.order_no), yuan(a.amount_fen), esc(a.reason), esc(a.requested_by), esc(when(a.created_at)),
            '<span class="approval-status">' + esc(w(a.status)) + "</span>", acts];
        }));
      view.querySelectorAll("button.approve").forEach(function (b) {
        b.addEventListener("click", function () {
          api("POST", "/api/admin/approvals/" + b.getAttribute("data-id") + "/approve", {}).then(function (r) {
            if (r.status !== 202) return failed(r);
            toast(r.body.status === "cancel_requested" ? "已批准：充值指令正在取消，燃气表确认未到账后自动退款" : "已批准，退款 " + r.body.refund_no + " " + w(r.body.status)); approvals();
          });
        });
      });
      view.querySelectorAll("button.reject").forEach(function (b) {
        b.addEventListener("click", function () {
          api("POST", "/api/admin/approvals/" + b.getAttribute("data-id") + "/reject", { note: "" }).then(function (r) {
            if (r.status !== 200) return failed(r);
            toast("已驳回"); approvals();
          });
        });
      });
    });
  }

  // 告警: the kind in Chinese, its code beside it for whoever searches the
  // logs or the README.
  function alertKind(k) {
    return words[k] ? esc(words[k]) + '<br><small class="code">' + esc(k) + "</small>" : esc(k);
  }
  function alerts() {
    api("GET", "/api/admin/alerts?all=1").then(function (res) {
      if (res.status !== 200) return failed(res);
      view.innerHTML = "<h2>告警</h2>" + table(["时间", "类型", "订单", "详情", "处理"], res.body.alerts.map(function (a) {
        var act = a.resolved_at ? "已处理 " + esc(when(a.resolved_at)) : (can("act") ?
          '<form class="row resolve" data-id="' + a.id + '"><input type="text" placeholder="处理说明" maxlength="120"><button type="submit">标记已处理</button></form>' : "未处理");
        return [esc(when(a.created_at)), alertKind(a.kind), esc(a.order_no || ""), esc(a.detail), act];
      }));
      view.querySelectorAll("form.resolve").forEach(function (f) {
        f.addEventListener("submit", function (e) {
          e.preventDefault();
          api("POST", "/api/admin/alerts/" + f.getAttribute("data-id") + "/resolve", { note: f.querySelector("input").value.trim() }).then(function (r) {
            if (r.status !== 200) return failed(r);
            toast("已处理"); alerts();
          });
        });
      });
    });
  }

  // 导入
  function imports() {
    if (!can("manage")) { view.innerHTML = "<h2>导入</h2><p class='muted'>只有管理员可以导入数据。</p>"; return; }
    view.innerHTML = "<h2>导入</h2><div class='card'><form id='import-form' class='row'><select id='import-kind'><option value='bills'>账单（user_number,period,amount_fen,due_date）</option>" +
      "<option value='accounts'>账户（user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen）</option>" +
      "<option value='readings'>抄表读数（meter_number,read_at,reading_centi_m3）</option></select><input id='import-file' type='file' accept='.csv,text/csv'>" +
      "<button type='submit'>上传导入</button></form><p class='muted'>整个文件要么全部导入，要么什么都不改；有错误时会列出每一个出错的行。</p><div id='import-result'></div></div><h2>最近的导入</h2><div id='import-list'></div>";
    function list() {
      api("GET", "/api/admin/imports").then(function (res) {
        if (res.status !== 200) return failed(res);
        document.getElementById("import-list").innerHTML = table(["编号", "类型", "文件", "操作人", "状态", "行数", "时间"], res.body.imports.map(function (i) {
          return [i.import_id, esc({ bills: "账单", readings: "读数", accounts: "账户" }[i.kind] || i.kind), esc(i.file_name), esc(i.actor), esc(w(i.status)), i.rows, esc(when(i.created_at))];
        }));
      });
    }
    document.getElementById("import-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var file = document.getElementById("import-file").files[0], out = document.getElementById("import-result");
      if (!file) { out.innerHTML = '<p class="err">请选择文件。</p>'; return; }
      out.innerHTML = '<p class="muted">正在导入…</p>';
      api("POST", "/api/admin/imports/" + val("import-kind") + "?name=" + encodeURIComponent(file.name), file, "text/csv").then(function (res) {
        if (res.status === 422) {
          out.innerHTML = '<p class="err">' + esc(res.body.message) + "</p>" + table(["行", "问题"], (res.body.errors || []).map(function (l) {
            return ['<span class="line-no">第 ' + l.line + " 行</span>", esc(l.message)];
          }));
          return;
        }
        if (res.status !== 200) { out.innerHTML = '<p class="err">' + esc(res.body.message) + "</p>"; return; }
        out.innerHTML = '<p class="ok import-ok">已导入 ' + res.body.rows + " 行（编号 " + res.body.import_id + "）。导入分批写入，不影响缴费。</p>";
        list();
      });
    });
    list();
  }

  // 日结
  function reports(day) {
    if (!can("audit")) { view.innerHTML = "<h2>日结</h2><p class='muted'>只有财务和管理员可以查看日结报表。</p>"; return; }
    var q = day ? "?date=" + encodeURIComponent(day) : "";
    api("GET", "/api/admin/reports/daily" + q).then(function (res) {
      if (res.status !== 200) return failed(res);
      var r = res.body, n = 0;
      r.channels.forEach(function (c) { n += c.count; });
      view.innerHTML = '<h2>日结 · ' + esc(r.date) + '</h2><form id="report-form" class="row card"><input id="r-date" type="date" value="' + esc(r.date) + '"><button type="submit">查看</button>' +
        '<a id="report-csv" href="/api/admin/reports/daily?format=csv&date=' + encodeURIComponent(r.date) + '">下载 CSV</a></form>' +
        "<h2>各渠道收款</h2>" + table(["渠道", "笔数", "金额"], r.channels.map(function (c) { return [esc(w(c.channel)), c.count, yuan(c.total_fen)]; }).concat([["<b>合计</b>", n, "<b>" + yuan(r.total_fen) + "</b>"]])) +
        "<h2>代收合作方</h2>" + table(["合作方", "笔数", "金额"], r.partners.map(function (p) { return [esc(p.partner_id), p.count, yuan(p.total_fen)]; })) +
        "<h2>退款</h2>" + table(["状态", "笔数", "金额"], r.refunds.map(function (s) { return [esc(w(s.status)), s.count, yuan(s.total_fen)]; })) +
        "<h2>冲正</h2>" + table(["笔数", "金额"], [[r.reversals.count, yuan(r.reversals.total_fen)]]);
      document.getElementById("report-form").addEventListener("submit", function (e) { e.preventDefault(); location.hash = "reports/" + val("r-date"); });
    });
  }

  // 对账（财务）
  function recon() {
    if (!can("report")) { view.innerHTML = "<h2>对账</h2><p class='muted'>只有财务和管理员可以查看对账。</p>"; return; }
    view.innerHTML = '<h2>对账</h2><form id="recon-form" class="row card"><select id="r-provider"><option value="wechat">微信支付</option><option value="alipay">支付宝</option></select>' +
      '<input id="r-day" type="date"><button type="submit">对账该日</button><span class="muted">每天自动对账；这里可重对某一天。</span></form>' +
      '<h2>对账记录</h2><div id="recon-runs"></div><h2>未处理的差异</h2><div id="recon-diffs"></div><h2>未送达的气量</h2><div id="recon-aging"></div>';
    function load() {
      api("GET", "/api/admin/reconciliation/runs").then(function (res) {
        if (res.status !== 200) return failed(res);
        document.getElementById("recon-runs").innerHTML = table(["日期", "渠道", "状态", "平账笔数", "差异", "未处理", "账单收款", "我方收款", "手续费", "完成时间"], res.body.runs.map(function (r) {
          return [esc(r.date), esc(w(r.provider)), '<span class="recon-status">' + esc(w(r.status)) + "</span>", r.matched, r.difference_count,
            r.open ? '<span class="tag bad">' + r.open + "</span>" : "0", r.bill.payments + " 笔 " + yuan(r.bill.payment_fen), r.ours.payments + " 笔 " + yuan(r.ours.payment_fen),
            esc(r.bill.fee_yuan || ""), esc(when(r.finished_at)) + (r.last_error ? '<br><span class="err">' + esc(r.last_error) + "</span>" : "")];
        }));
      });
      api("GET", "/api/admin/reconciliation/differences").then(function (res) {
        if (res.status !== 200) return failed(res);
        var box = document.getElementById("recon-diffs");
        box.innerHTML = table(["日期", "渠道", "类型", "订单", "账单", "我方", "发现时间", "处理"], res.body.differences.map(function (d) {
          return [esc(d.date), esc(w(d.provider)), '<span class="diff-kind">' + esc(d.kind) + "</span>", esc(d.order_no), esc(d.bill), esc(d.ours), esc(when(d.found_at)),
            '<form class="row diff-resolve" data-id="' + d.id + '"><input type="text" placeholder="处理说明" maxlength="200"><button type="submit">标记已处理</button></form>'];
        }));
        box.querySelectorAll("form.diff-resolve").forEach(function (f) {
          f.addEventListener("submit", function (e) {
            e.preventDefault();
            api("POST", "/api/admin/reconciliation/differences/" + f.getAttribute("data-id") + "/resolve", { note: f.querySelector("input").value.trim() }).then(function (r) {
              if (r.status !== 200) return failed(r);
              toast("差异已处理"); load();
            });
          });
        });
      });
      api("GET", "/api/admin/reconciliation/aging").then(function (res) {
        if (res.status !== 200) return failed(res);
        var a = res.body;
        document.getElementById("recon-aging").innerHTML = "<p>共 " + a.total + " 笔已付款未送达；超过 " + Math.round(a.alert_age_seconds / 3600) + " 小时的：</p>" +
          table(["订单", "用户号", "方式", "付款时间", "已等待", "尝试次数"], a.overdue.map(function (u) {
            return [esc(u.order_no), esc(u.user_number), esc(w(u.kind)), esc(when(u.paid_at)), Math.round(u.age_seconds / 3600) + " 小时", u.attempts];
          }));
      });
    }
    document.getElementById("recon-form").addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "/api/admin/reconciliation/runs", { provider: val("r-provider"), date: val("r-day") }).then(function (r) {
        if (r.status !== 200) return failed(r);
        toast("对账完成：" + w(r.body.status)); load();
      });
    });
    load();
  }

  // 价格与合作方
  function tiersText(tiers) {
    return tiers.map(function (t) {
      return (t.upper_centi_m3 == null ? "以上" : "≤" + (t.upper_centi_m3 / 100) + " m³") + " " + yuan(t.price_fen_per_m3) + "/m³";
    }).join("；");
  }
  function settings() {
    api("GET", "/api/admin/tariffs").then(function (res) {
      if (res.status !== 200) return failed(res);
      var html = "<h2>价格（按用户类别，按生效日期分版本）</h2>";
      res.body.tariffs.forEach(function (t) {
        html += '<div class="card"><b>' + esc(t.name) + "</b>（" + esc(t.code) + "）" + table(["版本", "生效日期", "阶梯", "状态", "录入人"], t.versions.map(function (v) {
          return [v.version, esc(when(v.effective_from).slice(0, 10)), esc(tiersText(v.tiers)),
            v.in_force ? '<span class="tag good">执行中</span>' : (v.scheduled ? '<span class="tag tariff-scheduled">待生效</span>' : "已停用"), esc(v.created_by)];
        })) + (can("manage") ? '<form class="row schedule" data-code="' + esc(t.code) + '"><input type="date" class="s-date"><input type="text" class="s-tiers" placeholder="阶梯，如 310:3.00,520:3.30,*:4.20" size="36"><button type="submit">排定新价格</button></form>' : "") + "</div>";
      });
      view.innerHTML = html + '<div id="partners"></div><div id="staff"></div>';
      view.querySelectorAll("form.schedule").forEach(function (f) {
        f.addEventListener("submit", function (e) {
          e.preventDefault();
          var tiers = f.querySelector(".s-tiers").value.split(",").map(function (p) {
            var kv = p.split(":"), price = Math.round(parseFloat(kv[1]) * 100);
            return { upper_centi_m3: kv[0].trim() === "*" ? null : Math.round(parseFloat(kv[0]) * 100), price_fen_per_m3: price };
          });
          api("POST", "/api/admin/tariffs/" + f.getAttribute("data-code") + "/versions", { effective_from: f.querySelector(".s-date").value, tiers: tiers }).then(function (r) {
            if (r.status !== 201) return failed(r);
            toast("已排定第 " + r.body.version + " 版"); settings();
          });
        });
      });
      if (!can("manage")) return;
      staffSection();
      api("GET", "/api/admin/partners").then(function (pr) {
        if (pr.status !== 200) return;
        var box = document.getElementById("partners");
        box.innerHTML = "<h2>代收合作方</h2>" + table(["编号", "名称", "状态", "旧密钥有效至", ""], pr.body.partners.map(function (p) {
          return [esc(p.id), esc(p.name), p.active ? "启用" : "停用", esc(when(p.previous_key_valid_until)),
            '<button type="button" class="link rotate" data-id="' + esc(p.id) + '">更换密钥（旧密钥保留 24 小时）</button> <button type="button" class="link toggle" data-id="' + esc(p.id) + '" data-on="' + (p.active ? "1" : "") + '">' + (p.active ? "停用" : "启用") + "</button>"];
        })) + '<form id="partner-form" class="row card"><input id="p-id" type="text" placeholder="编号，如 lakala"><input id="p-name" type="text" placeholder="名称"><button type="submit">添加合作方</button></form><p id="partner-key" class="ok"></p>';
        function showKey(r) { document.getElementById("partner-key").textContent = "新密钥（只显示这一次，请安全交给合作方）：" + r.body.key; }
        document.getElementById("partner-form").addEventListener("submit", function (e) {
          e.preventDefault();
          api("POST", "/api/admin/partners", { id: val("p-id"), name: val("p-name") }).then(function (r) { if (r.status !== 201) return failed(r); showKey(r); });
        });
        box.querySelectorAll("button.rotate").forEach(function (b) {
          b.addEventListener("click", function () {
            api("POST", "/api/admin/partners/" + b.getAttribute("data-id") + "/rotate", { grace_hours: 24 }).then(function (r) { if (r.status !== 200) return failed(r); showKey(r); });
          });
        });
        box.querySelectorAll("button.toggle").forEach(function (b) {
          b.addEventListener("click", function () {
            api("POST", "/api/admin/partners/" + b.getAttribute("data-id") + (b.getAttribute("data-on") ? "/disable" : "/enable"), {}).then(function (r) { if (r.status !== 200) return failed(r); settings(); });
          });
        });
      });
    });
  }

  function staffSection() {
    api("GET", "/api/admin/staff").then(function (res) {
      if (res.status !== 200) return;
      var box = document.getElementById("staff");
      box.innerHTML = "<h2>员工</h2>" + table(["用户名", "角色", "状态", "动态验证码", ""], res.body.staff.map(function (st) {
        return [esc(st.name), esc(w(st.role)), st.active ? "启用" : "停用", st.totp ? "已开通" : "",
          st.active && st.name !== me.name ? '<button type="button" class="link staff-off" data-name="' + esc(st.name) + '">停用</button>' : ""];
      })) + '<form id="staff-form" class="row card"><input id="st-name" type="text" placeholder="用户名"><select id="st-role"><option value="viewer">客服</option><option value="operator">营业员</option><option value="finance">财务</option><option value="admin">管理员</option></select>' +
        '<input id="st-pw" type="password" placeholder="初始密码（至少12位）" autocomplete="new-password"><label><input id="st-totp" type="checkbox"> 开通动态验证码</label><button type="submit">添加员工</button></form><p id="staff-secret" class="ok"></p>';
      document.getElementById("staff-form").addEventListener("submit", function (e) {
        e.preventDefault();
        api("POST", "/api/admin/staff", { name: val("st-name"), role: val("st-role"), password: document.getElementById("st-pw").value, totp: document.getElementById("st-totp").checked }).then(function (r) {
          if (r.status !== 201) return failed(r);
          toast("已添加 " + r.body.name);
          staffSection();
          if (r.body.totp_uri) setTimeout(function () { document.getElementById("staff-secret").textContent = "动态验证码密钥（只显示这一次）：" + r.body.totp_secret + "  " + r.body.totp_uri; }, 300);
        });
      });
      box.querySelectorAll("button.staff-off").forEach(function (b) {
        b.addEventListener("click", function () {
          api("POST", "/api/admin/staff/" + encodeURIComponent(b.getAttribute("data-name")) + "/disable", {}).then(function (r) { if (r.status !== 200) return failed(r); staffSection(); });
        });
      });
    });
  }

  // 审计
  function audit() {
    if (!can("audit")) { view.innerHTML = "<h2>审计</h2><p class='muted'>只有财务和管理员可以查看审计记录。</p>"; return; }
    view.innerHTML = '<h2>审计记录</h2><form id="audit-filter" class="row card"><input id="a-actor" type="text" placeholder="操作人"><input id="a-action" type="text" placeholder="操作，如 refund.approve">' +
      '<input id="a-target" type="text" placeholder="对象，如 order:…"><button type="submit">筛选</button></form><div id="audit-list"></div>';
    function load() {
      var q = [];
      [["actor", "a-actor"], ["action", "a-action"], ["target", "a-target"]].forEach(function (p) { if (val(p[1])) q.push(p[0] + "=" + encodeURIComponent(val(p[1]))); });
      api("GET", "/api/admin/audit?" + q.join("&")).then(function (res) {
        if (res.status !== 200) return failed(res);
        document.getElementById("audit-list").innerHTML = table(["时间", "操作人", "角色", "来源", "操作", "对象", "之前", "之后", "备注"], res.body.entries.map(function (e) {
          return [esc(when(e.at)), esc(e.actor), esc(w(e.role)), esc(e.ip), '<span class="audit-action">' + esc(e.action) + "</span>", esc(e.target),
            "<pre>" + esc(e.before ? JSON.stringify(e.before) : "") + "</pre>", "<pre>" + esc(e.after ? JSON.stringify(e.after) : "") + "</pre>", esc(e.note)];
        }));
      });
    }
    document.getElementById("audit-filter").addEventListener("submit", function (e) { e.preventDefault(); load(); });
    load();
  }

  start();
})();
