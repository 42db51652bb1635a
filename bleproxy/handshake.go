package bleproxy

import (
	"crypto/hmac"
	"encoding/binary"
	"fmt"
)

// Body sizes of the plain handshake frames.
const (
	helloBodySize   = 16 + 2 + 16 // box_nonce, firmware, mac
	sessionBodySize = 16 + 16     // server_nonce, mac
)

// Hello is a verified HELLO: who the box is, its persistent counter, its
// nonce for this session and its firmware version.
type Hello struct {
	BoxID BoxID // the box, whose key verified the mac
	// Counter is the box's persistent HELLO counter. The server must accept
	// it only if it is greater than the highest one it has stored for the
	// box, and must store it durably before answering (see ServerHandshake).
	Counter  uint32
	Nonce    Nonce  // box_nonce, an input of K_sess
	Firmware uint16 // firmware version, e.g. 0x0102 for 1.2
}

// BuildHello builds the box's HELLO frame: body box_nonce || firmware || mac,
// mac = HMAC16(K_box, header || box_nonce || firmware).
func BuildHello(kbox Key, id BoxID, counter uint32, nonce Nonce, firmware uint16) Frame {
	f := Frame{Type: TypeHello, BoxID: id, Counter: counter, Body: make([]byte, helloBodySize)}
	copy(f.Body, nonce[:])
	binary.BigEndian.PutUint16(f.Body[16:18], firmware)
	h := f.Header()
	mac := hmac16(kbox[:], h[:], f.Body[:18])
	copy(f.Body[18:], mac[:])
	return f
}

// VerifyHello checks a HELLO frame's type, size and mac under kbox, in
// constant time, and returns its contents. It does not judge the counter:
// that needs the server's stored state (ServerHandshake does both).
func VerifyHello(kbox Key, f Frame) (Hello, error) {
	if f.Type != TypeHello {
		return Hello{}, fmt.Errorf("%w: %s where HELLO expected", ErrUnexpectedType, f.Type)
	}
	if len(f.Body) != helloBodySize {
		return Hello{}, fmt.Errorf("%w: HELLO body is %d bytes, want %d", ErrBadBody, len(f.Body), helloBodySize)
	}
	h := f.Header()
	want := hmac16(kbox[:], h[:], f.Body[:18])
	if !hmac.Equal(want[:], f.Body[18:]) {
		return Hello{}, fmt.Errorf("%w: HELLO from box %s", ErrBadMAC, f.BoxID)
	}
	hello := Hello{BoxID: f.BoxID, Counter: f.Counter, Firmware: binary.BigEndian.Uint16(f.Body[16:18])}
	copy(hello.Nonce[:], f.Body[:16])
	return hello, nil
}

// BuildSession builds the server's SESSION frame answering a HELLO that
// carried boxNonce: counter 0, body server_nonce || mac,
// mac = HMAC16(K_box, header || server_nonce || box_nonce).
//
// It is the low-level builder; the server should call ServerHandshake, which
// also verifies the HELLO and refuses a zero server nonce.
func BuildSession(kbox Key, id BoxID, boxNonce, serverNonce Nonce) Frame {
	f := Frame{Type: TypeSession, BoxID: id, Counter: 0, Body: make([]byte, sessionBodySize)}
	copy(f.Body, serverNonce[:])
	h := f.Header()
	mac := hmac16(kbox[:], h[:], serverNonce[:], boxNonce[:])
	copy(f.Body[16:], mac[:])
	return f
}

// VerifySession is the box's side of the handshake: it checks a SESSION
// frame against the box's id, K_box and the nonce of the HELLO it sent, in
// constant time, and returns the box's end of the new session.
func VerifySession(kbox Key, id BoxID, boxNonce Nonce, f Frame) (Session, error) {
	if f.Type != TypeSession {
		return Session{}, fmt.Errorf("%w: %s where SESSION expected", ErrUnexpectedType, f.Type)
	}
	if f.BoxID != id {
		return Session{}, fmt.Errorf("%w: SESSION for %s, this is %s", ErrWrongBox, f.BoxID, id)
	}
	if f.Counter != 0 {
		return Session{}, fmt.Errorf("%w: SESSION counter %d, want 0", ErrCounter, f.Counter)
	}
	if len(f.Body) != sessionBodySize {
		return Session{}, fmt.Errorf("%w: SESSION body is %d bytes, want %d", ErrBadBody, len(f.Body), sessionBodySize)
	}
	var serverNonce Nonce
	copy(serverNonce[:], f.Body[:16])
	h := f.Header()
	want := hmac16(kbox[:], h[:], serverNonce[:], boxNonce[:])
	if !hmac.Equal(want[:], f.Body[16:]) {
		return Session{}, fmt.Errorf("%w: SESSION for box %s", ErrBadMAC, id)
	}
	return Session{BoxID: id, Key: DeriveSessionKey(kbox, boxNonce, serverNonce), Role: RoleBox}, nil
}

// Handshake is the outcome of ServerHandshake.
type Handshake struct {
	// Hello is the verified HELLO. Store Hello.Counter as the box's highest
	// accepted HELLO counter before sending Reply.
	Hello Hello
	// ServerNonce is the nonce in Reply. It is public and unique per
	// session, which makes its hex a fine session identifier for records.
	ServerNonce Nonce
	// Reply is the SESSION frame to relay to the box.
	Reply Frame
	// Session is the server's end of the new session, counters at zero.
	Session Session
}

// ServerHandshake verifies a HELLO with the box key derived from m and the
// frame's box id, refuses it unless its counter is greater than lastCounter
// (the highest HELLO counter stored for that box, 0 if none), and builds the
// SESSION reply and the server's session. serverNonce must be fresh: take it
// from NewNonce; a zero nonce is refused as a sign it was never filled in.
//
// Taking lastCounter here makes the replay check impossible to forget, but
// it cannot make it atomic: the caller must store Hello.Counter with a
// compare-and-set (UPDATE ... WHERE hello_counter < ?) and drop the
// handshake if that loses, so two replays of one HELLO cannot both open a
// session. ServerHandshake says the box holds the K_box of its id; whether
// that box is registered and not blocked is the caller's question.
//
// Errors: ErrUnexpectedType (not a HELLO), ErrBadBody, ErrBadMAC, ErrReplay
// (counter not above lastCounter), ErrBadNonce (zero server nonce).
func ServerHandshake(m MasterKey, hello Frame, lastCounter uint32, serverNonce Nonce) (Handshake, error) {
	if hello.Type != TypeHello {
		return Handshake{}, fmt.Errorf("%w: %s where HELLO expected", ErrUnexpectedType, hello.Type)
	}
	if serverNonce == (Nonce{}) {
		return Handshake{}, fmt.Errorf("%w: zero server nonce; use NewNonce", ErrBadNonce)
	}
	kbox := DeriveBoxKey(m, hello.BoxID)
	h, err := VerifyHello(kbox, hello)
	if err != nil {
		return Handshake{}, err
	}
	if h.Counter <= lastCounter {
		return Handshake{}, fmt.Errorf("%w: HELLO counter %d from box %s, already accepted %d", ErrReplay, h.Counter, h.BoxID, lastCounter)
	}
	return Handshake{
		Hello:       h,
		ServerNonce: serverNonce,
		Reply:       BuildSession(kbox, h.BoxID, h.Nonce, serverNonce),
		Session:     Session{BoxID: h.BoxID, Key: DeriveSessionKey(kbox, h.Nonce, serverNonce), Role: RoleServer},
	}, nil
}
