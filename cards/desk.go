package cards

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"gaspay/bleproxy"
	"gaspay/models"
)

// Errors of the phone's requests; test them with errors.Is.
var (
	// ErrReadFirst: write only right after a read of the card in this
	// session.
	ErrReadFirst = errors.New("cards: read the card first")
	// ErrNotForCard: the order is not a paid, undelivered purchase for the
	// card just read.
	ErrNotForCard = errors.New("cards: no purchase of this order waits for this card")
	// ErrCardPending: the card carries credit the meter has not taken;
	// writing over it would destroy that gas.
	ErrCardPending = errors.New("cards: insert the card into the meter first")
	// ErrBoxBlocked: staff blocked this box.
	ErrBoxBlocked = errors.New("cards: box blocked")
)

// Desk is the card side of the box relay: a bleproxy.Handler, and the
// server's commands (read, write) in a session.
type Desk struct {
	master bleproxy.MasterKey
	store  *models.Store
	rec    *Recorder
	log    *slog.Logger
	now    func() time.Time
	relay  *bleproxy.Relay
}

// NewDesk makes the desk and its relay, with sessions in kv for ttl.
func NewDesk(master bleproxy.MasterKey, store *models.Store, kv bleproxy.KV, rec *Recorder, ttl time.Duration, log *slog.Logger) *Desk {
	d := &Desk{master: master, store: store, rec: rec, log: log, now: time.Now}
	d.relay = bleproxy.NewRelay(master, kv, ledger{d}, d, ttl)
	return d
}

// SetClock replaces the desk's clock (tests move time past a box's idle
// timeout).
func (d *Desk) SetClock(now func() time.Time) { d.now = now }

// Recorder is the desk's record.
func (d *Desk) Recorder() *Recorder { return d.rec }

// sessionData is the desk's state in a relay session.
type sessionData struct {
	UserID int64 `json:"u"`
	// Kiosk is the kiosk whose built-in box this is: there the card is
	// the customer, and no binding is asked for.
	Kiosk string      `json:"k,omitempty"`
	Card  *readState  `json:"card,omitempty"`
	Write *writeState `json:"write,omitempty"`
	// Live maps the writes issued in this session and not yet answered
	// (hex write_id) to the image each writes: the box may still execute
	// them, and may still answer them, even after the phone moved on.
	Live map[string]string `json:"live,omitempty"`
	// Reads are the seal times of the READ_CARDs not yet answered, oldest
	// first. A CARD answers the oldest, so the card was read no earlier
	// than that: a phone may hold a CARD back and relay it later, and a
	// stale read must not prove anything about a write issued after it.
	Reads []time.Time `json:"reads,omitempty"`
}

// maxReads bounds the unanswered reads kept; past it the newest are
// dropped, which only makes a later CARD look older, never newer.
const maxReads = 16

// readSealed records a READ_CARD sealed now.
func (sd *sessionData) readSealed(now time.Time) {
	if len(sd.Reads) < maxReads {
		sd.Reads = append(sd.Reads, now)
	}
}

// readAnswered is when the card in a CARD frame was asked for: the seal
// time of the oldest unanswered READ_CARD, or the zero time when none is
// known (which proves nothing).
func (sd *sessionData) readAnswered() time.Time {
	if len(sd.Reads) == 0 {
		return time.Time{}
	}
	at := sd.Reads[0]
	sd.Reads = sd.Reads[1:]
	return at
}

// readState is the card just read in the session.
type readState struct {
	Serial    string `json:"serial"`
	AccountID int64  `json:"account"`
	Image     string `json:"image"` // hex of the 64 bytes
}

// writeState is a WRITE_CARD sent and not yet answered.
type writeState struct {
	WriteID  string `json:"id"`
	OrderNo  string `json:"order"`
	CreditID int64  `json:"credit"`
	Seq      int    `json:"seq"`
	New      string `json:"new"` // hex of the image written
}

func owner(userID int64) string { return "user:" + strconv.FormatInt(userID, 10) }

// kioskOwner owns the sessions of a kiosk's built-in box.
func kioskOwner(kioskID string) string { return kioskPrefix + kioskID }

const kioskPrefix = "kiosk:"

func load(s *bleproxy.Info) (sessionData, error) {
	var d sessionData
	if len(s.Data) == 0 {
		return d, nil
	}
	return d, json.Unmarshal(s.Data, &d)
}

func (sd sessionData) store(s *bleproxy.Info) error {
	b, err := json.Marshal(sd)
	s.Data = b
	return err
}

// Open opens a box session for a user from the box's HELLO.
func (d *Desk) Open(ctx context.Context, userID int64, hello []byte) (string, bleproxy.Answer, error) {
	return d.relay.Open(ctx, owner(userID), hello)
}

// Frame relays a frame from the box.
func (d *Desk) Frame(ctx context.Context, userID int64, sessionID string, frame []byte) (bleproxy.Answer, error) {
	return d.relay.Frame(ctx, owner(userID), sessionID, frame)
}

// Read asks the box to read its card again (the customer inserted it, or
// wants to see it after a write).
func (d *Desk) Read(ctx context.Context, userID int64, sessionID string) (bleproxy.Answer, error) {
	return d.read(ctx, owner(userID), sessionID)
}

func (d *Desk) read(ctx context.Context, own, sessionID string) (bleproxy.Answer, error) {
	return d.relay.Command(ctx, own, sessionID, func(s *bleproxy.Info) ([]bleproxy.Message, any, error) {
		sd, err := load(s)
		if err != nil {
			return nil, nil, err
		}
		sd.Card, sd.Write = nil, nil
		sd.readSealed(d.now().UTC())
		return []bleproxy.Message{bleproxy.ReadCardBody{}}, nil, sd.store(s)
	})
}

// event builds a record line of a session.
func (d *Desk) event(s *bleproxy.Info, userID int64, kind, detail string) models.BoxEvent {
	ev := models.BoxEvent{BoxID: strings.ToUpper(s.BoxID.String()), SessionID: s.ID, Kind: kind, Detail: detail, CreatedAt: d.now().UTC()}
	if userID != 0 {
		ev.UserID = &userID
	}
	return ev
}

// Opened implements bleproxy.Handler: the session is recorded and the card
// read.
func (d *Desk) Opened(ctx context.Context, s *bleproxy.Info, hello bleproxy.Hello) ([]bleproxy.Message, error) {
	if k, ok := strings.CutPrefix(s.Owner, kioskPrefix); ok {
		d.rec.Add(ctx, d.event(s, 0, "session_opened", fmt.Sprintf("kiosk %s hello %d firmware %04x", k, hello.Counter, hello.Firmware)))
		return []bleproxy.Message{bleproxy.ReadCardBody{}}, sessionData{Kiosk: k, Reads: []time.Time{d.now().UTC()}}.store(s)
	}
	uid, err := strconv.ParseInt(strings.TrimPrefix(s.Owner, "user:"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("cards: session owner %q", s.Owner)
	}
	d.rec.Add(ctx, d.event(s, uid, "session_opened", fmt.Sprintf("hello %d firmware %04x", hello.Counter, hello.Firmware)))
	return []bleproxy.Message{bleproxy.ReadCardBody{}}, sessionData{UserID: uid, Reads: []time.Time{d.now().UTC()}}.store(s)
}

// Refused implements bleproxy.Handler: every refusal is recorded.
func (d *Desk) Refused(ctx context.Context, s *bleproxy.Info, box bleproxy.BoxID, reason error) {
	ev := models.BoxEvent{BoxID: strings.ToUpper(box.String()), Kind: "frame_refused", Detail: reason.Error(), CreatedAt: d.now().UTC()}
	if s != nil {
		ev.SessionID = s.ID
		if sd, err := load(s); err == nil && sd.UserID != 0 {
			ev.UserID = &sd.UserID
		}
	} else {
		ev.Kind = "hello_refused"
	}
	d.rec.Add(ctx, ev)
}

// Active implements bleproxy.Handler: while a write issued in the session
// is unanswered, every frame the relay seals or accepts in it restarts the
// box's idle timer, so the write stays live (its purchase in doubt) for
// another BOX_SESSION_IDLE. That is recorded durably before the phone gets
// the frames.
func (d *Desk) Active(ctx context.Context, s *bleproxy.Info) error {
	sd, err := load(s)
	if err != nil || len(sd.Live) == 0 {
		return err
	}
	return d.store.TouchCardWrites(ctx, s.ID, d.now().UTC())
}

// Message implements bleproxy.Handler.
func (d *Desk) Message(ctx context.Context, s *bleproxy.Info, m bleproxy.Message) ([]bleproxy.Message, any, error) {
	sd, err := load(s)
	if err != nil {
		return nil, nil, err
	}
	var view any
	switch m := m.(type) {
	case bleproxy.CardBody:
		view, err = d.cardRead(ctx, s, &sd, m)
	case bleproxy.WriteResultBody:
		view, err = d.writeResult(ctx, s, &sd, m)
	case bleproxy.ErrorBody:
		d.rec.Add(ctx, d.event(s, sd.UserID, "box_error", m.Error()))
		view = CardView{Event: "box_error", Refusal: &Reason{"box_error", "The recharge box reported an error: " + m.Message}}
	default:
		d.rec.Add(ctx, d.event(s, sd.UserID, "frame_refused", "unexpected "+m.Type().String()))
		view = CardView{Event: "unexpected", Refusal: &Reason{"unexpected_frame", "The box sent something not asked for."}}
	}
	if err != nil {
		return nil, nil, err
	}
	return nil, view, sd.store(s)
}

// cardRead applies the card rules (rules.go) to a card read, records what
// it proves (ledger.go) and says what the customer may do with it.
func (d *Desk) cardRead(ctx context.Context, s *bleproxy.Info, sd *sessionData, body bleproxy.CardBody) (*CardView, error) {
	sd.Card, sd.Write = nil, nil
	readAt := sd.readAnswered()
	if v, kind, detail := noCard(body.Status); v != nil {
		d.rec.Add(ctx, d.event(s, sd.UserID, kind, detail))
		return v, nil
	}
	serial := serialText(bleproxy.SerialOf(body.Image))
	reject := func(code, msg string) (*CardView, error) {
		ev := d.event(s, sd.UserID, "card_refused", code)
		ev.CardSerial = &serial
		d.rec.Add(ctx, ev)
		return refused(code, msg), nil
	}
	img, _, err := bleproxy.OpenCardImage(d.master, body.Image)
	if err != nil {
		ev := d.event(s, sd.UserID, "card_refused", "mac: "+err.Error())
		ev.CardSerial = &serial
		d.rec.Add(ctx, ev)
		return refused("card_invalid", "This card could not be verified: it is damaged or not one of ours. Visit the service hall."), nil
	}
	cr, err := d.store.CardForRead(ctx, serial, sd.UserID)
	unknown := errors.Is(err, models.ErrNotFound)
	if err != nil && !unknown {
		return nil, err
	}
	r := judgeRead(img, cr, unknown, sd.Kiosk != "")
	if r.refusal != nil {
		return reject(r.refusal.Code, r.refusal.Message)
	}
	out := readNothing
	var gone models.WrittenPurchase
	if r.settle {
		if out, gone, err = d.settleRead(ctx, cr, r.seq, int64(img.Credit), r.delivered, readAt); err != nil {
			return nil, err
		}
	}
	switch out {
	case readDelivered:
		ev := d.event(s, sd.UserID, "delivered", fmt.Sprintf("purchase %d found on the card", r.seq))
		ev.CardSerial, ev.OrderNo = &serial, cr.OrderNo
		d.rec.Add(ctx, ev)
	case readAdopted:
		ev := d.event(s, sd.UserID, "card_sequence", fmt.Sprintf("adopted purchase sequence %d", r.seq))
		ev.CardSerial = &serial
		d.rec.Add(ctx, ev)
	case readRefundedOnCard:
		ev := d.event(s, sd.UserID, "refunded_on_card", fmt.Sprintf("purchase %d of %s order found on the card", r.seq, gone.OrderStatus))
		ev.CardSerial, ev.OrderNo = &serial, &gone.OrderNo
		d.rec.Add(ctx, ev)
	case readInDoubt:
		ev := d.event(s, sd.UserID, "write_in_doubt", fmt.Sprintf("card at purchase %d; a write of the next may still be executed", r.seq))
		ev.CardSerial, ev.OrderNo = &serial, cr.OrderNo
		d.rec.Add(ctx, ev)
	}
	ev := d.event(s, sd.UserID, "card_read", fmt.Sprintf("purchase %d %s", r.seq, img.State))
	ev.CardSerial = &serial
	d.rec.Add(ctx, ev)
	sd.Card = &readState{Serial: serial, AccountID: cr.AccountID, Image: hex.EncodeToString(body.Image[:])}
	return cardView(img, cr, serial, r, out, gone), nil
}

// Write prepares the card write that delivers a paid purchase to the card
// just read: a compare-and-swap against that image, carrying the account's
// last written sequence + 1.
// Errors: ErrReadFirst, ErrNotForCard, ErrCardPending, and the relay's.
func (d *Desk) Write(ctx context.Context, userID int64, sessionID, orderNo string) (bleproxy.Answer, error) {
	return d.write(ctx, owner(userID), sessionID, orderNo)
}

func (d *Desk) write(ctx context.Context, own, sessionID, orderNo string) (bleproxy.Answer, error) {
	return d.relay.Command(ctx, own, sessionID, func(s *bleproxy.Info) ([]bleproxy.Message, any, error) {
		sd, err := load(s)
		if err != nil {
			return nil, nil, err
		}
		if sd.Card == nil || sd.Write != nil {
			return nil, nil, ErrReadFirst
		}
		var raw [bleproxy.CardImageSize]byte
		if b, err := hex.DecodeString(sd.Card.Image); err != nil || len(b) != len(raw) {
			return nil, nil, ErrReadFirst
		} else {
			copy(raw[:], b)
		}
		img, kcard, err := bleproxy.OpenCardImage(d.master, raw)
		if err != nil {
			return nil, nil, err
		}
		if img.State != bleproxy.CardLoaded {
			return nil, nil, ErrCardPending
		}
		_, unit := cardUnit(img.CardType)
		seq := int(img.Seq) + 1
		var id bleproxy.WriteID
		if _, err := rand.Read(id[:]); err != nil {
			return nil, nil, err
		}
		var credit models.Credit
		err = d.store.Tx(ctx, func(tx *models.Store) error {
			o, err := tx.Order(ctx, orderNo)
			if errors.Is(err, models.ErrNotFound) || (err == nil && o.AccountID != sd.Card.AccountID) {
				return ErrNotForCard
			}
			if err != nil {
				return err
			}
			if _, err := tx.LockAccount(ctx, o.AccountID); err != nil {
				return err
			}
			credit, err = tx.CreditOf(ctx, o.ID)
			if errors.Is(err, models.ErrNotFound) {
				return ErrNotForCard
			}
			if err != nil {
				return err
			}
			if o.Status != models.OrderPaid || credit.Status != models.CreditPending || credit.Kind != models.CreditCard ||
				credit.Quantity().Unit() != string(unit) || credit.Quantity().Count() <= 0 || credit.Quantity().Count() > 1<<31 {
				return ErrNotForCard
			}
			card, err := tx.LockCard(ctx, sd.Card.Serial)
			if err != nil {
				return err
			}
			if card.LastWrittenSeq == nil || *card.LastWrittenSeq != int(img.Seq) || card.Status != models.CardCurrent {
				return ErrReadFirst
			}
			now := d.now().UTC()
			if _, err := tx.UpdateCredit(ctx, credit.ID, func(c *models.Credit) error { return c.Attempt(&seq, now) }); err != nil {
				return errors.Join(err, ErrNotForCard)
			}
			// From here the purchase is in doubt: the phone may hold the
			// frame back and hand it to this box while the session lives.
			return tx.InsertCardWrite(ctx, &models.CardWrite{WriteID: id.String(), CreditID: credit.ID, AccountID: o.AccountID,
				BoxID: strings.ToUpper(s.BoxID.String()), SessionID: s.ID, HelloCounter: int64(s.Hello), Seq: seq,
				Amount: credit.Quantity().Count(), IssuedAt: now, ActiveAt: now})
		})
		if err != nil {
			return nil, nil, err
		}
		next, err := img.NextPurchase(uint32(credit.Quantity().Count()))
		if err != nil {
			return nil, nil, err
		}
		newRaw, err := next.Seal(kcard)
		if err != nil {
			return nil, nil, err
		}
		if sd.Live == nil {
			sd.Live = map[string]string{}
		}
		sd.Live[id.String()] = hex.EncodeToString(newRaw[:])
		sd.Write = &writeState{WriteID: id.String(), OrderNo: orderNo, CreditID: credit.ID, Seq: seq, New: hex.EncodeToString(newRaw[:])}
		ev := d.event(s, sd.UserID, "write_issued", fmt.Sprintf("purchase %d, %d %s", seq, credit.Quantity().Count(), credit.Quantity().Unit()))
		ev.CardSerial, ev.OrderNo = &sd.Card.Serial, &orderNo
		d.rec.Add(ctx, ev)
		view := CardView{Event: "write_issued", Pending: &PendingView{OrderNo: orderNo, Amount: credit.Quantity().Count(), Unit: credit.Quantity().Unit(), WriteAvailable: true}}
		return []bleproxy.Message{bleproxy.WriteCardBody{WriteID: id, Expected: raw, New: newRaw}}, view, sd.store(s)
	})
}

// writeResult takes the box's report of a write issued in this session,
// even after the phone moved on to another read. Only a verified report
// that the card now holds exactly the image written delivers; anything
// else leaves the purchase paid and pending, for the next read to decide.
// Either way the write can no longer be executed: it is no longer live.
func (d *Desk) writeResult(ctx context.Context, s *bleproxy.Info, sd *sessionData, r bleproxy.WriteResultBody) (*CardView, error) {
	id := r.WriteID.String()
	written, ok := sd.Live[id]
	if !ok {
		d.rec.Add(ctx, d.event(s, sd.UserID, "frame_refused", "write result for no write issued"))
		return &CardView{Event: "write_result", Refusal: &Reason{"unexpected_write_result", "This write result answers no write; read the card again."}}, nil
	}
	delete(sd.Live, id)
	if sd.Write != nil && sd.Write.WriteID == id {
		sd.Write, sd.Card = nil, nil
	}
	w, err := d.store.WriteByID(ctx, id)
	if err != nil {
		return nil, err
	}
	now := d.now().UTC()
	status := r.Status
	if status == bleproxy.WriteVerified && hex.EncodeToString(r.ImageAfter[:]) != written {
		status = bleproxy.WriteReadBackDiffers
	}
	if status != bleproxy.WriteVerified {
		if err := d.store.ResolveCardWrite(ctx, id, models.WriteResultReported, now); err != nil {
			return nil, err
		}
		ev := d.event(s, sd.UserID, "write_failed", status.String())
		ev.OrderNo = &w.OrderNo
		d.rec.Add(ctx, ev)
		return &CardView{Event: "write_result", WriteStatus: status.String(), Pending: &PendingView{OrderNo: w.OrderNo},
			Reason: &Reason{"write_incomplete", "Writing the card did not complete. Your purchase is kept: keep the card in the box and read it again to write it, at no charge."}}, nil
	}
	serial := serialText(bleproxy.SerialOf(r.ImageAfter))
	refunded := false
	err = d.store.Tx(ctx, func(tx *models.Store) error {
		refunded = false
		if _, err := tx.LockAccount(ctx, w.AccountID); err != nil {
			return err
		}
		c, err := tx.CreditByID(ctx, w.CreditID)
		if err != nil {
			return err
		}
		card, err := tx.LockCard(ctx, serial)
		if err != nil {
			return err
		}
		if card.LastWrittenSeq == nil || *card.LastWrittenSeq < w.Seq {
			if _, err := tx.SetCardSeq(ctx, card.ID, card.LastWrittenSeq, w.Seq, now); err != nil {
				return err
			}
		}
		switch c.Status {
		case models.CreditCancelled:
			refunded = true
			return d.refundedOnCard(ctx, tx, w, "the box's write result", now)
		case models.CreditPending:
			if err := deliver(ctx, tx, c.ID, now); err != nil {
				return err
			}
		}
		if err := tx.ResolveCardWrite(ctx, id, models.WriteResultReported, now); err != nil {
			return err
		}
		// Other writes of the purchase compare against the card before it:
		// none of them can match the card any more.
		return tx.ResolveCardWrites(ctx, c.ID, models.WriteResultSuperseded, now)
	})
	if err != nil {
		return nil, err
	}
	if refunded {
		ev := d.event(s, sd.UserID, "refunded_written", fmt.Sprintf("purchase %d of %s order written and verified", w.Seq, w.OrderStatus))
		ev.OrderNo, ev.CardSerial = &w.OrderNo, &serial
		d.rec.Add(ctx, ev)
		return &CardView{Event: "write_result", WriteStatus: status.String(), CreditState: "pending",
			Reason: &Reason{"purchase_refunded", fmt.Sprintf("订单 %s 已退款，但这次购气已写入卡中，请持卡到营业厅处理。", w.OrderNo)}}, nil
	}
	ev := d.event(s, sd.UserID, "delivered", fmt.Sprintf("purchase %d written and verified", w.Seq))
	ev.OrderNo, ev.CardSerial = &w.OrderNo, &serial
	d.rec.Add(ctx, ev)
	return &CardView{Event: "write_result", WriteStatus: status.String(), Delivered: &DeliveredView{OrderNo: w.OrderNo, Seq: w.Seq},
		CreditState: "pending", Reason: &Reason{"insert_into_meter", "The card is written: insert it into the gas meter to load the gas."}}, nil
}
