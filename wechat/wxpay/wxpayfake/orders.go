package wxpayfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"

	"gaspay/internal/beijing"
)

// Trade states as WeChat Pay reports them.
const (
	StateSuccess    = "SUCCESS"
	StateRefund     = "REFUND"
	StateNotPay     = "NOTPAY"
	StateClosed     = "CLOSED"
	StateRevoked    = "REVOKED"
	StateUserPaying = "USERPAYING"
	StatePayError   = "PAYERROR"
)

// Trade types.
const (
	TradeJSAPI    = "JSAPI"
	TradeNative   = "NATIVE"
	TradeMicroPay = "MICROPAY"
)

// prepayValidity is how long an order without time_expire can be paid: a
// prepay_id lives two hours.
const prepayValidity = 2 * time.Hour

func stateDesc(state string) string {
	switch state {
	case StateSuccess:
		return "支付成功"
	case StateRefund:
		return "转入退款"
	case StateNotPay:
		return "未支付"
	case StateClosed:
		return "已关闭"
	case StateRevoked:
		return "已撤销（付款码支付）"
	case StateUserPaying:
		return "用户支付中（付款码支付）"
	case StatePayError:
		return "支付失败"
	}
	return ""
}

// Order is a snapshot of an order in the fake, for assertions.
type Order struct {
	AppID         string    // as requested
	OutTradeNo    string    // as requested
	TradeType     string    // JSAPI, NATIVE or MICROPAY
	Description   string    // as requested
	Attach        string    // as requested
	NotifyURL     string    // as requested; empty for payment codes
	PayerOpenID   string    // requested (JSAPI) or set when paid
	TotalFen      int64     // order amount
	RefundedFen   int64     // accepted refunds, closed ones excluded
	Refunds       int       // refunds accepted so far, at most 50
	State         string    // one of the State* constants
	TransactionID string    // set when paid
	PrepayID      string    // JSAPI only
	CodeURL       string    // NATIVE only
	AuthCode      string    // MICROPAY only
	CreatedAt     time.Time // business clock
	ExpiresAt     time.Time // after this Pay refuses, though queries still say NOTPAY
	SuccessTime   time.Time // set when paid
	Queries       int       // queries answered for this order
}

type order struct {
	Order
	timeExpire time.Time // as requested; zero when not given
	outcome    CodePayOutcome
	polls      int    // queries answered while USERPAYING
	notifyID   string // TRANSACTION.SUCCESS event id, the same on every re-send
}

func (o *order) paid() bool { return o.State == StateSuccess || o.State == StateRefund }

// Order returns a snapshot of the order outTradeNo.
func (s *Server) Order(outTradeNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return Order{}, false
	}
	return o.Order, true
}

// validOutTradeNo reports whether no is 6–32 characters of [0-9A-Za-z_-|*].
func validOutTradeNo(no string) bool {
	return validChars(no, 6, 32, "_-|*")
}

func validChars(s string, minLen, maxLen int, extra string) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case slices.Contains([]byte(extra), c):
		default:
			return false
		}
	}
	return true
}

// validNotifyURL accepts an absolute http or https URL without a query:
// WeChat demands https and no query string; http is allowed here for the
// loopback sandbox.
func validNotifyURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		u.RawQuery == "" && u.Fragment == "" && len(s) <= 256
}

type amountBody struct {
	Total    *int64 `json:"total"`
	Currency string `json:"currency"`
}

type prepayBody struct {
	AppID       string     `json:"appid"`
	MchID       string     `json:"mchid"`
	Description string     `json:"description"`
	OutTradeNo  string     `json:"out_trade_no"`
	TimeExpire  string     `json:"time_expire"`
	Attach      string     `json:"attach"`
	NotifyURL   string     `json:"notify_url"`
	Amount      amountBody `json:"amount"`
	Payer       struct {
		OpenID string `json:"openid"`
	} `json:"payer"`
}

func (s *Server) handleJSAPI(_ *http.Request, body []byte) reply {
	return s.prepay(TradeJSAPI, body)
}

func (s *Server) handleNative(_ *http.Request, body []byte) reply {
	return s.prepay(TradeNative, body)
}

func paramError(msg string) reply { return errorReply(http.StatusBadRequest, "PARAM_ERROR", msg) }

// checkCommon validates what prepay and codepay share; it returns a failure
// reply or nil.
func (s *Server) checkCommon(appID, mchID, description, outTradeNo, attach string, amount amountBody) *reply {
	var r reply
	switch {
	case appID == "":
		r = paramError("appid is required")
	case mchID != s.cfg.MchID:
		r = paramError("mchid does not match the merchant of the signature")
	case len(s.cfg.AppIDs) > 0 && !slices.Contains(s.cfg.AppIDs, appID):
		r = errorReply(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
	case description == "" || utf8.RuneCountInString(description) > 127:
		r = paramError("description is required, at most 127 characters")
	case !validOutTradeNo(outTradeNo):
		r = paramError("out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]")
	case utf8.RuneCountInString(attach) > 128:
		r = paramError("attach is longer than 128 characters")
	case amount.Total == nil || *amount.Total <= 0:
		r = paramError("amount.total must be a positive number of fen")
	case amount.Currency != "" && amount.Currency != "CNY":
		r = paramError("amount.currency must be CNY")
	default:
		return nil
	}
	return &r
}

func (s *Server) prepay(tradeType string, body []byte) reply {
	var b prepayBody
	if err := json.Unmarshal(body, &b); err != nil {
		return paramError("body is not valid JSON: " + err.Error())
	}
	if r := s.checkCommon(b.AppID, b.MchID, b.Description, b.OutTradeNo, b.Attach, b.Amount); r != nil {
		return *r
	}
	if !validNotifyURL(b.NotifyURL) {
		return paramError("notify_url must be an absolute http(s) URL without a query")
	}
	if tradeType == TradeJSAPI && b.Payer.OpenID == "" {
		return paramError("payer.openid is required")
	}
	var expire time.Time
	if b.TimeExpire != "" {
		t, err := time.Parse(time.RFC3339, b.TimeExpire)
		if err != nil {
			return paramError("time_expire must be RFC 3339")
		}
		expire = t
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if o, ok := s.orders[b.OutTradeNo]; ok {
		switch {
		case o.paid():
			return errorReply(http.StatusBadRequest, "ORDERPAID", "该订单已支付")
		case o.State == StateClosed || o.State == StateRevoked:
			return errorReply(http.StatusBadRequest, "ORDER_CLOSED", "该订单已关闭")
		case o.TradeType != tradeType || o.AppID != b.AppID || o.Description != b.Description ||
			o.TotalFen != *b.Amount.Total || o.Attach != b.Attach || o.NotifyURL != b.NotifyURL ||
			o.PayerOpenID != b.Payer.OpenID || !o.timeExpire.Equal(expire):
			return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "商户订单号重复，且参数与原订单不一致")
		}
		return prepayAnswer(o)
	}
	if !expire.IsZero() && expire.Before(now.Add(time.Minute)) {
		return paramError("time_expire must be at least 1 minute after now")
	}
	if users := s.users[b.AppID]; tradeType == TradeJSAPI && len(users) > 0 && !users[b.Payer.OpenID] {
		return paramError("appid和openid不匹配")
	}
	o := &order{
		Order: Order{
			AppID:       b.AppID,
			OutTradeNo:  b.OutTradeNo,
			TradeType:   tradeType,
			Description: b.Description,
			Attach:      b.Attach,
			NotifyURL:   b.NotifyURL,
			PayerOpenID: b.Payer.OpenID,
			TotalFen:    *b.Amount.Total,
			State:       StateNotPay,
			CreatedAt:   now,
			ExpiresAt:   now.Add(prepayValidity),
		},
		timeExpire: expire,
	}
	if !expire.IsZero() {
		o.ExpiresAt = expire
	}
	if tradeType == TradeJSAPI {
		o.PrepayID = "wx" + now.In(beijing.Location()).Format("20060102150405") + randString(lowerHex, 22)
	} else {
		o.CodeURL = "weixin://wxpay/bizpayurl?pr=" + randString(alphanumeric, 7)
	}
	s.orders[o.OutTradeNo] = o
	return prepayAnswer(o)
}

func prepayAnswer(o *order) reply {
	if o.TradeType == TradeJSAPI {
		return jsonReply(http.StatusOK, map[string]string{"prepay_id": o.PrepayID})
	}
	return jsonReply(http.StatusOK, map[string]string{"code_url": o.CodeURL})
}

// txJSON is a transaction as queries, codepay and notifications carry it.
type txJSON struct {
	AppID          string     `json:"appid"`
	MchID          string     `json:"mchid"`
	OutTradeNo     string     `json:"out_trade_no"`
	TransactionID  string     `json:"transaction_id,omitempty"`
	TradeType      string     `json:"trade_type,omitempty"`
	TradeState     string     `json:"trade_state"`
	TradeStateDesc string     `json:"trade_state_desc"`
	BankType       string     `json:"bank_type,omitempty"`
	Attach         string     `json:"attach,omitempty"`
	SuccessTime    string     `json:"success_time,omitempty"`
	Payer          *payerJSON `json:"payer,omitempty"`
	Amount         txAmount   `json:"amount"`
}

type payerJSON struct {
	OpenID string `json:"openid"`
}

type txAmount struct {
	Total         int64  `json:"total"`
	PayerTotal    *int64 `json:"payer_total,omitempty"`
	Currency      string `json:"currency"`
	PayerCurrency string `json:"payer_currency"`
}

// transaction renders o; state overrides the trade state (a payment
// notification always says SUCCESS, even for an order refunded since).
func (s *Server) transaction(o *order, state string) txJSON {
	tx := txJSON{
		AppID:          o.AppID,
		MchID:          s.cfg.MchID,
		OutTradeNo:     o.OutTradeNo,
		TradeType:      o.TradeType,
		TradeState:     state,
		TradeStateDesc: stateDesc(state),
		Amount:         txAmount{Total: o.TotalFen, Currency: "CNY", PayerCurrency: "CNY"},
	}
	if o.PayerOpenID != "" {
		tx.Payer = &payerJSON{OpenID: o.PayerOpenID}
	}
	if o.TransactionID != "" {
		tx.TransactionID = o.TransactionID
		tx.BankType = "OTHERS"
		tx.Attach = o.Attach
		tx.SuccessTime = rfc3339(o.SuccessTime)
		total := o.TotalFen
		tx.Amount.PayerTotal = &total
	}
	return tx
}

func (s *Server) handleQuery(r *http.Request, _ []byte) reply {
	if r.URL.Query().Get("mchid") != s.cfg.MchID {
		return paramError("mchid is missing or not this merchant")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[r.PathValue("out_trade_no")]
	if !ok {
		return errorReply(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
	}
	o.Queries++
	if o.State == StateUserPaying {
		s.pollCodePay(o)
	}
	return jsonReply(http.StatusOK, s.transaction(o, o.State))
}

type mchBody struct {
	AppID string `json:"appid"`
	MchID string `json:"mchid"`
}

func (s *Server) handleClose(r *http.Request, body []byte) reply {
	var b mchBody
	if err := json.Unmarshal(body, &b); err != nil || b.MchID != s.cfg.MchID {
		return paramError("body must carry this merchant's mchid")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[r.PathValue("out_trade_no")]
	switch {
	case !ok:
		return errorReply(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
	case o.paid():
		return errorReply(http.StatusBadRequest, "ORDERPAID", "订单已支付")
	case o.State == StateRevoked:
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "订单已撤销")
	}
	o.State = StateClosed
	return noContent()
}

// CodePayOutcome is how the fake customer behaves when a payment code is
// scanned. The outcome travels in the code's last two digits so that a kiosk
// simulator or a test can choose it without touching the fake (see AuthCode).
type CodePayOutcome int

// Payment-code outcomes and the last two digits that select them. Any other
// ending pays at once.
const (
	// CodePaySuccess pays at once (HTTP 200, SUCCESS).
	CodePaySuccess CodePayOutcome = iota
	// CodePayUserPaying (…91) answers USERPAYING; the order becomes SUCCESS
	// after Config.CodePayPolls queries or when Pay is called.
	CodePayUserPaying
	// CodePayNeverConfirmed (…92) stays USERPAYING until reversed or paid.
	CodePayNeverConfirmed
	// CodePayUserCancels (…93) answers USERPAYING and then becomes PAYERROR
	// after Config.CodePayPolls queries.
	CodePayUserCancels
	// CodePayNotEnough (…94) fails at once with 403 NOT_ENOUGH; PAYERROR.
	CodePayNotEnough
	// CodePaySystemErrorPaid (…95) pays but answers 500 SYSTEM_ERROR: the
	// merchant must query to learn the money was taken.
	CodePaySystemErrorPaid
	// CodePayRacesReverse (…96) stays USERPAYING until the merchant
	// reverses; the customer pays just as the reverse arrives, so that
	// reverse is refused (403 USERPAYING) and the order is paid; the next
	// reverse gives the money back (REVOKED).
	CodePayRacesReverse
	// CodePayAfterDelay (…97) answers USERPAYING and pays once
	// Config.CodePayDelay has passed on the business clock since the scan
	// (seen at the next query).
	CodePayAfterDelay
)

// suffix is the ending of a payment code that selects o.
func (o CodePayOutcome) suffix() string {
	switch o {
	case CodePayUserPaying:
		return "91"
	case CodePayNeverConfirmed:
		return "92"
	case CodePayUserCancels:
		return "93"
	case CodePayNotEnough:
		return "94"
	case CodePaySystemErrorPaid:
		return "95"
	case CodePayRacesReverse:
		return "96"
	case CodePayAfterDelay:
		return "97"
	}
	return "10"
}

// AuthCode returns a fresh, valid 18-digit payment code (10–15 prefix) whose
// payment ends with outcome.
func AuthCode(outcome CodePayOutcome) string {
	return "13" + randString(digits, 14) + outcome.suffix()
}

func outcomeOf(authCode string) CodePayOutcome {
	end := authCode[len(authCode)-2:]
	for o := CodePayUserPaying; o <= CodePayAfterDelay; o++ {
		if o.suffix() == end {
			return o
		}
	}
	return CodePaySuccess
}

// validAuthCode reports whether code looks like a WeChat payment code: 18
// digits starting 10 to 15.
func validAuthCode(code string) bool {
	if len(code) != 18 || code[0] != '1' || code[1] < '0' || code[1] > '5' {
		return false
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

type codePayBody struct {
	AppID       string `json:"appid"`
	MchID       string `json:"mchid"`
	Description string `json:"description"`
	OutTradeNo  string `json:"out_trade_no"`
	Attach      string `json:"attach"`
	Payer       struct {
		AuthCode string `json:"auth_code"`
	} `json:"payer"`
	Amount amountBody `json:"amount"`
}

func userPaying() reply {
	// A 2xx answer, so signed and verified like a success; the body is an
	// error-shaped code. Clients should also accept trade_state USERPAYING.
	return jsonReply(http.StatusAccepted, map[string]string{"code": "USERPAYING", "message": "需要用户输入支付密码"})
}

func (s *Server) handleCodePay(_ *http.Request, body []byte) reply {
	var b codePayBody
	if err := json.Unmarshal(body, &b); err != nil {
		return paramError("body is not valid JSON: " + err.Error())
	}
	if r := s.checkCommon(b.AppID, b.MchID, b.Description, b.OutTradeNo, b.Attach, b.Amount); r != nil {
		return *r
	}
	if !validAuthCode(b.Payer.AuthCode) {
		return paramError("付款码无效，请重新扫码 (auth_code must be 18 digits starting 10-15)")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[b.OutTradeNo]; ok {
		switch {
		case o.TradeType != TradeMicroPay || o.AuthCode != b.Payer.AuthCode || o.TotalFen != *b.Amount.Total || o.AppID != b.AppID:
			return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "商户订单号重复，且参数与原订单不一致")
		case o.paid():
			return jsonReply(http.StatusOK, s.transaction(o, o.State))
		case o.State == StateUserPaying:
			return userPaying()
		case o.State == StatePayError:
			return errorReply(http.StatusForbidden, "NOT_ENOUGH", "用户余额不足")
		default:
			return errorReply(http.StatusBadRequest, "ORDER_CLOSED", "订单已关闭或已撤销")
		}
	}
	if prev, used := s.authCodes[b.Payer.AuthCode]; used && prev != b.OutTradeNo {
		return paramError("付款码已使用，请重新扫码")
	}
	now := s.cfg.Now()
	sum := sha256.Sum256([]byte("openid:" + b.Payer.AuthCode))
	o := &order{
		Order: Order{
			AppID:       b.AppID,
			OutTradeNo:  b.OutTradeNo,
			TradeType:   TradeMicroPay,
			Description: b.Description,
			Attach:      b.Attach,
			PayerOpenID: "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27],
			TotalFen:    *b.Amount.Total,
			AuthCode:    b.Payer.AuthCode,
			CreatedAt:   now,
			ExpiresAt:   now.Add(prepayValidity),
		},
		outcome: outcomeOf(b.Payer.AuthCode),
	}
	s.orders[o.OutTradeNo] = o
	s.authCodes[o.AuthCode] = o.OutTradeNo
	switch o.outcome {
	case CodePayUserPaying, CodePayNeverConfirmed, CodePayUserCancels, CodePayRacesReverse, CodePayAfterDelay:
		o.State = StateUserPaying
		return userPaying()
	case CodePayNotEnough:
		o.State = StatePayError
		return errorReply(http.StatusForbidden, "NOT_ENOUGH", "用户余额不足")
	case CodePaySystemErrorPaid:
		s.markPaid(o, "")
		return errorReply(http.StatusInternalServerError, "SYSTEM_ERROR", "系统繁忙，请稍后重试")
	default:
		s.markPaid(o, "")
		return jsonReply(http.StatusOK, s.transaction(o, o.State))
	}
}

// pollCodePay advances a USERPAYING payment code by one query. Called with
// s.mu held.
func (s *Server) pollCodePay(o *order) {
	if o.outcome == CodePayAfterDelay {
		if !s.cfg.Now().Before(o.CreatedAt.Add(s.cfg.CodePayDelay)) {
			s.markPaid(o, "")
		}
		return
	}
	if o.outcome == CodePayRacesReverse {
		return
	}
	o.polls++
	if o.polls < s.cfg.CodePayPolls {
		return
	}
	switch o.outcome {
	case CodePayUserPaying:
		s.markPaid(o, "")
	case CodePayUserCancels:
		o.State = StatePayError
	}
}

func (s *Server) handleReverse(r *http.Request, body []byte) reply {
	var b mchBody
	if err := json.Unmarshal(body, &b); err != nil || b.MchID != s.cfg.MchID || b.AppID == "" {
		return paramError("body must carry appid and this merchant's mchid")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[r.PathValue("out_trade_no")]
	switch {
	case !ok:
		return errorReply(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
	case o.AppID != b.AppID:
		return paramError("appid does not match the order")
	case o.TradeType != TradeMicroPay:
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "只有付款码支付订单可以撤销")
	case o.State == StateRefund:
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "订单已发生退款，不能撤销")
	case s.cfg.Now().Sub(o.CreatedAt) > 7*24*time.Hour:
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "订单超过7天，不能撤销")
	}
	if o.outcome == CodePayRacesReverse && o.State == StateUserPaying {
		// The customer enters the password as the reverse arrives.
		s.markPaid(o, "")
		return errorReply(http.StatusForbidden, "USERPAYING", "用户正在支付，请稍后再撤销")
	}
	// A paid order is reversed by giving the money back, which the state
	// REVOKED implies; reversing twice is harmless.
	o.State = StateRevoked
	return noContent()
}

// markPaid settles o as paid now. Called with s.mu held.
func (s *Server) markPaid(o *order, openID string) {
	now := s.cfg.Now()
	o.State = StateSuccess
	o.SuccessTime = now
	if openID != "" {
		o.PayerOpenID = openID
	}
	if o.PayerOpenID == "" {
		o.PayerOpenID = "o" + randString(openIDChars, 27)
	}
	o.TransactionID = "4200" + randString(digits, 6) + now.In(beijing.Location()).Format("20060102") + randString(digits, 10)
	o.notifyID = "EV-" + now.In(beijing.Location()).Format("20060102150405") + randString(digits, 8)
	s.byTxID[o.TransactionID] = o
}

func rfc3339(t time.Time) string { return t.In(beijing.Location()).Format(time.RFC3339) }
