// Package messages tells customers what happened to their money and gas:
// payment received, credit delivered (meter applied, card written, bill
// settled), delivery needs action, low balance from a meter report, and
// arrears reminders. Events become rows of an outbox (one per event and
// user, by a unique key), sent by one replica at a time: mini-program users
// get subscribe messages, each spending one acceptance the mini-program
// reported (POST /api/subscriptions); official-account users get template
// messages. WeChat errors are retried with backoff and given up after a
// day with an alert; 43101 (no acceptance) and quota errors are recorded,
// never retried forever.
package messages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gaspay/models"
	"gaspay/units"
	"gaspay/wechat"
)

// Event is what a message reports.
type Event = models.MessageEvent

// Events.
const (
	PaymentReceived Event = "payment_received"
	CreditDelivered Event = "credit_delivered"
	NeedsAction     Event = "delivery_action"
	LowBalance      Event = "low_balance"
	Arrears         Event = "arrears_reminder"
)

// Events lists every event, for configuration.
var Events = []Event{PaymentReceived, CreditDelivered, NeedsAction, LowBalance, Arrears}

// Outbox states (models/messages_store.go owns them with the outbox).
const (
	StatePending = models.OutboxPending
	StateSent    = models.OutboxSent
	StateRefused = models.OutboxRefused
	StateQuota   = models.OutboxQuota
	StateGivenUp = models.OutboxGivenUp
)

// Sender is the WeChat API (wechat.Client).
type Sender interface {
	SendTemplate(ctx context.Context, app wechat.App, msg wechat.TemplateMessage) error
	SendSubscribe(ctx context.Context, app wechat.App, msg wechat.SubscribeMessage) error
}

// Config is where messages go and with which templates.
type Config struct {
	MP, OA wechat.App
	// MPTemplates and OATemplates map events to template ids; an event
	// without one is not sent to that app's users.
	MPTemplates, OATemplates map[Event]string
	// LowBalanceFen is the default low-balance threshold.
	LowBalanceFen int64
	// GiveUpAfter: a message not sent by then is given up (a day).
	GiveUpAfter time.Duration
	// PublicURL makes links for template messages.
	PublicURL string
	Location  *time.Location
}

// Service produces and sends messages.
type Service struct {
	store  *models.Store
	sender Sender
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
}

// New makes the service.
func New(store *models.Store, sender Sender, cfg Config, log *slog.Logger) *Service {
	if cfg.LowBalanceFen == 0 {
		cfg.LowBalanceFen = 1000
	}
	if cfg.GiveUpAfter == 0 {
		cfg.GiveUpAfter = 24 * time.Hour
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	return &Service{store: store, sender: sender, cfg: cfg, log: log, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// EventOf names the event a template id reports, for the sandbox's list.
func (s *Service) EventOf(templateID string) Event {
	for _, m := range []map[Event]string{s.cfg.MPTemplates, s.cfg.OATemplates} {
		for e, id := range m {
			if id == templateID {
				return e
			}
		}
	}
	return ""
}

// Message is an outbox row.
type Message = models.OutboxMessage

// ErrInvalid: the request is not valid.
var ErrInvalid = errors.New("messages: invalid request")

// Accept counts the subscribe-message acceptances a mini-program user just
// gave (wx.requestSubscribeMessage's answer: template id → "accept",
// "reject" or "ban"): one acceptance allows one send. Unknown templates are
// ignored. It returns the user's acceptances left per known template.
func (s *Service) Accept(ctx context.Context, userID int64, app models.AppKind, results map[string]string) (map[string]int, error) {
	if app != models.AppMiniProgram || len(results) == 0 || len(results) > 20 {
		return nil, ErrInvalid
	}
	known := map[string]bool{}
	for _, id := range s.cfg.MPTemplates {
		known[id] = true
	}
	now := s.now().UTC()
	out := map[string]int{}
	for id, res := range results {
		if !known[id] {
			continue
		}
		count := s.store.SubscribeAcceptances
		if res == "accept" {
			count = func(ctx context.Context, userID int64, id string) (int, error) {
				return s.store.AddSubscribeAcceptance(ctx, userID, id, now)
			}
		}
		n, err := count(ctx, userID, id)
		if err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, nil
}

// SetLowBalance sets an account's low-balance threshold.
func (s *Service) SetLowBalance(ctx context.Context, accountID, fen int64) error {
	if fen < 0 || fen > 10000000 {
		return ErrInvalid
	}
	return s.store.SetLowBalanceThreshold(ctx, accountID, fen, s.now().UTC())
}

func yuan(fen int64) string { return units.Fen(fen).Yuan() + "元" }

type event struct {
	event     Event
	key       string
	accountID int64
	data      map[string]string
	link      string
}

// enqueue writes an event's rows for every user bound to its account; the
// unique (event_key, user_id) makes a repeat a no-op.
func (s *Service) enqueue(ctx context.Context, ev event, now time.Time) (int, error) {
	users, err := s.store.MessageRecipients(ctx, ev.accountID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range users {
		tmpl := s.cfg.OATemplates[ev.event]
		if u.AppKind == models.AppMiniProgram {
			tmpl = s.cfg.MPTemplates[ev.event]
		}
		if tmpl == "" {
			continue
		}
		data, _ := json.Marshal(ev.data)
		acct := ev.accountID
		m := Message{Event: ev.event, EventKey: ev.key, UserID: u.UserID, AccountID: &acct, AppKind: u.AppKind, OpenID: u.OpenID, TemplateID: tmpl,
			DataJSON: string(data), State: StatePending, NextAt: now, CreatedAt: now, UpdatedAt: now}
		if ev.link != "" {
			m.Link = &ev.link
		}
		added, err := s.store.EnqueueMessage(ctx, &m)
		if err != nil {
			return n, err
		}
		if added {
			n++
		}
	}
	return n, nil
}

// overlap re-reads the end of the last window: a transaction that
// committed late with an earlier time is still seen (its row is then a
// no-op if already queued).
const overlap = 5 * time.Minute

// ProducePass turns what happened since the last pass into outbox rows.
func (s *Service) ProducePass(ctx context.Context) (int, error) {
	now := s.now().UTC()
	from, err := s.store.OutboxCursor(ctx, "events", now.Add(-time.Hour))
	if err != nil {
		return 0, err
	}
	from = from.Add(-overlap)
	var evs []event
	paid, err := s.store.PaymentsRecorded(ctx, from, now)
	if err != nil {
		return 0, err
	}
	for _, p := range paid {
		evs = append(evs, event{event: PaymentReceived, key: "paid:" + p.OrderNo, accountID: p.AccountID, data: map[string]string{
			"character_string1": p.OrderNo, "amount2": yuan(p.AmountFen), "thing3": "户号 " + p.UserNumber + " 付款已收到",
			"time4": p.PaidAt.In(s.cfg.Location).Format("2006-01-02 15:04")}})
	}
	delivered, err := s.store.CreditsDelivered(ctx, from, now)
	if err != nil {
		return 0, err
	}
	for _, d := range delivered {
		what := map[models.CreditKind]string{models.CreditIoT: "已充值到燃气表，燃气表已确认", models.CreditCard: "已写入燃气卡，请将卡插入燃气表",
			models.CreditBill: "已缴费销账"}[d.Kind]
		credit := d.Unit.Of(d.Amount)
		amount := yuan(d.Amount)
		if v, ok := credit.Volume(); ok {
			amount = v.M3() + "立方米"
		}
		evs = append(evs, event{event: CreditDelivered, key: "delivered:" + d.OrderNo, accountID: d.AccountID, data: map[string]string{
			"character_string1": d.OrderNo, "amount2": amount, "thing3": what, "time4": d.DeliveredAt.In(s.cfg.Location).Format("2006-01-02 15:04")}})
	}
	actions, err := s.store.IoTDeliveriesNeedingAction(ctx, from, now)
	if err != nil {
		return 0, err
	}
	for _, a := range actions {
		text := "燃气表长时间未通讯，请长按燃气表按键5秒"
		if a.State == "rejected" {
			text = "燃气表未接受充值，工作人员将联系您处理"
		}
		evs = append(evs, event{event: NeedsAction, key: "action:" + a.OrderNo + ":" + a.State + ":" + strconv.Itoa(a.Copies), accountID: a.AccountID,
			data: map[string]string{"character_string1": a.OrderNo, "thing3": text, "time4": a.UpdatedAt.In(s.cfg.Location).Format("2006-01-02 15:04")}})
	}
	low, err := s.store.LowBalanceReports(ctx, from, now, s.cfg.LowBalanceFen)
	if err != nil {
		return 0, err
	}
	for _, l := range low {
		day := l.ReportedAt.In(s.cfg.Location).Format("2006-01-02")
		evs = append(evs, event{event: LowBalance, key: "low:" + l.MeterNumber + ":" + day, accountID: l.AccountID, data: map[string]string{
			"character_string1": l.MeterNumber, "amount2": yuan(l.Balance), "thing3": "燃气表余额不足，请及时充值",
			"time4": l.ReportedAt.In(s.cfg.Location).Format("2006-01-02 15:04")}})
	}
	// Arrears: once a month per account, from the 1st (Beijing).
	month := now.In(s.cfg.Location).Format("2006-01")
	if last, err := s.store.OutboxCursor(ctx, "arrears", time.Time{}); err == nil && last.In(s.cfg.Location).Format("2006-01") != month {
		arrears, err := s.store.AccountsInArrears(ctx)
		if err != nil {
			return 0, err
		}
		for _, a := range arrears {
			evs = append(evs, event{event: Arrears, key: "arrears:" + strconv.FormatInt(a.ID, 10) + ":" + month, accountID: a.ID,
				data: map[string]string{"character_string1": a.UserNumber, "amount2": yuan(a.ArrearsFen), "thing3": "您有燃气费待缴，请及时缴纳"}})
		}
	}
	n := 0
	for _, ev := range evs {
		k, err := s.enqueue(ctx, ev, now)
		if err != nil {
			return n, err
		}
		n += k
	}
	if err := s.store.SetOutboxCursor(ctx, "arrears", now); err != nil {
		return n, err
	}
	return n, s.store.SetOutboxCursor(ctx, "events", now)
}

// backoff is the pause before the next try of a message: 1, 2, 4 … 60 min.
func backoff(attempts int) time.Duration {
	return min(time.Minute<<min(attempts, 6), time.Hour)
}

// SendPass sends the messages that are due. Call it on one replica at a
// time (Run takes a lock).
func (s *Service) SendPass(ctx context.Context) (sent int) {
	now := s.now().UTC()
	due, err := s.store.DueMessages(ctx, now, 200)
	if err != nil {
		s.log.ErrorContext(ctx, "messages due", slog.String("err", err.Error()))
		return 0
	}
	for _, m := range due {
		if ctx.Err() != nil {
			break
		}
		if s.send(ctx, m, now) {
			sent++
		}
	}
	return sent
}

func (s *Service) set(ctx context.Context, id int64, a models.MessageAttempt) {
	if err := s.store.RecordMessageAttempt(ctx, id, a, s.now().UTC()); err != nil {
		s.log.WarnContext(ctx, "message update", slog.String("err", err.Error()))
	}
}

func (s *Service) send(ctx context.Context, m Message, now time.Time) bool {
	if now.Sub(m.CreatedAt) > s.cfg.GiveUpAfter {
		s.set(ctx, m.ID, models.MessageAttempt{State: StateGivenUp})
		if err := s.store.AddAlert(ctx, "message_given_up", "", fmt.Sprintf("发给用户 %d 的消息 %s 一天内未能发出：%s",
			m.UserID, m.EventKey, deref(m.LastError)), now); err != nil {
			s.log.WarnContext(ctx, "alert", slog.String("err", err.Error()))
		}
		return false
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(m.DataJSON), &data); err != nil {
		s.set(ctx, m.ID, models.MessageAttempt{State: StateGivenUp, LastError: "bad data"})
		return false
	}
	values := make(map[string]wechat.TemplateValue, len(data))
	for k, v := range data {
		values[k] = wechat.TemplateValue{Value: v}
	}
	var err error
	if m.AppKind == models.AppMiniProgram {
		// One acceptance, one send: take it before sending.
		took, terr := s.store.TakeSubscribeAcceptance(ctx, m.UserID, m.TemplateID, now)
		if terr != nil {
			return false
		}
		if !took {
			s.set(ctx, m.ID, models.MessageAttempt{State: StateQuota, LastError: "no acceptance counted for this template"})
			return false
		}
		err = s.sender.SendSubscribe(ctx, s.cfg.MP, wechat.SubscribeMessage{ToUser: m.OpenID, TemplateID: m.TemplateID, Page: "pages/index/index", Data: values})
		if err != nil && !wechat.IsCode(err, wechat.CodeNoSubscribeCredit) {
			// Not sent: the acceptance is still the user's.
			s.store.ReturnSubscribeAcceptance(ctx, m.UserID, m.TemplateID)
		}
		if wechat.IsCode(err, wechat.CodeNoSubscribeCredit) {
			s.store.ClearSubscribeAcceptances(ctx, m.UserID, m.TemplateID)
		}
	} else {
		link := ""
		if m.Link != nil {
			link = *m.Link
		}
		err = s.sender.SendTemplate(ctx, s.cfg.OA, wechat.TemplateMessage{ToUser: m.OpenID, TemplateID: m.TemplateID, URL: link, Data: values})
	}
	msg := ""
	if err != nil {
		msg = err.Error()
		if len(msg) > 250 {
			msg = msg[:250]
		}
	}
	switch {
	case err == nil:
		s.set(ctx, m.ID, models.MessageAttempt{State: StateSent, SentAt: now, Attempts: m.Attempts + 1})
		return true
	case wechat.IsCode(err, wechat.CodeNoSubscribeCredit, wechat.CodeUserRefused):
		s.set(ctx, m.ID, models.MessageAttempt{State: StateRefused, Attempts: m.Attempts + 1, LastError: msg})
	case wechat.IsCode(err, wechat.CodeQuotaDaily, wechat.CodeTemplateQuota):
		s.set(ctx, m.ID, models.MessageAttempt{State: StateQuota, Attempts: m.Attempts + 1, LastError: msg})
	default:
		s.set(ctx, m.ID, models.MessageAttempt{Attempts: m.Attempts + 1, LastError: msg, NextAt: now.Add(backoff(m.Attempts))})
	}
	return false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Locker hands out named, expiring locks shared by all replicas.
type Locker interface {
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// Run produces and sends every interval, on one replica at a time.
func (s *Service) Run(ctx context.Context, locks Locker, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		unlock, ok, err := locks.Lock(ctx, "messages", 10*interval+time.Minute)
		if err != nil || !ok {
			continue
		}
		if _, err := s.ProducePass(ctx); err != nil {
			s.log.WarnContext(ctx, "messages produce", slog.String("err", err.Error()))
		}
		s.SendPass(ctx)
		unlock()
	}
}

// Recent lists the newest outbox rows, for staff.
func (s *Service) Recent(ctx context.Context, limit int) ([]Message, error) {
	return s.store.RecentMessages(ctx, limit)
}

// OfAccount lists the messages about an account, newest first, for the
// customer record.
func (s *Service) OfAccount(ctx context.Context, accountID int64, limit int) ([]Message, error) {
	return s.store.MessagesOfAccount(ctx, accountID, limit)
}
