package alipayfake

import (
	"context"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"gaspay/internal/randhex"
)

// NotifyResult is what the merchant answered to one notification.
type NotifyResult struct {
	// Sent is false when the trade has no notify_url.
	Sent       bool
	StatusCode int
	Body       string // at most 1 KiB
	// Acknowledged: HTTP 200 and a body of exactly "success", the only
	// answer that stops Alipay's retries.
	Acknowledged bool
	// Err is a delivery failure (connection refused, timeout…).
	Err error
}

// NotifyOptions shapes SendNotification's deliveries. The zero value sends
// one genuine notification.
type NotifyOptions struct {
	// Tamper changes total_amount after signing, as an attacker would.
	Tamper bool
	// WrongKey signs with a key that is not Alipay's.
	WrongKey bool
	// Unsigned leaves sign out.
	Unsigned bool
	// AmountOverride replaces total_amount (and the amounts derived from
	// it) before signing: a genuine signature over an amount that does not
	// match the order, which only the merchant's own cross-check catches.
	// Any string goes, malformed ones included.
	AmountOverride string
	// Copies sends the same notification (same notify_id) this many times
	// at once, as Alipay's retries can overlap; 0 means 1.
	Copies int
}

// SendNotification posts the trade's current state (paid, refunded or
// closed) to its notify_url, shaped by opts, and returns one result per
// copy. It is safe to call concurrently, with itself and everything else.
func (s *Server) SendNotification(ctx context.Context, outTradeNo string, opts NotifyOptions) ([]NotifyResult, error) {
	var wrong *rsa.PrivateKey
	if opts.WrongKey {
		k, err := s.wrongKey()
		if err != nil {
			return nil, err
		}
		wrong = k
	}
	s.mu.Lock()
	t, ok := s.lookup(outTradeNo, "")
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNoTrade, outTradeNo)
	}
	if t.NotifyURL == "" {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNoNotifyURL, outTradeNo)
	}
	target := t.NotifyURL
	form := s.unsignedNotification(t)
	s.mu.Unlock()

	if opts.AmountOverride != "" {
		for _, k := range []string{"total_amount", "receipt_amount", "buyer_pay_amount", "invoice_amount"} {
			if form.Has(k) {
				form.Set(k, opts.AmountOverride)
			}
		}
	}
	key := s.key
	if wrong != nil {
		key = wrong
	}
	if !opts.Unsigned {
		if err := signForm(key, form); err != nil {
			return nil, fmt.Errorf("alipayfake: sign notification: %w", err)
		}
	}
	if opts.Tamper {
		fen, err := yuanToFen(form.Get("total_amount"))
		if err != nil {
			fen = 0
		}
		form.Set("total_amount", fenToYuan(fen+100_00))
	}

	copies := max(opts.Copies, 1)
	results := make([]NotifyResult, copies)
	var wg sync.WaitGroup
	for i := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.deliver(ctx, target, form)
		}()
	}
	wg.Wait()
	return results, nil
}

// notificationForm is a genuine, signed notification. s.mu must be held.
func (s *Server) notificationForm(t *trade) url.Values {
	form := s.unsignedNotification(t)
	if err := signForm(s.key, form); err != nil {
		// Signing with a valid RSA key does not fail; if it ever did, an
		// unsigned notification is refused by the merchant, visibly.
		form.Del("sign")
	}
	return form
}

// unsignedNotification describes the trade as Alipay's trade_status_sync
// does. Empty fields are left out: Alipay signs empty values too, and
// leaving them out avoids the question. s.mu must be held.
func (s *Server) unsignedNotification(t *trade) url.Values {
	now := s.now()
	f := url.Values{}
	set := func(k, v string) {
		if v != "" {
			f.Set(k, v)
		}
	}
	set("notify_id", randhex.New(16))
	set("notify_time", s.fmtTime(now))
	set("notify_type", "trade_status_sync")
	set("charset", "utf-8")
	set("version", "1.0")
	set("app_id", s.appID)
	set("auth_app_id", s.appID)
	set("out_trade_no", t.OutTradeNo)
	set("trade_no", t.TradeNo)
	set("trade_status", t.Status)
	set("subject", t.Subject)
	set("total_amount", fenToYuan(t.TotalFen))
	set("gmt_create", s.fmtTime(t.CreatedAt))
	if !t.PaidAt.IsZero() {
		amount := fenToYuan(t.TotalFen)
		set("receipt_amount", amount)
		set("buyer_pay_amount", amount)
		set("invoice_amount", amount)
		set("point_amount", "0.00")
		set("gmt_payment", s.fmtTime(t.PaidAt))
		set("buyer_open_id", t.BuyerOpenID)
		set("buyer_logon_id", t.buyerLogonID)
		set("fund_bill_list", `[{"amount":"`+amount+`","fundChannel":"ALIPAYACCOUNT"}]`)
	}
	if n := len(t.Refunds); n > 0 {
		last := t.Refunds[n-1]
		set("refund_fee", fenToYuan(t.RefundedFen))
		set("gmt_refund", s.fmtTime(last.At))
		set("out_biz_no", last.OutRequestNo)
	}
	if t.Status == StatusClosed {
		set("gmt_close", s.fmtTime(now))
	}
	set("sign_type", "RSA2")
	return f
}

// signForm signs a notification or return form as Alipay does: every
// field except sign and sign_type, sorted by name, "k=v" joined by "&".
func signForm(key *rsa.PrivateKey, f url.Values) error {
	f.Del("sign")
	var pairs []string
	for _, k := range sortedKeys(f) {
		if k == "sign_type" {
			continue
		}
		for _, v := range f[k] {
			pairs = append(pairs, k+"="+v)
		}
	}
	sig, err := signBytes(key, []byte(strings.Join(pairs, "&")))
	if err != nil {
		return err
	}
	f.Set("sign", sig)
	return nil
}

// deliver posts one notification and reads the answer.
func (s *Server) deliver(ctx context.Context, target string, form url.Values) NotifyResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return NotifyResult{Sent: true, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	resp, err := s.notifyClient.Do(req)
	if err != nil {
		return NotifyResult{Sent: true, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	res := NotifyResult{Sent: true, StatusCode: resp.StatusCode, Body: string(body), Err: err}
	res.Acknowledged = err == nil && resp.StatusCode == http.StatusOK && res.Body == "success"
	return res
}
