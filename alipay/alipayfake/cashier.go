package alipayfake

import (
	"net/http"
	"net/url"
)

// pageTemplates are the sandbox cashier's pages. Links are relative to the
// gateway's directory so that the fake works mounted under any prefix.
const pageTemplates = `
{{define "cashier"}}<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>支付宝收银台（沙箱 sandbox cashier）</title>
<style>body{font-family:sans-serif;margin:0;background:#f5f5f5}h1{background:#1677ff;color:#fff;font-size:18px;margin:0;padding:14px;text-align:center}
main{padding:16px}dl{background:#fff;border-radius:8px;padding:12px 16px;display:grid;grid-template-columns:max-content 1fr;gap:8px 12px}dt{color:#888}dd{margin:0;word-break:break-all}
#total_amount{font-size:24px;font-weight:bold}button{width:100%;font-size:17px;padding:12px;border:0;border-radius:8px;background:#1677ff;color:#fff}p{color:#888;font-size:13px}</style></head>
<body>
<h1>支付宝收银台（沙箱）</h1>
<main>
<p>这是沙箱收银台（sandbox cashier）：不会真实扣款。</p>
<dl>
<dt>订单号</dt><dd id="out_trade_no">{{.OutTradeNo}}</dd>
<dt>商品</dt><dd>{{.Subject}}</dd>
<dt>金额（元）</dt><dd id="total_amount">{{.Amount}}</dd>
</dl>
<form method="post" action="cashier/pay">
<input type="hidden" name="out_trade_no" value="{{.OutTradeNo}}">
<button type="submit">确认付款 {{.Amount}} 元</button>
</form>
</main>
</body></html>
{{end}}
{{define "message"}}<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>支付宝收银台（沙箱）</title></head>
<body><h1>支付宝收银台（沙箱 sandbox cashier）</h1><p id="message">{{.}}</p></body></html>
{{end}}`

type cashierData struct {
	OutTradeNo, Subject, Amount string
}

// cashierPage answers the browser that followed a WAP pay URL: the cashier
// when the request was accepted, Alipay's error codes otherwise.
func (s *Server) cashierPage(w http.ResponseWriter, req request, n node) {
	if n["code"] != "10000" {
		s.message(w, http.StatusBadRequest, "error: "+str(n["code"])+" "+str(n["sub_code"])+" "+str(n["sub_msg"]))
		return
	}
	s.render(w, http.StatusOK, "cashier", cashierData{
		OutTradeNo: str(n["out_trade_no"]), Subject: str(n["subject"]), Amount: str(n["total_amount"]),
	})
}

// serveCashier shows the cashier for a waiting trade: where a precreate QR
// code leads.
func (s *Server) serveCashier(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t, ok := s.lookup(r.URL.Query().Get("out_trade_no"), "")
	var data cashierData
	if ok {
		data = cashierData{OutTradeNo: t.OutTradeNo, Subject: t.Subject, Amount: fenToYuan(t.TotalFen)}
		ok = t.Status == StatusWaitBuyerPay
	}
	s.mu.Unlock()
	if !ok {
		s.message(w, http.StatusNotFound, "no such trade waiting for payment")
		return
	}
	s.render(w, http.StatusOK, "cashier", data)
}

// serveCashierPay is the cashier's pay button: Pay, then back to the
// merchant's return_url with Alipay's signed return parameters, if any.
func (s *Server) serveCashierPay(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	no := r.PostFormValue("out_trade_no")
	res, err := s.Pay(r.Context(), no, "")
	if err != nil {
		s.message(w, http.StatusConflict, err.Error())
		return
	}
	s.mu.Lock()
	t := s.trades[no]
	returnURL, ret := t.ReturnURL, s.returnForm(t)
	s.mu.Unlock()
	if u, err := url.Parse(returnURL); err == nil && returnURL != "" {
		q := u.Query()
		for k, v := range ret {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	msg := "paid; notification not sent (no notify_url)"
	switch {
	case res.Acknowledged:
		msg = "paid; the merchant acknowledged the notification"
	case res.Sent:
		msg = "paid; the merchant did not acknowledge the notification"
	}
	s.message(w, http.StatusOK, msg)
}

// returnForm is what Alipay appends to return_url after a WAP payment,
// signed like a notification. It proves little (the browser carries it);
// merchants should query or wait for the notification. s.mu must be held.
func (s *Server) returnForm(t *trade) url.Values {
	f := url.Values{}
	f.Set("method", "alipay.trade.wap.pay.return")
	f.Set("app_id", s.appID)
	f.Set("auth_app_id", s.appID)
	f.Set("charset", "utf-8")
	f.Set("version", "1.0")
	f.Set("out_trade_no", t.OutTradeNo)
	f.Set("trade_no", t.TradeNo)
	f.Set("total_amount", fenToYuan(t.TotalFen))
	f.Set("seller_id", "2088000000000000")
	f.Set("timestamp", s.fmtTime(s.now()))
	f.Set("sign_type", "RSA2")
	if err := signForm(s.key, f); err != nil {
		f.Del("sign")
	}
	return f
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = s.pages.ExecuteTemplate(w, name, data)
}

func (s *Server) message(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "message", msg)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
