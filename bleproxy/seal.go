package bleproxy

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
)

// Seal builds a sealed frame: the body is AES-128-GCM(k) of plaintext with
// nonce direction || 0x00*7 || counter and the frame's header (whose length
// counts the tag) as additional data.
//
// It refuses a type that is not sealed or does not travel in dir
// (ErrUnexpectedType), counter 0, which no sealed frame uses (ErrCounter),
// and a plaintext over MaxPlaintext bytes (ErrFrameTooLarge).
//
// Seal does not track counters; reusing a (key, direction, counter) triple
// with a different plaintext breaks GCM. Session.Seal tracks them for you.
func Seal(k Key, dir Direction, t Type, id BoxID, counter uint32, plaintext []byte) (Frame, error) {
	if err := checkSealed(dir, t, counter); err != nil {
		return Frame{}, err
	}
	if len(plaintext) > MaxPlaintext {
		return Frame{}, fmt.Errorf("%w: %s plaintext of %d bytes, max %d", ErrFrameTooLarge, t, len(plaintext), MaxPlaintext)
	}
	h := header(t, id, counter, len(plaintext)+TagSize)
	nonce := gcmNonce(dir, counter)
	body := newGCM(k).Seal(make([]byte, 0, len(plaintext)+TagSize), nonce[:], plaintext, h[:])
	return Frame{Type: t, BoxID: id, Counter: counter, Body: body}, nil
}

// Open authenticates and decrypts a sealed frame that travelled in dir and
// returns its plaintext. It refuses what Seal refuses, a body shorter than a
// tag (ErrBadBody), and any frame whose tag does not verify (ErrBadMAC):
// tampered header or body, another session's key, another direction.
//
// Open does not check the counter sequence; Session.Open does.
func Open(k Key, dir Direction, f Frame) ([]byte, error) {
	if err := checkSealed(dir, f.Type, f.Counter); err != nil {
		return nil, err
	}
	if len(f.Body) < TagSize {
		return nil, fmt.Errorf("%w: sealed %s body of %d bytes is shorter than a tag", ErrBadBody, f.Type, len(f.Body))
	}
	if len(f.Body) > MaxBodySize {
		return nil, fmt.Errorf("%w: %s body of %d bytes", ErrFrameTooLarge, f.Type, len(f.Body))
	}
	h := f.Header()
	nonce := gcmNonce(dir, f.Counter)
	pt, err := newGCM(k).Open(nil, nonce[:], f.Body, h[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %s %d from box %s", ErrBadMAC, f.Type, f.Counter, f.BoxID)
	}
	return pt, nil
}

func checkSealed(dir Direction, t Type, counter uint32) error {
	if !t.Sealed() || !t.AllowedIn(dir) {
		return fmt.Errorf("%w: %s is not a sealed %s frame", ErrUnexpectedType, t, dir)
	}
	if counter == 0 {
		return fmt.Errorf("%w: sealed %s with counter 0", ErrCounter, t)
	}
	return nil
}

func gcmNonce(dir Direction, counter uint32) [12]byte {
	var n [12]byte
	n[0] = byte(dir)
	binary.BigEndian.PutUint32(n[8:], counter)
	return n
}

func newGCM(k Key) cipher.AEAD {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic("bleproxy: aes: " + err.Error()) // unreachable: a Key is always 16 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("bleproxy: gcm: " + err.Error()) // unreachable with the standard nonce and tag sizes
	}
	return aead
}

// CounterState is one direction's counter within a session: Last is the
// last counter sent (for the sending side) or accepted (for the receiving
// side), 0 before the first frame. It is plain data so the relay can store
// it between requests.
//
// The spec lets a receiver accept only Last+1 and requires a rejection to
// leave the state as it was; every method here keeps that rule.
type CounterState struct {
	Last uint32 // last counter sent or accepted; 0 before the first
}

// Check reports whether n is the next counter, without changing anything.
// The error matches ErrCounter and, more precisely, ErrReplay (n <= Last),
// ErrCounterGap (n > Last+1) or ErrCounterExhausted.
func (c CounterState) Check(n uint32) error {
	switch {
	case c.Last == math.MaxUint32:
		return fmt.Errorf("%w: after %d", ErrCounterExhausted, c.Last)
	case n <= c.Last:
		return fmt.Errorf("%w: got %d, expected %d", ErrReplay, n, c.Last+1)
	case n > c.Last+1:
		return fmt.Errorf("%w: got %d, expected %d", ErrCounterGap, n, c.Last+1)
	}
	return nil
}

// Accept advances to n if n is the next counter and leaves the state
// unchanged otherwise. Call it only once the frame carrying n has
// authenticated, or a forged frame could burn a number; Session.Open does
// the checks in that order.
func (c *CounterState) Accept(n uint32) error {
	if err := c.Check(n); err != nil {
		return err
	}
	c.Last = n
	return nil
}

// Next advances to and returns the next counter to send.
func (c *CounterState) Next() (uint32, error) {
	if c.Last == math.MaxUint32 {
		return 0, fmt.Errorf("%w: after %d", ErrCounterExhausted, c.Last)
	}
	c.Last++
	return c.Last, nil
}

// Role says which end of a session a Session value is.
type Role uint8

// Roles. The zero Role is invalid, so a zero Session cannot seal or open.
const (
	RoleServer Role = 1
	RoleBox    Role = 2
)

// String returns "server" or "box".
func (r Role) String() string {
	switch r {
	case RoleServer:
		return "server"
	case RoleBox:
		return "box"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

func (r Role) directions() (send, recv Direction, ok bool) {
	switch r {
	case RoleServer:
		return ServerToBox, BoxToServer, true
	case RoleBox:
		return BoxToServer, ServerToBox, true
	}
	return 0, 0, false
}

// Session is one end of an established session: the box, K_sess, which end
// this is, and the counters of both directions. It is plain data: the relay
// keeps it in Redis between HTTP requests with MarshalBinary and
// UnmarshalBinary (go-redis uses them directly). Its Key field is redacted
// by fmt, slog and encoding/json, so do not store a Session as JSON.
//
// A Session is not safe for concurrent use, and two replicas must not
// advance copies of one session at once: load, use and store it under a
// lock or a compare-and-set.
type Session struct {
	BoxID BoxID // the box at the other end (or this box)
	Key   Key   // K_sess; redacted when printed
	Role  Role  // which end this value is
	// Sent is the counter of the last frame this end sealed.
	Sent CounterState
	// Received is the counter of the last frame this end accepted.
	Received CounterState
}

// Seal seals plaintext as the next frame this end sends and advances Sent.
// On error nothing changes. A frame once sealed has used its number: if it
// is lost the peer will refuse every later one (ErrCounterGap) and the
// session must be replaced by a new handshake. To retry a delivery, resend
// the same Frame, never re-seal.
func (s *Session) Seal(t Type, plaintext []byte) (Frame, error) {
	send, _, ok := s.Role.directions()
	if !ok {
		return Frame{}, fmt.Errorf("%w: %s", ErrBadSession, s.Role)
	}
	next := s.Sent
	n, err := next.Next()
	if err != nil {
		return Frame{}, err
	}
	f, err := Seal(s.Key, send, t, s.BoxID, n, plaintext)
	if err != nil {
		return Frame{}, err
	}
	s.Sent = next
	return f, nil
}

// Open accepts the next frame from the peer: it checks the box id
// (ErrWrongBox), the type and direction (ErrUnexpectedType), that the
// counter is the next one (ErrCounter and its refinements), and the tag
// (ErrBadMAC), and only then advances Received. Any error leaves the
// session unchanged: a replayed, reordered, forged or foreign frame opens
// nothing and costs nothing.
func (s *Session) Open(f Frame) ([]byte, error) {
	_, recv, ok := s.Role.directions()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrBadSession, s.Role)
	}
	if f.BoxID != s.BoxID {
		return nil, fmt.Errorf("%w: %s frame for %s in a session of %s", ErrWrongBox, f.Type, f.BoxID, s.BoxID)
	}
	if !f.Type.Sealed() || !f.Type.AllowedIn(recv) {
		return nil, fmt.Errorf("%w: %s is not a sealed %s frame", ErrUnexpectedType, f.Type, recv)
	}
	if err := s.Received.Check(f.Counter); err != nil {
		return nil, fmt.Errorf("%s from box %s: %w", f.Type, f.BoxID, err)
	}
	pt, err := Open(s.Key, recv, f)
	if err != nil {
		return nil, err
	}
	s.Received.Last = f.Counter
	return pt, nil
}

// SealMessage encodes m and seals it as the next frame (see Seal).
func (s *Session) SealMessage(m Message) (Frame, error) {
	body, err := m.Encode()
	if err != nil {
		return Frame{}, err
	}
	return s.Seal(m.Type(), body)
}

// OpenMessage opens the next frame (see Open) and decodes its body. An
// error matching ErrBadBody means the frame was authentic and has been
// consumed (Received advanced): the peer's numbering moved on, so the
// session stays in step, and the sensible answer is an ERROR frame with
// CodeMalformed. Any other error means the frame was refused.
func (s *Session) OpenMessage(f Frame) (Message, error) {
	pt, err := s.Open(f)
	if err != nil {
		return nil, err
	}
	return DecodeBody(f.Type, pt)
}

const sessionBinaryVersion = 1
const sessionBinarySize = 1 + 1 + 8 + KeySize + 4 + 4

// MarshalBinary encodes the session, key included, as 34 bytes:
// format version 1, role, box id, K_sess, Sent, Received. Treat the result
// as a secret.
func (s Session) MarshalBinary() ([]byte, error) {
	if _, _, ok := s.Role.directions(); !ok {
		return nil, fmt.Errorf("%w: %s", ErrBadSession, s.Role)
	}
	b := make([]byte, 0, sessionBinarySize)
	b = append(b, sessionBinaryVersion, byte(s.Role))
	b = append(b, s.BoxID[:]...)
	b = append(b, s.Key[:]...)
	b = binary.BigEndian.AppendUint32(b, s.Sent.Last)
	b = binary.BigEndian.AppendUint32(b, s.Received.Last)
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced.
func (s *Session) UnmarshalBinary(b []byte) error {
	if len(b) != sessionBinarySize || b[0] != sessionBinaryVersion {
		return fmt.Errorf("%w: binary encoding of %d bytes", ErrBadSession, len(b))
	}
	v := Session{Role: Role(b[1])}
	if _, _, ok := v.Role.directions(); !ok {
		return fmt.Errorf("%w: %s", ErrBadSession, v.Role)
	}
	copy(v.BoxID[:], b[2:10])
	copy(v.Key[:], b[10:26])
	v.Sent.Last = binary.BigEndian.Uint32(b[26:30])
	v.Received.Last = binary.BigEndian.Uint32(b[30:34])
	*s = v
	return nil
}

// LogValue describes the session without its key.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("box", s.BoxID.String()),
		slog.String("role", s.Role.String()),
		slog.Uint64("sent", uint64(s.Sent.Last)),
		slog.Uint64("received", uint64(s.Received.Last)),
	)
}
