package alipayfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Methods the gateway serves.
const (
	methodWapPay      = "alipay.trade.wap.pay"
	methodCreate      = "alipay.trade.create"
	methodPay         = "alipay.trade.pay"
	methodPreCreate   = "alipay.trade.precreate"
	methodQuery       = "alipay.trade.query"
	methodClose       = "alipay.trade.close"
	methodCancel      = "alipay.trade.cancel"
	methodRefund      = "alipay.trade.refund"
	methodRefundQuery = "alipay.trade.fastpay.refund.query"
	methodBillURL     = "alipay.data.dataservice.bill.downloadurl.query"
)

// node is a response node; encoding/json writes its keys sorted.
type node map[string]any

// codeMsg is Alipay's text for a public code.
func codeMsg(code string) string {
	switch code {
	case "10000":
		return "Success"
	case "10003":
		return "order success pay inprocess"
	case "20000":
		return "Service Currently Unavailable"
	case "20001":
		return "Insufficient Token Permissions"
	case "40001":
		return "Missing Required Arguments"
	case "40002":
		return "Invalid Arguments"
	case "40004":
		return "Business Failed"
	case "40006":
		return "Insufficient Permissions"
	}
	return "Unknown Error"
}

func success(fields node) node {
	fields["code"] = "10000"
	fields["msg"] = "Success"
	return fields
}

func fail(code, subCode, subMsg string) node {
	return node{"code": code, "msg": codeMsg(code), "sub_code": subCode, "sub_msg": subMsg}
}

// biz is the union of the biz_content fields the fake reads; the SDK sends
// them all as strings.
type biz struct {
	OutTradeNo   string `json:"out_trade_no"`
	TradeNo      string `json:"trade_no"`
	TotalAmount  string `json:"total_amount"`
	Subject      string `json:"subject"`
	ProductCode  string `json:"product_code"`
	TimeExpire   string `json:"time_expire"`
	BuyerOpenID  string `json:"buyer_open_id"`
	BuyerID      string `json:"buyer_id"`
	Scene        string `json:"scene"`
	AuthCode     string `json:"auth_code"`
	RefundAmount string `json:"refund_amount"`
	OutRequestNo string `json:"out_request_no"`
	BillType     string `json:"bill_type"`
	BillDate     string `json:"bill_date"`
}

// request is one gateway call after the common checks.
type request struct {
	method    string
	form      url.Values
	biz       biz
	notifyURL string
	returnURL string
	base      string // URL of the gateway's directory, for links
}

// serveGateway is the one gateway endpoint. API calls are form POSTs
// answered with a signed JSON envelope; alipay.trade.wap.pay arrives as
// the browser's GET (or POST) and is answered with the cashier page.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	form := r.Form // Alipay takes the common parameters from the query or the body
	method := form.Get("method")
	s.mu.Lock()
	s.requests[method]++
	s.mu.Unlock()

	browser := method == methodWapPay
	if method == "" {
		// Without a method there is no node name: Alipay answers an
		// unsigned error_response.
		writeJSON(w, `{"error_response":`+mustJSON(fail("40001", "isv.missing-method", "缺少方法名参数"))+`}`)
		return
	}
	req := request{method: method, form: form, notifyURL: form.Get("notify_url"), returnURL: form.Get("return_url"), base: s.baseURL(r)}
	if n := s.checkCommon(req); n != nil {
		s.answer(w, r, req, n, browser)
		return
	}
	if bc := form.Get("biz_content"); bc != "" {
		if err := json.Unmarshal([]byte(bc), &req.biz); err != nil {
			s.answer(w, r, req, fail("40004", "ACQ.INVALID_PARAMETER", "biz_content 不是合法的 JSON 或字段类型错误"), browser)
			return
		}
	}
	s.mu.Lock()
	n := s.injectedFailure(method)
	if n == nil {
		n = s.handle(req)
	}
	s.mu.Unlock()
	s.answer(w, r, req, n, browser)
}

// checkCommon checks the common parameters and the request signature, in
// the order Alipay reports their errors.
func (s *Server) checkCommon(req request) node {
	f := req.form
	switch {
	case f.Get("app_id") != s.appID:
		return fail("40002", "isv.invalid-app-id", "无效的AppID参数")
	case f.Get("sign") == "":
		return fail("40001", "isv.missing-signature", "缺少签名参数")
	case f.Get("sign_type") != "RSA2":
		return fail("40002", "isv.invalid-signature-type", "无效的签名类型")
	case !strings.EqualFold(f.Get("charset"), "utf-8"):
		return fail("40002", "isv.invalid-charset", "字符集错误")
	}
	if _, err := time.ParseInLocation(timeLayout, f.Get("timestamp"), s.loc); err != nil {
		return fail("40002", "isv.invalid-timestamp", "非法的时间戳参数")
	}
	if !s.verifyRequest(f) {
		return fail("40002", "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
	}
	switch req.method {
	case methodWapPay, methodCreate, methodPay, methodPreCreate, methodQuery, methodClose,
		methodCancel, methodRefund, methodRefundQuery, methodBillURL:
		return nil
	}
	return fail("40002", "isv.invalid-method", "不存在的方法名")
}

// verifyRequest checks the app's RSA2 signature: every parameter except
// sign, empty values left out, sorted by name, "k=v" joined with "&",
// SHA-256, PKCS#1 v1.5. sign_type is signed too (unlike in notifications).
// The SDK sorts the "k=v" strings rather than the names; for Alipay's
// parameter names (lower case and "_", all above "=") that is the same
// order.
func (s *Server) verifyRequest(f url.Values) bool {
	sig, err := base64.StdEncoding.DecodeString(f.Get("sign"))
	if err != nil {
		return false
	}
	var pairs []string
	for _, k := range sortedKeys(f) {
		if k == "sign" {
			continue
		}
		for _, v := range f[k] {
			if v != "" {
				pairs = append(pairs, k+"="+v)
			}
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(pairs, "&")))
	return rsa.VerifyPKCS1v15(s.appKey, crypto.SHA256, sum[:], sig) == nil
}

// injectedFailure consumes one FailNext for method. s.mu must be held.
func (s *Server) injectedFailure(method string) node {
	q := s.failures[method]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	if f.left--; f.left <= 0 {
		s.failures[method] = q[1:]
	} else {
		q[0] = f
	}
	n := fail(f.code, f.subCode, "injected failure")
	if method == methodCancel {
		n["retry_flag"] = "N"
		if f.code == "20000" || f.subCode == "ACQ.SYSTEM_ERROR" {
			n["retry_flag"] = "Y"
		}
	}
	return n
}

// handle applies one API call. s.mu must be held.
func (s *Server) handle(req request) node {
	switch req.method {
	case methodWapPay:
		return s.wapPay(req)
	case methodCreate:
		return s.create(req)
	case methodPay:
		return s.pay(req)
	case methodPreCreate:
		return s.precreate(req)
	case methodQuery:
		return s.query(req)
	case methodClose:
		return s.close(req)
	case methodCancel:
		return s.cancel(req)
	case methodRefund:
		return s.refund(req)
	case methodRefundQuery:
		return s.refundQuery(req)
	case methodBillURL:
		return s.billURL(req)
	}
	return fail("40002", "isv.invalid-method", "不存在的方法名")
}

// answer writes n: the cashier page (or an error page) to a browser, the
// signed envelope to an API client, damaged if a Break is queued, late if a
// latency is set.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req request, n node, browser bool) {
	if browser {
		s.cashierPage(w, req, n)
		return
	}
	s.mu.Lock()
	var brk Break
	if q := s.breaks[req.method]; len(q) > 0 {
		brk, s.breaks[req.method] = q[0], q[1:]
	}
	latency := s.latency
	s.mu.Unlock()

	if latency > 0 {
		timer := time.NewTimer(latency)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	name := strings.ReplaceAll(req.method, ".", "_") + "_response"
	nodeBytes := mustJSON(n)
	key := s.key
	switch brk {
	case BreakDropConnection:
		// net/http closes the connection without logging for this value.
		panic(http.ErrAbortHandler)
	case BreakBadGateway:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
		return
	case BreakUnsigned:
		writeJSON(w, `{"`+name+`":`+nodeBytes+`}`)
		return
	case BreakBadSignature:
		k, err := s.wrongKey()
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		key = k
	}
	sig, err := signBytes(key, []byte(nodeBytes))
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if brk == BreakTamperedNode {
		nodeBytes = "{ " + nodeBytes[1:]
	}
	// Concatenated, not marshalled: the signed bytes must be exactly the
	// bytes written, and the client verifies the node as it finds it.
	writeJSON(w, `{"`+name+`":`+nodeBytes+`,"sign":"`+sig+`"}`)
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = w.Write([]byte(body))
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps of strings, numbers and slices of them are marshalled.
		panic("alipayfake: marshal: " + err.Error())
	}
	return string(b)
}

// signBytes is RSA2: base64(RSA-PKCS#1-v1.5(SHA-256(data))).
func signBytes(key *rsa.PrivateKey, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// baseURL is the URL of the gateway's directory as the caller sees it:
// Config.PublicURL, or the request's scheme and host plus its original
// path (RequestURI survives http.StripPrefix) without GatewayPath.
func (s *Server) baseURL(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := r.RequestURI
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	return scheme + "://" + r.Host + path
}
