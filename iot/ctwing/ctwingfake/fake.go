// Package ctwingfake is a fake CTWing AEP platform for tests and the
// sandbox. Its northbound side speaks the real command API and checks our
// signatures (application, timestamp, version, MasterKey, HMAC-SHA1 over the
// SDK's canonical string); its southbound side plays the NB-IoT network for
// simulated meters: a meter's uplink is pushed to our subscription URL as a
// data report, and wakes the meter to take its cached commands, one at a
// time, each only after the previous one was acknowledged, as the real
// platforms do. At most 20 commands wait per device; a command expires when
// its TTL passes undelivered.
package ctwingfake

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"gaspay/iot/ctwing"
)

// MaxCached is how many undelivered commands a device may have.
const MaxCached = 20

// Config is the one application and product the fake knows.
type Config struct {
	AppKey    string
	AppSecret string
	MasterKey string
	ProductID int64
	// PushURL receives the subscription pushes; empty: pushes are only
	// recorded.
	PushURL string
	Now     func() time.Time
	HTTP    *http.Client
}

// Command is a cached command.
type Command struct {
	ID        string
	DeviceID  string
	Payload   []byte
	Operator  string
	Status    string
	CreatedAt time.Time
	Expires   time.Time
	// Deliveries counts how often the device was handed it.
	Deliveries int
}

type device struct {
	commands []*Command
	// inFlight is the command handed to the device and not acknowledged.
	inFlight *Command
}

// Server is the fake platform.
type Server struct {
	cfg  Config
	mu   sync.Mutex
	devs map[string]*device
	byID map[string]*Command
	next int64
	// loseNext makes the next CreateCommand save the command but lose its
	// answer (a timeout, as the caller sees it).
	loseNext bool
	pushes   []PushRecord
	mux      *http.ServeMux
}

// PushRecord is a push the fake sent and what the receiver answered.
type PushRecord struct {
	Body   []byte
	Status int
	Err    string
}

// New makes the fake.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Server{cfg: cfg, devs: map[string]*device{}, byID: map[string]*Command{}, next: 1000}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST "+ctwing.CommandPath, s.create)
	s.mux.HandleFunc("GET "+ctwing.CommandPath, s.query)
	s.mux.HandleFunc("PUT "+ctwing.CancelCommandPath, s.cancel)
	s.mux.HandleFunc("POST /device/uplink", s.httpUplink)
	s.mux.HandleFunc("POST /device/ack", s.httpAck)
	s.mux.HandleFunc("GET /device/commands", s.httpCommands)
	return s
}

// SetPushURL sets where pushes go (the server's URL is known after the
// fake is built).
func (s *Server) SetPushURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.PushURL = u
}

// LoseNextAnswer makes the next CreateCommand take effect and answer
// nothing the caller can read.
func (s *Server) LoseNextAnswer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseNext = true
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// DeviceHandler serves only the southbound (device) routes, for a
// sandbox server to expose to cmd/metersim without exposing the API.
func (s *Server) DeviceHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("POST /device/uplink", s.httpUplink)
	m.HandleFunc("POST /device/ack", s.httpAck)
	m.HandleFunc("GET /device/commands", s.httpCommands)
	return m
}

func answer(w http.ResponseWriter, status, code int, msg string, result any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "msg": msg, "result": result})
}

// authenticate checks the headers and signature the AEP gateway checks.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, version string, body []byte) bool {
	h := r.Header
	if h.Get("application") != s.cfg.AppKey {
		answer(w, http.StatusUnauthorized, 401, "application unknown", nil)
		return false
	}
	ms, err := strconv.ParseInt(h.Get("timestamp"), 10, 64)
	if err != nil || s.cfg.Now().Sub(time.UnixMilli(ms)).Abs() > 15*time.Minute {
		answer(w, http.StatusUnauthorized, 401, "timestamp out of range", nil)
		return false
	}
	if h.Get("version") != version {
		answer(w, http.StatusBadRequest, 400, "no such api version", nil)
		return false
	}
	want := ctwing.Sign(s.cfg.AppSecret, s.cfg.AppKey, h.Get("timestamp"), r.URL.Query(), body)
	if h.Get("signature") != want {
		answer(w, http.StatusUnauthorized, 401, "signature mismatch", nil)
		return false
	}
	if h.Get("MasterKey") != s.cfg.MasterKey {
		answer(w, http.StatusForbidden, 403, "MasterKey mismatch", nil)
		return false
	}
	return true
}

func (s *Server) view(c *Command) map[string]any {
	return map[string]any{"commandId": c.ID, "command": strings.ToUpper(hex.EncodeToString(c.Payload)), "commandStatus": c.Status,
		"deviceId": c.DeviceID, "productId": s.cfg.ProductID, "createBy": c.Operator, "createTime": c.CreatedAt.UnixMilli()}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !s.authenticate(w, r, ctwing.VersionCreateCommand, body) {
		return
	}
	var req struct {
		Content struct {
			Payload  string `json:"payload"`
			DataType int    `json:"dataType"`
		} `json:"content"`
		DeviceID  string `json:"deviceId"`
		Operator  string `json:"operator"`
		ProductID int64  `json:"productId"`
		TTL       *int64 `json:"ttl"`
		Level     int    `json:"level"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.DeviceID == "" || req.Operator == "" || req.ProductID != s.cfg.ProductID {
		answer(w, http.StatusOK, 400, "请求数据缺失或格式错误", nil)
		return
	}
	payload, err := hex.DecodeString(req.Content.Payload)
	if err != nil || req.Content.DataType != ctwing.DataTypeHex || len(payload) == 0 {
		answer(w, http.StatusOK, 400, "payload is not hex", nil)
		return
	}
	ttl := int64(7200)
	if req.TTL != nil {
		ttl = *req.TTL
	}
	if ttl < 0 || ttl > 864000 {
		answer(w, http.StatusOK, 400, "ttl out of range", nil)
		return
	}
	s.mu.Lock()
	now := s.cfg.Now()
	d := s.dev(req.DeviceID)
	s.expire(d, now)
	waiting := 0
	for _, c := range d.commands {
		if c.Status == ctwing.StatusSaved || c.Status == ctwing.StatusSent {
			waiting++
		}
	}
	if waiting >= MaxCached {
		s.mu.Unlock()
		answer(w, http.StatusOK, 1001, "设备缓存指令已达上限", nil)
		return
	}
	s.next++
	c := &Command{ID: strconv.FormatInt(s.next, 10), DeviceID: req.DeviceID, Payload: payload, Operator: req.Operator,
		Status: ctwing.StatusSaved, CreatedAt: now, Expires: now.Add(time.Duration(ttl) * time.Second)}
	d.commands = append(d.commands, c)
	s.byID[c.ID] = c
	lose := s.loseNext
	s.loseNext = false
	v := s.view(c)
	s.mu.Unlock()
	if lose {
		// The command is saved; the answer never arrives.
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	answer(w, http.StatusOK, 0, "ok", v)
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if !s.authenticate(w, r, ctwing.VersionQueryCommand, nil) {
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	c := s.byID[q.Get("commandId")]
	if c != nil {
		s.expire(s.dev(c.DeviceID), s.cfg.Now())
	}
	var v map[string]any
	if c != nil && c.DeviceID == q.Get("deviceId") && q.Get("productId") == strconv.FormatInt(s.cfg.ProductID, 10) {
		v = s.view(c)
	}
	s.mu.Unlock()
	if v == nil {
		answer(w, http.StatusOK, 404, "指令不存在", nil)
		return
	}
	answer(w, http.StatusOK, 0, "ok", v)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !s.authenticate(w, r, ctwing.VersionCancelCommand, body) {
		return
	}
	var req struct {
		CommandID string `json:"commandId"`
		DeviceID  string `json:"deviceId"`
		ProductID int64  `json:"productId"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		answer(w, http.StatusOK, -1, "指令取消失败，请求格式错误", nil)
		return
	}
	s.mu.Lock()
	c := s.byID[req.CommandID]
	ok := c != nil && c.DeviceID == req.DeviceID && req.ProductID == s.cfg.ProductID
	if ok {
		d := s.dev(c.DeviceID)
		s.expire(d, s.cfg.Now())
		switch c.Status {
		case ctwing.StatusSaved, ctwing.StatusSent:
			c.Status = ctwing.StatusCancelled
			if d.inFlight == c {
				d.inFlight = nil
			}
		case ctwing.StatusCancelled:
		default:
			ok = false
		}
	}
	s.mu.Unlock()
	if !ok {
		answer(w, http.StatusOK, -1, "指令取消失败，服务端响应错误", nil)
		return
	}
	answer(w, http.StatusOK, 0, "指令取消成功", nil)
}

func (s *Server) dev(id string) *device {
	d := s.devs[id]
	if d == nil {
		d = &device{}
		s.devs[id] = d
	}
	return d
}

// expire marks the device's commands whose TTL passed undelivered.
func (s *Server) expire(d *device, now time.Time) {
	for _, c := range d.commands {
		if (c.Status == ctwing.StatusSaved || c.Status == ctwing.StatusSent) && now.After(c.Expires) {
			c.Status = ctwing.StatusExpired
			if d.inFlight == c {
				d.inFlight = nil
			}
		}
	}
}

// Delivered is a command handed to a device.
type Delivered struct {
	CommandID string `json:"command_id"`
	Payload   []byte `json:"payload"`
}

// Uplink plays a device sending payload: the platform pushes it as a data
// report, and the device, awake now, is handed its next command, if any:
// the one handed before and never acknowledged (again), or the oldest one
// waiting.
func (s *Server) Uplink(ctx context.Context, deviceID string, payload []byte) (*Delivered, error) {
	now := s.cfg.Now()
	body, _ := json.Marshal(map[string]any{"messageType": ctwing.MessageDataReport, "deviceId": deviceID,
		"productId": strconv.FormatInt(s.cfg.ProductID, 10), "timestamp": now.UnixMilli(), "protocol": "lwm2m",
		"tenantId": "2000000001", "payload": map[string]string{"APPdata": base64.StdEncoding.EncodeToString(payload)}})
	if err := s.push(ctx, body); err != nil {
		return nil, err
	}
	return s.nextFor(deviceID), nil
}

// Wake hands the device its next command without an uplink of its own
// (a device that is awake already).
func (s *Server) Wake(deviceID string) *Delivered { return s.nextFor(deviceID) }

func (s *Server) nextFor(deviceID string) *Delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dev(deviceID)
	s.expire(d, s.cfg.Now())
	c := d.inFlight
	if c == nil {
		for _, x := range d.commands {
			if x.Status == ctwing.StatusSaved {
				c = x
				break
			}
		}
	}
	if c == nil {
		return nil
	}
	c.Status, c.Deliveries, d.inFlight = ctwing.StatusSent, c.Deliveries+1, c
	return &Delivered{CommandID: c.ID, Payload: bytes.Clone(c.Payload)}
}

// Ack plays the device acknowledging a command: it is delivered, the
// platform pushes a command response, and the next command may go.
func (s *Server) Ack(ctx context.Context, deviceID, commandID string) error {
	s.mu.Lock()
	c := s.byID[commandID]
	if c == nil || c.DeviceID != deviceID {
		s.mu.Unlock()
		return errors.New("ctwingfake: no such command for the device")
	}
	d := s.dev(deviceID)
	if c.Status == ctwing.StatusSent {
		c.Status = ctwing.StatusDelivered
	}
	if d.inFlight == c {
		d.inFlight = nil
	}
	s.mu.Unlock()
	id, _ := strconv.ParseInt(commandID, 10, 64)
	body, _ := json.Marshal(map[string]any{"messageType": ctwing.MessageCommandResponse, "deviceId": deviceID,
		"productId": strconv.FormatInt(s.cfg.ProductID, 10), "timestamp": s.cfg.Now().UnixMilli(), "protocol": "lwm2m",
		"taskId": id, "result": map[string]any{"resultCode": "DELIVERED", "resultDetail": map[string]any{}}})
	return s.push(ctx, body)
}

// Online plays the platform's online/offline event.
func (s *Server) Online(ctx context.Context, deviceID string, online bool) error {
	ev := 0
	if online {
		ev = 1
	}
	body, _ := json.Marshal(map[string]any{"messageType": ctwing.MessageOnlineOffline, "deviceId": deviceID,
		"productId": strconv.FormatInt(s.cfg.ProductID, 10), "timestamp": s.cfg.Now().UnixMilli(), "eventType": ev})
	return s.push(ctx, body)
}

// Commands lists a device's commands, oldest first.
func (s *Server) Commands(deviceID string) []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dev(deviceID)
	s.expire(d, s.cfg.Now())
	out := make([]Command, len(d.commands))
	for i, c := range d.commands {
		out[i] = *c
	}
	return out
}

// Pushes lists the pushes sent, oldest first.
func (s *Server) Pushes() []PushRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PushRecord(nil), s.pushes...)
}

// Replay sends a recorded push again, byte for byte.
func (s *Server) Replay(ctx context.Context, body []byte) error { return s.push(ctx, body) }

func (s *Server) push(ctx context.Context, body []byte) error {
	s.mu.Lock()
	u := s.cfg.PushURL
	s.mu.Unlock()
	rec := PushRecord{Body: body}
	var err error
	if u != "" {
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			var resp *http.Response
			resp, err = s.cfg.HTTP.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				rec.Status = resp.StatusCode
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("ctwingfake: push answered %d", resp.StatusCode)
				}
			}
		}
		if err != nil {
			rec.Err = err.Error()
		}
	}
	s.mu.Lock()
	s.pushes = append(s.pushes, rec)
	s.mu.Unlock()
	return err
}

// The southbound routes, for cmd/metersim: JSON in, JSON out.

func (s *Server) httpUplink(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DeviceID string `json:"device_id"`
		Payload  string `json:"payload"` // hex
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.DeviceID == "" {
		http.Error(w, `{"code":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	b, err := hex.DecodeString(req.Payload)
	if err != nil || len(b) == 0 {
		http.Error(w, `{"code":"invalid_payload"}`, http.StatusBadRequest)
		return
	}
	d, err := s.Uplink(r.Context(), req.DeviceID, b)
	pushErr := ""
	if err != nil {
		pushErr = err.Error()
	}
	out := map[string]any{"push_error": pushErr}
	if d != nil {
		out["command"] = map[string]string{"command_id": d.CommandID, "payload": hex.EncodeToString(d.Payload)}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (s *Server) httpAck(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DeviceID  string `json:"device_id"`
		CommandID string `json:"command_id"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		http.Error(w, `{"code":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	err := s.Ack(r.Context(), req.DeviceID, req.CommandID)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(map[string]string{"code": "ack_failed", "message": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ok": true})
}

func (s *Server) httpCommands(w http.ResponseWriter, r *http.Request) {
	list := s.Commands(r.URL.Query().Get("device_id"))
	out := make([]map[string]any, len(list))
	for i, c := range list {
		out[i] = map[string]any{"command_id": c.ID, "status": c.Status, "deliveries": c.Deliveries, "expires": c.Expires}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"commands": out})
}
