package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// demo is a whole IoT recharge against a sandbox server, as the customer
// lives it: log in, bind the meter, accept the messages, pay 100.00 yuan,
// press the button, and see the balance change and the message arrive.
func (s *sim) demo(ctx context.Context, number string) error {
	var login struct {
		Token string `json:"token"`
	}
	if err := s.post(ctx, "/api/mp/login", map[string]string{"code": "test:metersim-" + number}, &login); err != nil {
		return err
	}
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+login.Token) }
	call := func(method, path string, body any, out any) error {
		var req *http.Request
		var err error
		if body != nil {
			if err := s.authPost(ctx, path, body, out, auth); err != nil {
				return err
			}
			return nil
		}
		req, err = http.NewRequestWithContext(ctx, method, s.base+path, nil)
		if err != nil {
			return err
		}
		auth(req)
		return s.do(req, out)
	}
	var bound struct {
		AccountID int64 `json:"account_id"`
	}
	if err := call("POST", "/api/bindings", map[string]string{"by": "meter_number", "number": number}, &bound); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "1. logged in and bound meter %s (account %d)\n", number, bound.AccountID)
	call("POST", "/api/subscriptions", map[string]any{"results": map[string]string{
		"sandbox-mp-payment_received": "accept", "sandbox-mp-credit_delivered": "accept"}}, nil)
	fmt.Fprintln(s.out, "2. accepted the payment and delivery messages")
	before, err := s.accountView(ctx, call, bound.AccountID)
	if err != nil {
		return err
	}
	var order struct {
		Order struct {
			OrderNo    string `json:"order_no"`
			PayableFen int64  `json:"payable_fen"`
		} `json:"order"`
	}
	key := fmt.Sprintf("metersim-%d", time.Now().UnixNano())
	req := map[string]any{"account_id": bound.AccountID, "amount_fen": 10000, "channel": "wechat_mp"}
	if err := s.authPost(ctx, "/api/orders", req, &order, func(r *http.Request) { auth(r); r.Header.Set("Idempotency-Key", key) }); err != nil {
		return err
	}
	if err := s.post(ctx, "/sandbox/wechat/pay/"+order.Order.OrderNo, map[string]string{}, nil); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "3. paid order %s: %s yuan in the sandbox WeChat Pay\n", order.Order.OrderNo, centi(order.Order.PayableFen))
	var d map[string]any
	if err := s.waitFor(ctx, func() (bool, error) {
		v, err := s.accountView(ctx, call, bound.AccountID)
		d = v.delivery(order.Order.OrderNo)
		return d != nil && d["state"] == "sent", err
	}); err != nil {
		return fmt.Errorf("the recharge did not reach the platform: %w", err)
	}
	fmt.Fprintf(s.out, "4. the recharge is at the meter platform: %s %s\n", d["text"], d["action"])
	fmt.Fprintln(s.out, "5. the customer holds the meter's button for 5 seconds:")
	if err := s.press(ctx, number, 1); err != nil {
		return err
	}
	if s.fault == "tamper" || s.fault == "offline" || s.fault == "reject" {
		// The purchase did not land: show where it stands and what the
		// customer can do.
		want := map[string]string{"tamper": "sent", "offline": "sent", "reject": "rejected"}[s.fault]
		err := s.waitFor(ctx, func() (bool, error) {
			v, err := s.accountView(ctx, call, bound.AccountID)
			d = v.delivery(order.Order.OrderNo)
			return d != nil && d["state"] == want && (s.fault != "offline" || d["sent_at"] != nil), err
		})
		fmt.Fprintf(s.out, "6. not applied; the server says: %v %v %v\n", d["state"], d["text"], d["action"])
		return err
	}
	var after view
	if err := s.waitFor(ctx, func() (bool, error) {
		v, err := s.accountView(ctx, call, bound.AccountID)
		after, d = v, v.delivery(order.Order.OrderNo)
		return d != nil && d["state"] == "applied", err
	}); err != nil {
		return fmt.Errorf("the server did not see the purchase applied: %w", err)
	}
	fmt.Fprintf(s.out, "6. %s balance on the meter: %s → %s yuan (as of %s)\n", d["text"], before.balance(), after.balance(), after.asOf())
	var msgs struct {
		Messages []struct {
			OpenID string            `json:"openid"`
			Event  string            `json:"event"`
			Data   map[string]string `json:"data"`
		} `json:"messages"`
	}
	if err := s.waitFor(ctx, func() (bool, error) {
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/sandbox/wechat/messages", nil)
		if err := s.do(r, &msgs); err != nil {
			return false, err
		}
		for _, m := range msgs.Messages {
			if m.Event == "credit_delivered" && m.Data["character_string1"] == order.Order.OrderNo {
				fmt.Fprintf(s.out, "7. WeChat message to %s: %s %s %s\n", m.OpenID, m.Data["amount2"], m.Data["thing3"], m.Data["time4"])
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("no delivery message arrived: %w", err)
	}
	return nil
}

type view map[string]any

func (v view) iot() map[string]any { m, _ := v["iot"].(map[string]any); return m }

func (v view) delivery(orderNo string) map[string]any {
	d, _ := v.iot()["delivery"].(map[string]any)
	// A binding by meter number sees no order number: the newest delivery
	// is then the one just paid.
	if d == nil || (d["order_no"] != nil && d["order_no"] != orderNo) {
		return nil
	}
	return d
}

func (v view) balance() string {
	if m, _ := v.iot()["meter"].(map[string]any); m != nil {
		if b, ok := m["balance"].(float64); ok {
			return centi(int64(b))
		}
	}
	if m, _ := v["meter"].(map[string]any); m != nil {
		if b, ok := m["last_balance_fen"].(float64); ok {
			return centi(int64(b))
		}
	}
	return "?"
}

func (v view) asOf() string {
	if m, _ := v.iot()["meter"].(map[string]any); m != nil {
		if s, ok := m["as_of"].(string); ok {
			return s
		}
	}
	return "?"
}

func (s *sim) accountView(ctx context.Context, call func(string, string, any, any) error, id int64) (view, error) {
	var v view
	err := call("GET", fmt.Sprintf("/api/accounts/%d", id), nil, &v)
	return v, err
}

func (s *sim) authPost(ctx context.Context, path string, body any, out any, decorate func(*http.Request)) error {
	b, err := jsonBody(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, b)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	decorate(req)
	return s.do(req, out)
}

func (s *sim) waitFor(ctx context.Context, ok func() (bool, error)) error {
	deadline := time.Now().Add(s.timeout)
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func jsonBody(v any) (*bytes.Reader, error) {
	b, err := json.Marshal(v)
	return bytes.NewReader(b), err
}
