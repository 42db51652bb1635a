package bleproxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gaspay/internal/randhex"
)

// The relay is the server's end of box sessions carried by phones. It keeps
// the protocol's promises: a HELLO opens a session only if its counter beats
// the highest one stored durably for the box; sealed frames are accepted
// only in order; the same frame bytes sent again (a phone retrying after a
// lost answer) get the same answer; any other frame out of order is
// refused and changes nothing. What a message means (card rules, deliveries)
// is the Handler's business.
//
// Sessions live in a KV (Redis in production) so that any replica continues
// any session; each is loaded, used and stored under a lock.

// Errors the relay returns.
var (
	// ErrUnknownSession: no such relay session, it expired, or it belongs
	// to someone else (the three look alike).
	ErrUnknownSession = errors.New("bleproxy: no such relay session")
	// ErrSessionBusy: another request of the same session is in progress.
	ErrSessionBusy = errors.New("bleproxy: session busy")
	// ErrSessionReplaced: the box has since opened a newer session, so it
	// forgot this one; nothing of it is relayed any more.
	ErrSessionReplaced = errors.New("bleproxy: the box opened a newer session")
)

// SessionIdle is the spec's BOX_SESSION_IDLE: a box forgets its session, for
// good, once this long has passed by its own timer since the last frame it
// accepted or sent in it.
const SessionIdle = 300 * time.Second

// KV keeps sessions where every replica sees them, each under a lock.
type KV interface {
	// Set stores value for ttl.
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	// Checkout takes key's lock for at most lockTTL and reads key, in one
	// step: value is "" when there is none, ok false when the lock is
	// held. token proves the lock to Checkin and Release.
	Checkout(ctx context.Context, key string, lockTTL time.Duration) (value, token string, ok bool, err error)
	// Checkin stores value for ttl and releases the lock, in one step, if
	// the lock is still the token's.
	Checkin(ctx context.Context, key, token, value string, ttl time.Duration) error
	// Release releases the lock without storing anything.
	Release(ctx context.Context, key, token string) error
}

// HelloLedger stores, durably, the highest HELLO counter accepted per box.
type HelloLedger interface {
	// HelloCounter is the highest counter accepted from the box, 0 if none.
	HelloCounter(ctx context.Context, id BoxID) (uint32, error)
	// AdvanceHello stores counter if it is above the stored one and
	// reports whether it did (a compare-and-set: of two replays racing,
	// one wins).
	AdvanceHello(ctx context.Context, id BoxID, counter uint32) (bool, error)
}

// Info is what a Handler sees of a session. Data is the handler's own
// state, kept with the session; the handler may replace it.
type Info struct {
	ID    string
	Owner string
	BoxID BoxID
	// Hello is the counter of the HELLO that opened the session: the box
	// forgets the session once it accepts a session of a higher one.
	Hello uint32
	Data  json.RawMessage
}

// Handler gives messages their meaning.
type Handler interface {
	// Opened is told of a new session and returns the first messages to
	// send the box (typically READ_CARD).
	Opened(ctx context.Context, s *Info, hello Hello) ([]Message, error)
	// Message handles an authentic message from the box and returns the
	// messages to send back and a view for the phone.
	Message(ctx context.Context, s *Info, m Message) ([]Message, any, error)
	// Refused is told of every frame the relay refused, for the record. s
	// is nil when no session could be found for it.
	Refused(ctx context.Context, s *Info, box BoxID, reason error)
	// Active is told, before the phone gets the answer, that the relay
	// accepted a frame of the session or sealed frames for it: each resets
	// the box's idle timer. An error withholds the answer and changes
	// nothing.
	Active(ctx context.Context, s *Info) error
}

// Relay is the server's end of box sessions.
type Relay struct {
	master  MasterKey
	kv      KV
	ledger  HelloLedger
	handler Handler
	ttl     time.Duration
}

// NewRelay makes a relay; sessions expire after idle ttl.
func NewRelay(master MasterKey, kv KV, ledger HelloLedger, handler Handler, ttl time.Duration) *Relay {
	return &Relay{master: master, kv: kv, ledger: ledger, handler: handler, ttl: ttl}
}

// Answer is what the relay gives the phone: frames to write to the box, in
// order, and the handler's view of what happened.
type Answer struct {
	Frames [][]byte        `json:"frames"`
	View   json.RawMessage `json:"view,omitempty"`
}

// stored is a session as the KV keeps it. Crypto holds K_sess: the value is
// a secret, like the KV's other sessions.
type stored struct {
	Owner   string          `json:"o"`
	Hello   uint32          `json:"h"`
	Crypto  []byte          `json:"c"`
	LastIn  string          `json:"li,omitempty"`
	LastOut *Answer         `json:"lo,omitempty"`
	Data    json.RawMessage `json:"d,omitempty"`
}

func (r *Relay) key(id string) string { return "box:sess:" + id }

// Open verifies a HELLO and opens a session owned by owner (the phone's
// user), returning its id, the SESSION frame and the handler's first
// frames. A replayed HELLO opens nothing.
// Errors: those of ParseFrame and ServerHandshake (ErrBadMAC, ErrReplay…).
func (r *Relay) Open(ctx context.Context, owner string, hello []byte) (string, Answer, error) {
	f, err := ParseFrame(hello)
	if err != nil {
		return "", Answer{}, err
	}
	if f.Type != TypeHello {
		err := fmt.Errorf("%w: %s where HELLO expected", ErrUnexpectedType, f.Type)
		r.handler.Refused(ctx, nil, f.BoxID, err)
		return "", Answer{}, err
	}
	last, err := r.ledger.HelloCounter(ctx, f.BoxID)
	if err != nil {
		return "", Answer{}, err
	}
	nonce, err := NewNonce(nil)
	if err != nil {
		return "", Answer{}, err
	}
	hs, err := ServerHandshake(r.master, f, last, nonce)
	if err != nil {
		r.handler.Refused(ctx, nil, f.BoxID, err)
		return "", Answer{}, err
	}
	// The durable compare-and-set: of two copies of one HELLO, one wins.
	ok, err := r.ledger.AdvanceHello(ctx, f.BoxID, hs.Hello.Counter)
	if err != nil {
		return "", Answer{}, err
	}
	if !ok {
		err := fmt.Errorf("%w: HELLO %d of box %s", ErrReplay, hs.Hello.Counter, f.BoxID)
		r.handler.Refused(ctx, nil, f.BoxID, err)
		return "", Answer{}, err
	}
	info := &Info{ID: randhex.New(16), Owner: owner, BoxID: f.BoxID, Hello: hs.Hello.Counter}
	msgs, err := r.handler.Opened(ctx, info, hs.Hello)
	if err != nil {
		return "", Answer{}, err
	}
	sess := hs.Session
	ans := Answer{Frames: [][]byte{hs.Reply.Marshal()}}
	for _, m := range msgs {
		fr, err := sess.SealMessage(m)
		if err != nil {
			return "", Answer{}, err
		}
		ans.Frames = append(ans.Frames, fr.Marshal())
	}
	st := stored{Owner: owner, Hello: hs.Hello.Counter, Data: info.Data}
	if st.Crypto, err = sess.MarshalBinary(); err != nil {
		return "", Answer{}, err
	}
	if err := r.save(ctx, info.ID, st); err != nil {
		return "", Answer{}, err
	}
	return info.ID, ans, nil
}

// Frame relays one frame from the box. The same bytes as the last frame
// accepted get the same answer again; anything else must be the next sealed
// frame of the session, or it is refused and changes nothing.
// Errors: ErrUnknownSession, ErrSessionBusy, the errors of ParseFrame and
// Session.Open (ErrCounter, ErrBadMAC, ErrWrongBox, ErrUnexpectedType), and
// the handler's.
func (r *Relay) Frame(ctx context.Context, owner, id string, in []byte) (Answer, error) {
	sum := sha256.Sum256(in)
	digest := hex.EncodeToString(sum[:])
	return r.locked(ctx, owner, id, func(st *stored, info *Info, sess *Session) (Answer, error) {
		if st.LastIn == digest && st.LastOut != nil {
			return *st.LastOut, nil
		}
		f, err := ParseFrame(in)
		if err != nil {
			r.handler.Refused(ctx, info, info.BoxID, err)
			return Answer{}, err
		}
		m, err := sess.OpenMessage(f)
		var replies []Message
		var view any
		switch {
		case errors.Is(err, ErrBadBody):
			// Authentic but malformed: consumed, answered with ERROR.
			r.handler.Refused(ctx, info, info.BoxID, err)
			replies = []Message{ErrorBody{Code: CodeMalformed, Message: "malformed body"}}
		case err != nil:
			r.handler.Refused(ctx, info, info.BoxID, err)
			return Answer{}, err
		default:
			if replies, view, err = r.handler.Message(ctx, info, m); err != nil {
				return Answer{}, err
			}
		}
		ans, err := seal(sess, replies, view)
		if err != nil {
			return Answer{}, err
		}
		if err := r.handler.Active(ctx, info); err != nil {
			return Answer{}, err
		}
		st.LastIn, st.LastOut = digest, &ans
		return ans, nil
	})
}

// Command runs fn, the server's own initiative in a session (reading the
// card again, writing it), under the session's lock, and seals the messages
// it returns.
// Errors: ErrUnknownSession, ErrSessionBusy, fn's.
func (r *Relay) Command(ctx context.Context, owner, id string, fn func(*Info) ([]Message, any, error)) (Answer, error) {
	return r.locked(ctx, owner, id, func(st *stored, info *Info, sess *Session) (Answer, error) {
		msgs, view, err := fn(info)
		if err != nil {
			return Answer{}, err
		}
		ans, err := seal(sess, msgs, view)
		if err != nil {
			return Answer{}, err
		}
		if len(ans.Frames) > 0 {
			if err := r.handler.Active(ctx, info); err != nil {
				return Answer{}, err
			}
		}
		return ans, nil
	})
}

func seal(sess *Session, msgs []Message, view any) (Answer, error) {
	ans := Answer{Frames: [][]byte{}}
	for _, m := range msgs {
		f, err := sess.SealMessage(m)
		if err != nil {
			return Answer{}, err
		}
		ans.Frames = append(ans.Frames, f.Marshal())
	}
	if view != nil {
		v, err := json.Marshal(view)
		if err != nil {
			return Answer{}, err
		}
		ans.View = v
	}
	return ans, nil
}

// locked loads a session under its lock, runs fn and stores what fn left,
// only if fn succeeded: a refused frame changes nothing. Checking out and
// in are one round trip each.
func (r *Relay) locked(ctx context.Context, owner, id string, fn func(*stored, *Info, *Session) (Answer, error)) (Answer, error) {
	if len(id) != 32 {
		return Answer{}, ErrUnknownSession
	}
	key := r.key(id)
	raw, token, ok, err := r.kv.Checkout(ctx, key, 10*time.Second)
	if err != nil {
		return Answer{}, err
	}
	if !ok {
		return Answer{}, ErrSessionBusy
	}
	stored, ans, err := r.use(ctx, owner, id, raw, fn)
	if err != nil {
		// The lock goes even if the caller's context has ended.
		r.kv.Release(context.WithoutCancel(ctx), key, token)
		return Answer{}, err
	}
	return ans, r.kv.Checkin(ctx, key, token, stored, r.ttl)
}

// use decodes a session, runs fn on it and encodes what fn left. A session
// whose box has since accepted a newer HELLO is refused: the box forgot it,
// and a frame of it that the phone held back must reach nothing.
func (r *Relay) use(ctx context.Context, owner, id, raw string, fn func(*stored, *Info, *Session) (Answer, error)) (string, Answer, error) {
	if raw == "" {
		return "", Answer{}, ErrUnknownSession
	}
	var st stored
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return "", Answer{}, fmt.Errorf("bleproxy: session %s: %w", id, err)
	}
	if st.Owner != owner {
		return "", Answer{}, ErrUnknownSession
	}
	var sess Session
	if err := sess.UnmarshalBinary(st.Crypto); err != nil {
		return "", Answer{}, err
	}
	info := &Info{ID: id, Owner: owner, BoxID: sess.BoxID, Hello: st.Hello, Data: st.Data}
	newest, err := r.ledger.HelloCounter(ctx, sess.BoxID)
	if err != nil {
		return "", Answer{}, err
	}
	if newest != st.Hello {
		err := fmt.Errorf("%w: session of HELLO %d, box now at %d", ErrSessionReplaced, st.Hello, newest)
		r.handler.Refused(ctx, info, info.BoxID, err)
		return "", Answer{}, err
	}
	ans, err := fn(&st, info, &sess)
	if err != nil {
		return "", Answer{}, err
	}
	st.Data = info.Data
	if st.Crypto, err = sess.MarshalBinary(); err != nil {
		return "", Answer{}, err
	}
	b, err := json.Marshal(st)
	return string(b), ans, err
}

func (r *Relay) save(ctx context.Context, id string, st stored) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return r.kv.Set(ctx, r.key(id), string(b), r.ttl)
}
