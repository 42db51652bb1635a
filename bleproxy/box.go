package bleproxy

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// Card is a physical IC card: 64 bytes of memory. The simulator holds it
// and moves it between a Box and a Meter; a Box writes its Image while the
// card is inserted, so leave it alone until it comes out.
type Card struct {
	Image [CardImageSize]byte // the card's memory
}

// Fault is a failure to inject into the Box's next card operation, to
// reproduce what happens in the field: customers pull cards, contacts are
// dirty, phones lose the connection.
type Fault uint8

// Faults. Each is consumed by the next operation it applies to, whatever
// that operation's outcome (so a write fault still pending is used up by a
// WRITE_CARD that finds no card), and stays pending through operations it
// does not apply to.
const (
	FaultNone Fault = iota
	// FaultUnreadable: the card cannot be read. READ_CARD answers status 2;
	// WRITE_CARD answers WriteFailed with a zero image, nothing written.
	FaultUnreadable
	// FaultPull: the customer pulls the card before the box touches it.
	// The card leaves the box unchanged; READ_CARD answers status 1,
	// WRITE_CARD answers WriteNoCard.
	FaultPull
	// FaultPullAfterWrite (WRITE_CARD only): the new image is written, then
	// the card is pulled before the read-back. The box answers WriteNoCard
	// although the card was written: the server must not assume either way.
	FaultPullAfterWrite
	// FaultWriteFails (WRITE_CARD only): the write fails, the card keeps its
	// image; WriteFailed with the image read after.
	FaultWriteFails
	// FaultTornWrite (WRITE_CARD only): the write stops half way: the card
	// holds the first 32 bytes of the new image and the last 32 of the old,
	// so its MAC no longer verifies; WriteFailed with that torn image.
	FaultTornWrite
	// FaultReadBackDiffers (WRITE_CARD only): the card is written correctly
	// but the read-back glitches (one bit flipped); WriteReadBackDiffers.
	FaultReadBackDiffers
	// FaultLoseReply: the operation completes and its reply is sealed, so
	// the box's counter moves on, but the reply never reaches the server;
	// Handle returns ErrReplyLost. The server sees no result, and a gap if
	// the box sends again in this session.
	FaultLoseReply
)

func (f Fault) appliesTo(t Type) bool {
	switch f {
	case FaultUnreadable, FaultPull, FaultLoseReply:
		return t == TypeReadCard || t == TypeWriteCard
	case FaultPullAfterWrite, FaultWriteFails, FaultTornWrite, FaultReadBackDiffers:
		return t == TypeWriteCard
	}
	return false
}

// BoxConfig is what a Box remembers across power cycles, plus its source
// of randomness.
type BoxConfig struct {
	// Firmware is the version the box reports in HELLO.
	Firmware uint16
	// HelloCounter is the last HELLO counter the box sent; its next HELLO
	// carries HelloCounter+1.
	HelloCounter uint32
	// Rand supplies HELLO nonces; nil means crypto/rand. Tests pass a fixed
	// reader to make the box deterministic.
	Rand io.Reader
	// Now is the box's own clock, which times a session's idleness; nil
	// means time.Now.
	Now func() time.Time
}

// Box models the recharge box's side of the protocol, for the simulator and
// tests. It holds its id, K_box, its persistent HELLO counter, at most one
// card, and the current session. It is safe for concurrent use.
//
// It keeps the spec's session lifetime: one session at a time, forgotten
// for good at the next HELLO, at power loss (PowerCycle) and once
// SessionIdle has passed on its clock since the last frame it accepted or
// sent in it. A frame of a forgotten session is never executed.
//
// On a frame it cannot authenticate (wrong box, wrong type or direction,
// unexpected counter, bad tag) it returns an error and no reply, and its
// session is unchanged: answering would let anyone who can reach the box
// make it spend counters. On an authentic frame with a malformed body it
// answers an ERROR with CodeMalformed.
type Box struct {
	mu       sync.Mutex
	id       BoxID
	key      Key
	firmware uint16
	counter  uint32
	rand     io.Reader

	card *Card
	// nonce is the nonce of the HELLO awaiting its SESSION.
	nonce    Nonce
	awaiting bool
	sess     Session
	hasSess  bool
	last     time.Time // the session's last frame accepted or sent
	now      func() time.Time
	fault    Fault
}

// NewBox returns a box with the given id and K_box (DeriveBoxKey of the
// server's master key, as provisioned at manufacture).
func NewBox(id BoxID, kbox Key, cfg BoxConfig) *Box {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Box{id: id, key: kbox, firmware: cfg.Firmware, counter: cfg.HelloCounter, rand: cfg.Rand, now: now}
}

// PowerCycle is the box losing power: it forgets its session and any
// handshake in progress; the HELLO counter and the card stay.
func (b *Box) PowerCycle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sess, b.hasSess, b.awaiting = Session{}, false, false
}

// ID returns the box id.
func (b *Box) ID() BoxID { return b.id }

// HelloCounter returns the last HELLO counter the box sent, the value to
// persist across power cycles.
func (b *Box) HelloCounter() uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counter
}

// InsertCard puts c into the box and returns the card that was in it, if
// any (nil c just removes it).
func (b *Box) InsertCard(c *Card) (previous *Card) {
	b.mu.Lock()
	defer b.mu.Unlock()
	previous, b.card = b.card, c
	return previous
}

// RemoveCard takes the card out of the box and returns it (nil if empty).
func (b *Box) RemoveCard() *Card { return b.InsertCard(nil) }

// Card returns the card in the box, nil if none.
func (b *Box) Card() *Card {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.card
}

// InjectFault arms f for the next card operation it applies to, replacing
// any fault still armed. FaultNone disarms.
func (b *Box) InjectFault(f Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fault = f
}

// Session returns the box's current session, if any. It includes K_sess;
// it is here for tests.
func (b *Box) Session() (Session, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sess, b.hasSess
}

// Hello starts a new handshake with a nonce from the box's randomness: it
// drops any current session, advances the persistent counter and returns
// the HELLO frame.
func (b *Box) Hello() (Frame, error) {
	n, err := NewNonce(b.rand)
	if err != nil {
		return Frame{}, fmt.Errorf("box %s: %w", b.id, err)
	}
	return b.HelloWithNonce(n)
}

// HelloWithNonce is Hello with a given nonce, for reproducing test vectors.
// A real box never reuses a nonce; neither should a simulator.
func (b *Box) HelloWithNonce(n Nonce) (Frame, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.counter == math.MaxUint32 {
		return Frame{}, fmt.Errorf("box %s: HELLO %w", b.id, ErrCounterExhausted)
	}
	b.counter++
	b.sess, b.hasSess = Session{}, false
	b.nonce, b.awaiting = n, true
	return BuildHello(b.key, b.id, b.counter, n, b.firmware), nil
}

// HandleSession completes the handshake with the server's SESSION frame.
// Only one SESSION is accepted per HELLO, and only one that verifies
// against that HELLO's nonce; on error the box still awaits its SESSION.
func (b *Box) HandleSession(f Frame) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.awaiting {
		return fmt.Errorf("box %s: %w: SESSION without an outstanding HELLO", b.id, ErrUnexpectedType)
	}
	s, err := VerifySession(b.key, b.id, b.nonce, f)
	if err != nil {
		return fmt.Errorf("box %s: %w", b.id, err)
	}
	b.sess, b.hasSess = s, true
	b.awaiting = false
	b.last = b.now()
	return nil
}

// Handle processes a sealed frame from the server and returns the box's
// reply: CARD for READ_CARD, WRITE_RESULT for WRITE_CARD, ERROR for an
// authentic frame with a malformed body. An authentic ERROR from the server
// is returned as the error (an ErrorBody) with no reply. Frames that do not
// authenticate return an error and change nothing (see Box).
func (b *Box) Handle(f Frame) (Frame, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hasSess && b.now().Sub(b.last) >= SessionIdle {
		b.sess, b.hasSess = Session{}, false
	}
	if !b.hasSess {
		return Frame{}, fmt.Errorf("box %s: %w", b.id, ErrNoSession)
	}
	msg, err := b.sess.OpenMessage(f)
	if err == nil || errors.Is(err, ErrBadBody) {
		b.last = b.now()
	}
	if errors.Is(err, ErrBadBody) {
		return b.reply(ErrorBody{Code: CodeMalformed, Message: "malformed " + f.Type.String() + " body"}, false)
	}
	if err != nil {
		return Frame{}, fmt.Errorf("box %s: %w", b.id, err)
	}
	switch m := msg.(type) {
	case ReadCardBody:
		fault := b.takeFault(TypeReadCard)
		return b.reply(b.readCard(fault), fault == FaultLoseReply)
	case WriteCardBody:
		fault := b.takeFault(TypeWriteCard)
		return b.reply(b.writeCard(m, fault), fault == FaultLoseReply)
	case ErrorBody:
		return Frame{}, m
	}
	// Unreachable: Session.Open admits only server→box sealed types.
	return b.reply(ErrorBody{Code: CodeUnexpected, Message: "unexpected " + f.Type.String()}, false)
}

func (b *Box) takeFault(t Type) Fault {
	f := b.fault
	if !f.appliesTo(t) {
		return FaultNone
	}
	b.fault = FaultNone
	return f
}

func (b *Box) reply(m Message, lost bool) (Frame, error) {
	f, err := b.sess.SealMessage(m)
	if err != nil {
		return Frame{}, fmt.Errorf("box %s: %w", b.id, err)
	}
	if lost {
		return Frame{}, fmt.Errorf("box %s: %s %d: %w", b.id, f.Type, f.Counter, ErrReplyLost)
	}
	return f, nil
}

func (b *Box) readCard(fault Fault) CardBody {
	switch {
	case b.card == nil:
		return CardBody{Status: CardAbsent}
	case fault == FaultPull:
		b.card = nil
		return CardBody{Status: CardAbsent}
	case fault == FaultUnreadable:
		return CardBody{Status: CardUnreadable}
	}
	return CardBody{Status: CardPresent, Image: b.card.Image}
}

// writeCard is the compare-and-swap of WRITE_CARD: write only over exactly
// the expected image, then read back.
func (b *Box) writeCard(w WriteCardBody, fault Fault) WriteResultBody {
	r := WriteResultBody{WriteID: w.WriteID}
	c := b.card
	switch {
	case c == nil:
		r.Status = WriteNoCard
		return r
	case fault == FaultPull:
		b.card = nil
		r.Status = WriteNoCard
		return r
	case fault == FaultUnreadable:
		r.Status = WriteFailed
		return r
	}
	if c.Image != w.Expected {
		r.Status, r.ImageAfter = WriteMismatch, c.Image
		return r
	}
	switch fault {
	case FaultWriteFails:
		r.Status, r.ImageAfter = WriteFailed, c.Image
	case FaultTornWrite:
		copy(c.Image[:CardImageSize/2], w.New[:CardImageSize/2])
		r.Status, r.ImageAfter = WriteFailed, c.Image
	case FaultPullAfterWrite:
		c.Image = w.New
		b.card = nil
		r.Status = WriteNoCard
	case FaultReadBackDiffers:
		c.Image = w.New
		r.ImageAfter = c.Image
		r.ImageAfter[CardImageSize-1] ^= 0x01
		r.Status = WriteReadBackDiffers
	default:
		c.Image = w.New
		r.ImageAfter = c.Image
		r.Status = WriteVerified
	}
	return r
}
