// Package kioskclient is a kiosk's side of /kiosk/v1: signed requests,
// verified answers, and a terminal that relays its card reader's frames as
// a kiosk's own software does. cmd/kiosksim, the kiosk tests and the load
// test drive servers through it.
package kioskclient

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"gaspay/bleproxy"
	"gaspay/internal/randhex"
	"gaspay/partner"
)

// Client signs a kiosk's requests and checks the server's answers.
type Client struct {
	URL  string
	ID   string
	Key  []byte
	HTTP *http.Client
	// Now is the kiosk's clock (its timestamps); nil means time.Now.
	Now func() time.Time
}

// ErrBadAnswer: an answer whose signature does not verify.
var ErrBadAnswer = errors.New("kioskclient: answer not signed by the server")

// Answer is a verified answer.
type Answer struct {
	Status int
	Body   []byte
}

// Code is an error answer's code.
func (a Answer) Code() string {
	var e struct {
		Code string `json:"code"`
	}
	json.Unmarshal(a.Body, &e)
	return e.Code
}

// Message is an error answer's message.
func (a Answer) Message() string {
	var e struct {
		Message string `json:"message"`
	}
	json.Unmarshal(a.Body, &e)
	return e.Message
}

// Do sends a signed request; idemKey, if set, is its Idempotency-Key.
func (c *Client) Do(ctx context.Context, method, path string, body any, idemKey string) (Answer, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return Answer{}, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, bytes.NewReader(raw))
	if err != nil {
		return Answer{}, err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	n := randhex.New(12)
	req.Header.Set("X-Kiosk-Id", c.ID)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Nonce", n)
	req.Header.Set("X-Signature", partner.Sign(c.Key, method, req.URL.RequestURI(), ts, n, string(raw)))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	want := partner.Sign(c.Key, strconv.Itoa(resp.StatusCode), resp.Header.Get("X-Timestamp"), resp.Header.Get("X-Nonce"), string(b))
	if !hmac.Equal([]byte(want), []byte(resp.Header.Get("X-Signature"))) {
		return Answer{Status: resp.StatusCode, Body: b}, fmt.Errorf("%w (HTTP %d)", ErrBadAnswer, resp.StatusCode)
	}
	return Answer{Status: resp.StatusCode, Body: b}, nil
}

// View is the part of a card view a kiosk acts on.
type View struct {
	Event           string `json:"event"`
	Card            string `json:"card"`
	AccountID       int64  `json:"account_id"`
	UserNumber      string `json:"user_number"`
	Holder          string `json:"holder"`
	CardType        string `json:"card_type"`
	CreditState     string `json:"credit_state"`
	Seq             int    `json:"seq"`
	PurchaseAllowed bool   `json:"purchase_allowed"`
	BalanceFen      *int64 `json:"balance_fen"`
	Address         string `json:"address"`
	Screen          string `json:"screen"`
	WriteStatus     string `json:"write_status"`
	Reason          *struct {
		Code string `json:"code"`
	} `json:"reason"`
	Refusal *struct {
		Code string `json:"code"`
	} `json:"refusal"`
	Pending *struct {
		OrderNo        string `json:"order_no"`
		WriteAvailable bool   `json:"write_available"`
		InDoubt        bool   `json:"in_doubt"`
	} `json:"pending"`
	Delivered *struct {
		OrderNo string `json:"order_no"`
		Seq     int    `json:"seq"`
	} `json:"delivered"`
}

type boxAnswer struct {
	SessionID string   `json:"session_id"`
	Frames    []string `json:"frames"`
	View      *View    `json:"view"`
}

// Terminal is a kiosk: its client and its card reader (a box model).
type Terminal struct {
	*Client
	Box     *bleproxy.Box
	Session string
}

func (t *Terminal) post(ctx context.Context, path string, body any) (boxAnswer, Answer, error) {
	a, err := t.Do(ctx, "POST", path, body, "")
	if err != nil {
		return boxAnswer{}, a, err
	}
	var out boxAnswer
	if a.Status >= 300 {
		return out, a, fmt.Errorf("kioskclient: %s: HTTP %d %s", path, a.Status, a.Body)
	}
	return out, a, json.Unmarshal(a.Body, &out)
}

func frameOf(b64 string) (bleproxy.Frame, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return bleproxy.Frame{}, err
	}
	return bleproxy.ParseFrame(raw)
}

// Connect opens a session with the reader's HELLO and relays the first
// read; it returns the view of the card.
func (t *Terminal) Connect(ctx context.Context) (*View, error) {
	hello, err := t.Box.Hello()
	if err != nil {
		return nil, err
	}
	a, _, err := t.post(ctx, "/kiosk/v1/sessions", map[string]string{"hello": base64.StdEncoding.EncodeToString(hello.Marshal())})
	if err != nil {
		return nil, err
	}
	if len(a.Frames) == 0 {
		return nil, errors.New("kioskclient: no SESSION frame")
	}
	t.Session = a.SessionID
	f, err := frameOf(a.Frames[0])
	if err != nil {
		return nil, err
	}
	if err := t.Box.HandleSession(f); err != nil {
		return nil, fmt.Errorf("kioskclient: reader refused SESSION: %w", err)
	}
	return t.Deliver(ctx, a.Frames[1:])
}

// Deliver hands the server's frames to the reader and relays each reply,
// returning the last view. A frame the reader answers with nothing (its
// reply lost, a card pulled) ends the relay with the error.
func (t *Terminal) Deliver(ctx context.Context, frames []string) (*View, error) {
	var view *View
	for _, s := range frames {
		f, err := frameOf(s)
		if err != nil {
			return nil, err
		}
		reply, err := t.Box.Handle(f)
		if err != nil {
			return view, fmt.Errorf("kioskclient: reader: %w", err)
		}
		a, _, err := t.post(ctx, "/kiosk/v1/sessions/"+t.Session+"/frames", map[string]string{"frame": base64.StdEncoding.EncodeToString(reply.Marshal())})
		if err != nil {
			return nil, err
		}
		view = a.View
	}
	return view, nil
}

// Read asks the server for a new read of the card and relays it.
func (t *Terminal) Read(ctx context.Context) (*View, error) {
	a, _, err := t.post(ctx, "/kiosk/v1/sessions/"+t.Session+"/read", nil)
	if err != nil {
		return nil, err
	}
	return t.Deliver(ctx, a.Frames)
}

// Write asks for the WRITE_CARD of a paid order and relays it.
func (t *Terminal) Write(ctx context.Context, orderNo string) (*View, error) {
	a, ans, err := t.post(ctx, "/kiosk/v1/sessions/"+t.Session+"/write", map[string]string{"order_no": orderNo})
	if err != nil {
		if ans.Status != 0 {
			return nil, fmt.Errorf("%w (%s)", err, ans.Code())
		}
		return nil, err
	}
	return t.Deliver(ctx, a.Frames)
}

// Order is a kiosk order as the server answers it.
type Order struct {
	Order struct {
		OrderNo    string `json:"order_no"`
		Status     string `json:"status"`
		PayableFen int64  `json:"payable_fen"`
		Credit     *struct {
			Status string `json:"status"`
		} `json:"credit"`
	} `json:"order"`
	Outcome    string    `json:"outcome"`
	CodeState  string    `json:"code_state"`
	Provider   string    `json:"provider"`
	DeadlineAt time.Time `json:"deadline_at"`
	Screen     string    `json:"screen"`
}

// Purchase is the request of an order or a quote.
type Purchase struct {
	SessionID     string `json:"session_id"`
	AmountFen     *int64 `json:"amount_fen,omitempty"`
	VolumeCentiM3 *int64 `json:"volume_centi_m3,omitempty"`
	AuthCode      string `json:"auth_code,omitempty"`
}

// PlaceOrder creates the order for the card just read with the scanned
// code, under idemKey.
func (t *Terminal) PlaceOrder(ctx context.Context, p Purchase, idemKey string) (Order, Answer, error) {
	p.SessionID = t.Session
	a, err := t.Do(ctx, "POST", "/kiosk/v1/orders", p, idemKey)
	if err != nil {
		return Order{}, a, err
	}
	var o Order
	if a.Status != http.StatusCreated {
		return o, a, fmt.Errorf("kioskclient: order: HTTP %d %s", a.Status, a.Body)
	}
	return o, a, json.Unmarshal(a.Body, &o)
}

// GetOrder asks about an order (and moves its loop if a step is due).
func (t *Terminal) GetOrder(ctx context.Context, no string) (Order, error) {
	a, err := t.Do(ctx, "GET", "/kiosk/v1/orders/"+no, nil, "")
	if err != nil {
		return Order{}, err
	}
	var o Order
	if a.Status != http.StatusOK {
		return o, fmt.Errorf("kioskclient: order %s: HTTP %d %s", no, a.Status, a.Body)
	}
	return o, json.Unmarshal(a.Body, &o)
}

// Receipt is a receipt's answer.
type Receipt struct {
	Receipt map[string]any `json:"receipt"`
	Text    string         `json:"text"`
	Width   int            `json:"width"`
}

// GetReceipt fetches an order's receipt; reprint marks a copy.
func (t *Terminal) GetReceipt(ctx context.Context, no string, reprint bool) (Receipt, error) {
	path := "/kiosk/v1/orders/" + no + "/receipt"
	if reprint {
		path += "?reprint=1"
	}
	a, err := t.Do(ctx, "GET", path, nil, "")
	if err != nil {
		return Receipt{}, err
	}
	var r Receipt
	if a.Status != http.StatusOK {
		return r, fmt.Errorf("kioskclient: receipt %s: HTTP %d %s", no, a.Status, a.Body)
	}
	return r, json.Unmarshal(a.Body, &r)
}
