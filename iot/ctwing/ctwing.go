// Package ctwing is a client of China Telecom's AEP IoT platform (CTWing)
// for the commands of NB-IoT meters: CreateCommand, QueryCommand and
// CancelCommand of the aep_device_command API, signed as the AEP SDK signs
// (HMAC-SHA1 over its canonical string), and the subscription pushes
// (data reports, command responses, online/offline events).
//
// Pushes carry no signature: they are hints. The caller confirms a command
// with QueryCommand and trusts only what the meter itself authenticated
// inside a payload. The package depends on nothing of gaspay's.
package ctwing

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Paths and API versions (the version header the AEP gateway routes by).
const (
	CommandPath       = "/aep_device_command/command"
	CancelCommandPath = "/aep_device_command/cancelCommand"

	VersionCreateCommand = "20190712225145"
	VersionQueryCommand  = "20190712225241"
	VersionCancelCommand = "20190615023142"
)

// Command states, as the platform words them.
const (
	StatusSaved     = "指令已保存"
	StatusSent      = "指令已发送"
	StatusDelivered = "指令已送达"
	StatusCompleted = "指令已完成"
	StatusFailed    = "指令发送失败"
	StatusExpired   = "指令已过期"
	StatusCancelled = "指令已取消"
)

// Errors; test them with errors.Is.
var (
	// ErrUnknownOutcome: the request may or may not have taken effect (no
	// answer, a 5xx, an answer we cannot read).
	ErrUnknownOutcome = errors.New("ctwing: outcome unknown")
	// ErrRefused: the platform answered and refused (code ≠ 0, or 4xx).
	ErrRefused = errors.New("ctwing: refused")
)

// APIError is a refusal: the platform's code and message.
type APIError struct {
	HTTPStatus int
	Code       int
	Msg        string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("ctwing: http %d code %d: %s", e.HTTPStatus, e.Code, e.Msg)
}

// Is makes an APIError match ErrRefused.
func (e *APIError) Is(target error) bool { return target == ErrRefused }

// Config is an AEP application and the product of its meters.
type Config struct {
	BaseURL   string // https://ag-api.ctwing.cn
	AppKey    string
	AppSecret string
	MasterKey string
	ProductID int64
	// Operator is the "operator" of created commands.
	Operator string
	HTTP     *http.Client
	Now      func() time.Time
}

// Client calls the AEP command API.
type Client struct{ cfg Config }

// New makes a client; HTTP defaults to a client with a 10 s timeout that
// keeps enough idle connections to the one API host for the dispatch
// workers (the default transport keeps 2: every further concurrent call
// would open, and then close, a TLS connection of its own).
func New(cfg Config) *Client {
	if cfg.HTTP == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: t}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Operator == "" {
		cfg.Operator = "gaspay"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg}
}

// Sign returns the AEP signature: base64(HMAC-SHA1(secret, S)), S being
// "application:"+appKey+"\n"+"timestamp:"+ts+"\n", each query parameter as
// name+":"+value+"\n" in name order, then the body and "\n" if the body is
// not empty.
func Sign(secret, appKey, timestamp string, query url.Values, body []byte) string {
	var s bytes.Buffer
	s.WriteString("application:" + appKey + "\n")
	s.WriteString("timestamp:" + timestamp + "\n")
	names := make([]string, 0, len(query))
	for n := range query {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range query[n] {
			s.WriteString(n + ":" + v + "\n")
		}
	}
	if len(body) > 0 {
		s.Write(body)
		s.WriteString("\n")
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(s.Bytes())
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Command is a command as the platform describes it.
type Command struct {
	CommandID     string `json:"commandId"`
	CommandStatus string `json:"commandStatus"`
	DeviceID      string `json:"deviceId"`
	ProductID     int64  `json:"productId"`
	CreateTime    int64  `json:"createTime"`
	FinishTime    *int64 `json:"finishTime"`
	ResultCode    any    `json:"resultCode"`
	ResultMessage any    `json:"resultMessage"`
}

type envelope struct {
	Code   *int            `json:"code"`
	Msg    string          `json:"msg"`
	Result json.RawMessage `json:"result"`
}

type createBody struct {
	Content   createContent `json:"content"`
	DeviceID  string        `json:"deviceId"`
	Operator  string        `json:"operator"`
	ProductID int64         `json:"productId"`
	TTL       int64         `json:"ttl"`
	Level     int           `json:"level"`
}

type createContent struct {
	Payload  string `json:"payload"`
	DataType int    `json:"dataType"`
}

// DataTypeHex is the content dataType of a hex payload (TCP and LwM2M
// transparent products).
const DataTypeHex = 2

// CreateCommand caches payload for the device for ttl (whole seconds,
// 1–864000). ref is appended to the operator so the platform's records name
// our delivery.
func (c *Client) CreateCommand(ctx context.Context, deviceID string, payload []byte, ttl time.Duration, ref string) (Command, error) {
	secs := int64(ttl / time.Second)
	if secs < 1 || secs > 864000 {
		return Command{}, fmt.Errorf("ctwing: ttl %s out of 1s..240h", ttl)
	}
	op := c.cfg.Operator
	if ref != "" {
		op += ":" + ref
	}
	body, err := json.Marshal(createBody{Content: createContent{Payload: strings.ToUpper(hex.EncodeToString(payload)), DataType: DataTypeHex},
		DeviceID: deviceID, Operator: op, ProductID: c.cfg.ProductID, TTL: secs, Level: 1})
	if err != nil {
		return Command{}, err
	}
	var out Command
	return out, c.call(ctx, http.MethodPost, CommandPath, VersionCreateCommand, nil, body, &out)
}

// QueryCommand asks for one command's state.
func (c *Client) QueryCommand(ctx context.Context, deviceID, commandID string) (Command, error) {
	q := url.Values{"commandId": {commandID}, "productId": {strconv.FormatInt(c.cfg.ProductID, 10)}, "deviceId": {deviceID}}
	var out Command
	return out, c.call(ctx, http.MethodGet, CommandPath, VersionQueryCommand, q, nil, &out)
}

// CancelCommand cancels a command the platform has not delivered.
func (c *Client) CancelCommand(ctx context.Context, deviceID, commandID string) error {
	body, err := json.Marshal(map[string]any{"commandId": commandID, "deviceId": deviceID, "productId": c.cfg.ProductID})
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodPut, CancelCommandPath, VersionCancelCommand, nil, body, nil)
}

func (c *Client) call(ctx context.Context, method, path, version string, q url.Values, body []byte, out any) error {
	u := c.cfg.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(c.cfg.Now().UnixMilli(), 10)
	req.Header.Set("application", c.cfg.AppKey)
	req.Header.Set("timestamp", ts)
	req.Header.Set("version", version)
	req.Header.Set("MasterKey", c.cfg.MasterKey)
	req.Header.Set("signature", Sign(c.cfg.AppSecret, c.cfg.AppKey, ts, q, body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnknownOutcome, method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnknownOutcome, method, path, err)
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%w: %s %s: http %d", ErrUnknownOutcome, method, path, resp.StatusCode)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Code == nil {
		if resp.StatusCode >= 400 {
			return &APIError{HTTPStatus: resp.StatusCode, Code: -1, Msg: "unreadable answer"}
		}
		return fmt.Errorf("%w: %s %s: unreadable answer", ErrUnknownOutcome, method, path)
	}
	if resp.StatusCode >= 400 || *env.Code != 0 {
		return &APIError{HTTPStatus: resp.StatusCode, Code: *env.Code, Msg: env.Msg}
	}
	if out != nil {
		if len(env.Result) == 0 || string(env.Result) == "null" {
			return fmt.Errorf("%w: %s %s: no result", ErrUnknownOutcome, method, path)
		}
		if err := json.Unmarshal(env.Result, out); err != nil {
			return fmt.Errorf("%w: %s %s: result: %w", ErrUnknownOutcome, method, path, err)
		}
	}
	return nil
}

// Message types of the subscription pushes.
const (
	MessageDataReport      = "dataReport"
	MessageCommandResponse = "commandResponse"
	MessageOnlineOffline   = "deviceOnlineOfflineReport"
)

// Push is one subscription push.
type Push struct {
	MessageType string `json:"messageType"`
	DeviceID    string `json:"deviceId"`
	ProductID   string `json:"productId"`
	Timestamp   int64  `json:"timestamp"`
	TenantID    string `json:"tenantId,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	// Payload of a data report: a transparent device's bytes, base64 in
	// APPdata.
	Payload *struct {
		APPdata string `json:"APPdata"`
	} `json:"payload,omitempty"`
	// TaskID of a command response is the commandId.
	TaskID json.Number `json:"taskId,omitempty"`
	Result *struct {
		ResultCode   string          `json:"resultCode"`
		ResultDetail json.RawMessage `json:"resultDetail,omitempty"`
	} `json:"result,omitempty"`
	// EventType of an online/offline event: 1 online, 0 offline.
	EventType *int `json:"eventType,omitempty"`
}

// ParsePush reads a push body. A data report's payload is returned decoded.
func ParsePush(body []byte) (Push, []byte, error) {
	var p Push
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&p); err != nil {
		return Push{}, nil, fmt.Errorf("ctwing: push: %w", err)
	}
	if p.DeviceID == "" {
		return Push{}, nil, errors.New("ctwing: push without deviceId")
	}
	switch p.MessageType {
	case MessageDataReport:
		if p.Payload == nil {
			return Push{}, nil, errors.New("ctwing: data report without payload")
		}
		b, err := base64.StdEncoding.DecodeString(p.Payload.APPdata)
		if err != nil || len(b) == 0 {
			return Push{}, nil, errors.New("ctwing: data report payload is not base64 bytes")
		}
		return p, b, nil
	case MessageCommandResponse:
		if p.TaskID == "" {
			return Push{}, nil, errors.New("ctwing: command response without taskId")
		}
	case MessageOnlineOffline:
		if p.EventType == nil {
			return Push{}, nil, errors.New("ctwing: online/offline event without eventType")
		}
	default:
		return Push{}, nil, fmt.Errorf("ctwing: unknown messageType %q", p.MessageType)
	}
	return p, nil, nil
}
