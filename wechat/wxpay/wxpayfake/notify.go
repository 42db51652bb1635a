package wxpayfake

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Errors of the customer-action and notification methods.
var (
	ErrNoOrder          = errors.New("wxpayfake: no such order")
	ErrNoRefund         = errors.New("wxpayfake: no such refund")
	ErrAlreadyPaid      = errors.New("wxpayfake: order already paid")
	ErrOrderClosed      = errors.New("wxpayfake: order closed, reversed or failed")
	ErrOrderExpired     = errors.New("wxpayfake: order expired")
	ErrWrongPayer       = errors.New("wxpayfake: the order belongs to another openid")
	ErrNotPaid          = errors.New("wxpayfake: order not paid")
	ErrNoNotifyURL      = errors.New("wxpayfake: no notify_url to send to")
	ErrRefundFinal      = errors.New("wxpayfake: refund already final")
	ErrRefundProcessing = errors.New("wxpayfake: refund still processing")
)

// NotifyOptions forges variants of a notification. The zero value sends the
// genuine one.
type NotifyOptions struct {
	// Tamper changes the body after it was signed.
	Tamper bool
	// WrongAPIv3Key encrypts the resource with another key; the signature is
	// genuine, so only decryption can catch it.
	WrongAPIv3Key bool
	// WrongSignature sends a signature that does not verify.
	WrongSignature bool
	// WrongSerial names a public key id the merchant does not have.
	WrongSerial bool
	// StaleTimestamp dates the (genuinely signed) notification this far in
	// the past; the SDK refuses 300 s or more.
	StaleTimestamp time.Duration
	// SignTest sends the probe WeChat uses to check that merchants verify: a
	// Wechatpay-Signature starting "WECHATPAY/SIGNTEST/".
	SignTest bool
	// BadNonceLength encrypts with a 16-byte GCM nonce instead of 12; the
	// SDK panics on it.
	BadNonceLength bool
	// URL sends to this address instead of the order's notify_url.
	URL string
	// TransactionID, if set, replaces the paid order's transaction id in a
	// genuinely signed notification: another payment of the same order
	// (a provider's fault, or a second trade under one out_trade_no).
	TransactionID string
}

// NotifyResult is what the merchant answered to a notification.
type NotifyResult struct {
	// Sent is false when there was nothing to send (a payment code has no
	// notification; a refund without notify_url neither).
	Sent bool
	// StatusCode and Body are the merchant's answer (Body cut at 64 KiB).
	StatusCode int    // 0 if nothing came back
	Body       string // e.g. {"code":"FAIL",…}
	// Err is a transport failure: timeout, connection refused.
	Err error
}

// Acknowledged reports whether the merchant accepted the notification: HTTP
// 200 or 204. Anything else WeChat retries.
func (r NotifyResult) Acknowledged() bool {
	return r.Sent && r.Err == nil && (r.StatusCode == http.StatusOK || r.StatusCode == http.StatusNoContent)
}

// pending is a notification ready to be encrypted, signed and sent; each
// attempt gets a fresh timestamp, nonce and signature but keeps id and
// create_time, as WeChat's retries do.
type pending struct {
	url          string
	id           string
	createTime   time.Time
	eventType    string
	summary      string
	originalType string // also the associated data
	plaintext    []byte
}

type notifyBody struct {
	ID           string         `json:"id"`
	CreateTime   string         `json:"create_time"`
	ResourceType string         `json:"resource_type"`
	EventType    string         `json:"event_type"`
	Summary      string         `json:"summary"`
	Resource     notifyResource `json:"resource"`
}

type notifyResource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// Pay is the customer paying order outTradeNo: the order becomes SUCCESS
// with a transaction id and success time, and the TRANSACTION.SUCCESS
// notification is posted to its notify_url. payerOpenID may be empty (the
// order's openid, or a generated one for a QR code). err != nil means the
// customer could not pay (no such order, paid, closed, expired, another
// payer); how the notification went is in NotifyResult. A payment code
// waiting for the customer's password is confirmed, without notification.
func (s *Server) Pay(ctx context.Context, outTradeNo, payerOpenID string) (NotifyResult, error) {
	n, notify, err := s.pay(outTradeNo, payerOpenID)
	if err != nil || !notify {
		return NotifyResult{}, err
	}
	res := s.deliver(ctx, n, NotifyOptions{})
	if !res.Acknowledged() {
		s.retry(n)
	}
	return res, nil
}

// PayQuietly is Pay with the notification lost: the merchant can only learn
// of the payment by querying.
func (s *Server) PayQuietly(outTradeNo string) error {
	_, _, err := s.pay(outTradeNo, "")
	return err
}

func (s *Server) pay(outTradeNo, payerOpenID string) (pending, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	switch {
	case !ok:
		return pending{}, false, fmt.Errorf("wxpayfake: pay %s: %w", outTradeNo, ErrNoOrder)
	case o.paid():
		return pending{}, false, fmt.Errorf("wxpayfake: pay %s: %w", outTradeNo, ErrAlreadyPaid)
	case o.State == StateClosed || o.State == StateRevoked || o.State == StatePayError:
		return pending{}, false, fmt.Errorf("wxpayfake: pay %s (%s): %w", outTradeNo, o.State, ErrOrderClosed)
	case o.TradeType == TradeMicroPay:
		s.markPaid(o, "")
		return pending{}, false, nil
	case s.cfg.Now().After(o.ExpiresAt):
		return pending{}, false, fmt.Errorf("wxpayfake: pay %s: %w", outTradeNo, ErrOrderExpired)
	case o.TradeType == TradeJSAPI && payerOpenID != "" && payerOpenID != o.PayerOpenID:
		return pending{}, false, fmt.Errorf("wxpayfake: pay %s: %w", outTradeNo, ErrWrongPayer)
	}
	s.markPaid(o, payerOpenID)
	return s.paymentNotification(o, ""), true, nil
}

// SendPaymentNotification sends the TRANSACTION.SUCCESS notification of a
// paid order again (same id, as WeChat's retries), or a forged variant of
// it. Safe to call concurrently, e.g. 20 duplicates at once.
func (s *Server) SendPaymentNotification(ctx context.Context, outTradeNo string, opts NotifyOptions) (NotifyResult, error) {
	s.mu.Lock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		s.mu.Unlock()
		return NotifyResult{}, fmt.Errorf("wxpayfake: notify %s: %w", outTradeNo, ErrNoOrder)
	}
	if o.TransactionID == "" {
		s.mu.Unlock()
		return NotifyResult{}, fmt.Errorf("wxpayfake: notify %s: %w", outTradeNo, ErrNotPaid)
	}
	if opts.TransactionID != "" {
		other := *o
		other.TransactionID = opts.TransactionID
		o = &other
	}
	n := s.paymentNotification(o, opts.URL)
	s.mu.Unlock()
	if n.url == "" {
		return NotifyResult{}, fmt.Errorf("wxpayfake: notify %s: %w", outTradeNo, ErrNoNotifyURL)
	}
	return s.deliver(ctx, n, opts), nil
}

// PaymentNotification builds, without sending, the signed and encrypted
// TRANSACTION.SUCCESS notification of a paid order: the body and headers
// WeChat Pay would post. Load tests sign ahead of time with it, so that
// only the merchant's work is measured.
func (s *Server) PaymentNotification(outTradeNo string, opts NotifyOptions) ([]byte, map[string]string, error) {
	s.mu.Lock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("wxpayfake: notify %s: %w", outTradeNo, ErrNoOrder)
	}
	if o.TransactionID == "" {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("wxpayfake: notify %s: %w", outTradeNo, ErrNotPaid)
	}
	n := s.paymentNotification(o, opts.URL)
	s.mu.Unlock()
	return s.seal(n, opts)
}

// paymentNotification prepares the TRANSACTION.SUCCESS event of o. Called
// with s.mu held.
func (s *Server) paymentNotification(o *order, url string) pending {
	plain, _ := json.Marshal(s.transaction(o, StateSuccess))
	if url == "" {
		url = o.NotifyURL
	}
	return pending{
		url:          url,
		id:           o.notifyID,
		createTime:   o.SuccessTime,
		eventType:    "TRANSACTION.SUCCESS",
		summary:      "支付成功",
		originalType: "transaction",
		plaintext:    plain,
	}
}

// deliver encrypts, signs and posts one attempt of n.
func (s *Server) deliver(ctx context.Context, n pending, opts NotifyOptions) NotifyResult {
	if opts.URL != "" {
		n.url = opts.URL
	}
	body, headers, err := s.seal(n, opts)
	if err != nil {
		return NotifyResult{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return NotifyResult{Err: err}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return NotifyResult{Sent: true, Err: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return NotifyResult{Sent: true, StatusCode: resp.StatusCode, Body: string(answer), Err: err}
}

// seal builds the body and headers of one attempt.
func (s *Server) seal(n pending, opts NotifyOptions) ([]byte, map[string]string, error) {
	key := []byte(s.cfg.APIv3Key)
	if opts.WrongAPIv3Key {
		key = []byte(randString(alphanumeric, 32))
	}
	nonceLen := 12
	if opts.BadNonceLength {
		nonceLen = 16
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, fmt.Errorf("wxpayfake: aes: %w", err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, nonceLen)
	if err != nil {
		return nil, nil, fmt.Errorf("wxpayfake: gcm: %w", err)
	}
	nonce := randString(alphanumeric, nonceLen)
	sealed := gcm.Seal(nil, []byte(nonce), n.plaintext, []byte(n.originalType))
	nb := notifyBody{
		ID:           n.id,
		CreateTime:   rfc3339(n.createTime),
		ResourceType: "encrypt-resource",
		EventType:    n.eventType,
		Summary:      n.summary,
		Resource: notifyResource{
			OriginalType:   n.originalType,
			Algorithm:      "AEAD_AES_256_GCM",
			Ciphertext:     base64.StdEncoding.EncodeToString(sealed),
			AssociatedData: n.originalType,
			Nonce:          nonce,
		},
	}
	body, err := json.Marshal(nb)
	if err != nil {
		return nil, nil, fmt.Errorf("wxpayfake: marshal notification: %w", err)
	}
	ts := time.Now().Add(-opts.StaleTimestamp).Unix()
	hnonce := randString(alphanumeric, 32)
	sig, err := s.sign(fmt.Sprintf("%d\n%s\n%s\n", ts, hnonce, body))
	if err != nil {
		return nil, nil, fmt.Errorf("wxpayfake: sign notification: %w", err)
	}
	switch {
	case opts.SignTest:
		junk := make([]byte, 256)
		_, _ = rand.Read(junk)
		sig = "WECHATPAY/SIGNTEST/" + base64.StdEncoding.EncodeToString(junk)
	case opts.WrongSignature:
		sig = breakSignature(sig)
	}
	serial := s.cfg.PlatformPublicKeyID
	if opts.WrongSerial {
		serial = "PUB_KEY_ID_" + randString(digits, 30)
	}
	if opts.Tamper {
		nb.Summary += "（已篡改）"
		if body, err = json.Marshal(nb); err != nil {
			return nil, nil, fmt.Errorf("wxpayfake: marshal notification: %w", err)
		}
	}
	return body, map[string]string{
		"Content-Type":             "application/json",
		"User-Agent":               "Mozilla/4.0",
		"Wechatpay-Timestamp":      strconv.FormatInt(ts, 10),
		"Wechatpay-Nonce":          hnonce,
		"Wechatpay-Serial":         serial,
		"Wechatpay-Signature":      sig,
		"Wechatpay-Signature-Type": signatureType,
	}, nil
}

// retry re-sends n on the Config.NotifyRetries schedule until acknowledged.
func (s *Server) retry(n pending) {
	if len(s.cfg.NotifyRetries) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spawnLocked(func(ctx context.Context) {
		for _, d := range s.cfg.NotifyRetries {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
			if s.deliver(ctx, n, NotifyOptions{}).Acknowledged() {
				return
			}
		}
	})
}

// spawnLocked runs fn in the background until Close. Called with s.mu held,
// which orders every WaitGroup.Add before Close's Wait.
func (s *Server) spawnLocked(fn func(ctx context.Context)) {
	if s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}
