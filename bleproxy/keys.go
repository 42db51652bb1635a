package bleproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Key sizes.
const (
	KeySize       = 16 // K_box, K_card, K_sess
	MasterKeySize = 32 // M
)

// Labels of the key derivations, ASCII without a terminator.
const (
	labelBox     = "gasbox/v1/box"
	labelCard    = "gasbox/v1/card"
	labelSession = "gasbox/v1/session"
)

const redacted = "[redacted]"

// Key is a 16-byte protocol key: K_box, K_card or K_sess.
//
// A Key refuses to be printed: fmt (every verb), slog and encoding/json all
// show "[redacted]". Its bytes leave only through Bytes, on purpose, for the
// one place that stores them. Because of that, a struct holding a Key does
// not survive a JSON round trip; Session has MarshalBinary for storage.
// fmt cannot call methods on unexported struct fields, so a Key kept in an
// unexported field of a struct that gets printed would show; MasterKey,
// which lives as long as the process, guards even against that.
type Key [KeySize]byte

// KeyFromBytes copies a 16-byte key.
func KeyFromBytes(b []byte) (Key, error) {
	var k Key
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("%w: key must be %d bytes, got %d", ErrBadKey, KeySize, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// ParseKey parses a key written as 32 hex digits, surrounding white space
// ignored. It is meant for provisioning a box or a simulator with its K_box;
// the server derives keys and never parses them. The error never repeats the
// input.
func ParseKey(s string) (Key, error) {
	var k Key
	if err := decodeSecretHex(k[:], s); err != nil {
		return Key{}, err
	}
	return k, nil
}

// Bytes returns a copy of the key's bytes, for storing it deliberately.
func (k Key) Bytes() []byte { return append([]byte(nil), k[:]...) }

// IsZero reports whether the key is all zeros, which no derived key is in
// practice: a zero key means one was never set.
func (k Key) IsZero() bool { return k == Key{} }

// String returns "[redacted]".
func (Key) String() string { return redacted }

// GoString returns "[redacted]", so %#v does not reveal the key either.
func (Key) GoString() string { return redacted }

// Format prints "[redacted]" for every verb, including %x and %d.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON returns "[redacted]" so a key inside a logged or dumped
// struct stays secret.
func (Key) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue returns "[redacted]".
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MasterKey is the server's master key M, 32 bytes. The zero value holds no
// key; build one with ParseMasterKey or NewMasterKey.
//
// Like Key it prints as "[redacted]" everywhere. It also keeps its bytes
// inside a closure, because fmt prints an unexported field of a struct by
// reflection without calling its methods; a closure is the one thing
// reflection shows only as an address. A side effect, kept on purpose: a
// MasterKey cannot be compared with ==.
type MasterKey struct {
	material func() []byte
}

// NewMasterKey copies a 32-byte master key. An all-zero key is refused: it
// is never a real key, but it is what an unset configuration looks like.
func NewMasterKey(b []byte) (MasterKey, error) {
	if len(b) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("%w: master key must be %d bytes, got %d", ErrBadKey, MasterKeySize, len(b))
	}
	k := new([MasterKeySize]byte)
	copy(k[:], b)
	if subtle.ConstantTimeCompare(k[:], make([]byte, MasterKeySize)) == 1 {
		return MasterKey{}, fmt.Errorf("%w: master key is all zeros", ErrBadKey)
	}
	return MasterKey{material: func() []byte { return k[:] }}, nil
}

// ParseMasterKey parses a master key written as 64 hex digits. Surrounding
// white space is ignored, because secrets mounted as files usually end with
// a newline. The error never repeats the input.
func ParseMasterKey(s string) (MasterKey, error) {
	var b [MasterKeySize]byte
	if err := decodeSecretHex(b[:], s); err != nil {
		return MasterKey{}, fmt.Errorf("master key: %w", err)
	}
	m, err := NewMasterKey(b[:])
	clear(b[:])
	return m, err
}

// UnmarshalText parses 64 hex digits, so a MasterKey can be a field of a
// configuration struct decoded from JSON or the environment.
func (m *MasterKey) UnmarshalText(b []byte) error {
	v, err := ParseMasterKey(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// IsZero reports whether m holds no key. Configuration validation should
// refuse to start with a zero MasterKey.
func (m MasterKey) IsZero() bool { return m.material == nil }

// String returns "[redacted]".
func (MasterKey) String() string { return redacted }

// GoString returns "[redacted]".
func (MasterKey) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (MasterKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON returns "[redacted]".
func (MasterKey) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue returns "[redacted]".
func (MasterKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// bytes returns the key material, panicking on a zero MasterKey: deriving
// keys from nothing would silently give every box the same key, and a zero
// master key is a wiring mistake to be found at the first use.
func (m MasterKey) bytes() []byte {
	if m.material == nil {
		panic("bleproxy: zero MasterKey; build it with ParseMasterKey or NewMasterKey")
	}
	return m.material()
}

// DeriveBoxKey returns K_box = HMAC16(M, "gasbox/v1/box" || box_id).
// It panics if m is the zero MasterKey.
func DeriveBoxKey(m MasterKey, id BoxID) Key {
	return hmac16(m.bytes(), []byte(labelBox), id[:])
}

// DeriveCardKey returns K_card = HMAC16(M, "gasbox/v1/card" || card_serial).
// K_card belongs to the server and the meter only: never send it to a box
// or a phone. It panics if m is the zero MasterKey.
func DeriveCardKey(m MasterKey, s CardSerial) Key {
	return hmac16(m.bytes(), []byte(labelCard), s[:])
}

// DeriveSessionKey returns
// K_sess = HMAC16(K_box, "gasbox/v1/session" || box_nonce || server_nonce).
func DeriveSessionKey(kbox Key, boxNonce, serverNonce Nonce) Key {
	return hmac16(kbox[:], []byte(labelSession), boxNonce[:], serverNonce[:])
}

// hmac16 is the spec's HMAC16: the first 16 bytes of HMAC-SHA256.
func hmac16(key []byte, parts ...[]byte) Key {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	var sum [sha256.Size]byte
	var k Key
	copy(k[:], m.Sum(sum[:0]))
	return k
}

// decodeSecretHex decodes exactly len(dst) bytes of hex. Its errors say what
// is wrong in general terms only, because the input is a secret and
// encoding/hex's own errors quote the offending character.
func decodeSecretHex(dst []byte, s string) error {
	s = strings.TrimSpace(s)
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: want %d hex digits, got %d characters", ErrBadKey, 2*len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		clear(dst)
		return fmt.Errorf("%w: not hexadecimal", ErrBadKey)
	}
	return nil
}
