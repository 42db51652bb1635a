package bleproxy

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// BoxID identifies a recharge box. It is provisioned at manufacture, travels
// in every frame header and selects the box key.
type BoxID [8]byte

// CardSerial identifies an IC card. It selects the card key and is what the
// server binds to an account.
type CardSerial [8]byte

// Nonce is a 16-byte handshake nonce (box_nonce or server_nonce). Nonces are
// public; what matters is that each is fresh.
type Nonce [16]byte

// WriteID names one card write. The server chooses it (a delivery's UUID
// fits) and the box echoes it in WRITE_RESULT, which ties a result to the
// write that caused it.
type WriteID [16]byte

// String returns the id as 16 lowercase hex digits.
func (id BoxID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText encodes the id as hex, so it reads well in JSON and logs.
func (id BoxID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 16 hex digits.
func (id *BoxID) UnmarshalText(b []byte) error {
	v, err := ParseBoxID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseBoxID parses a box id written as 16 hex digits (either case).
func ParseBoxID(s string) (BoxID, error) {
	var id BoxID
	if err := decodeHexID(id[:], s); err != nil {
		return BoxID{}, fmt.Errorf("%w: box id %q: %v", ErrBadID, s, err)
	}
	return id, nil
}

// String returns the serial as 16 lowercase hex digits.
func (s CardSerial) String() string { return hex.EncodeToString(s[:]) }

// MarshalText encodes the serial as hex.
func (s CardSerial) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses 16 hex digits.
func (s *CardSerial) UnmarshalText(b []byte) error {
	v, err := ParseCardSerial(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseCardSerial parses a card serial written as 16 hex digits (either case).
func ParseCardSerial(str string) (CardSerial, error) {
	var s CardSerial
	if err := decodeHexID(s[:], str); err != nil {
		return CardSerial{}, fmt.Errorf("%w: card serial %q: %v", ErrBadID, str, err)
	}
	return s, nil
}

// String returns the write id as 32 lowercase hex digits.
func (w WriteID) String() string { return hex.EncodeToString(w[:]) }

// MarshalText encodes the write id as hex.
func (w WriteID) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText parses 32 hex digits.
func (w *WriteID) UnmarshalText(b []byte) error {
	v, err := ParseWriteID(string(b))
	if err != nil {
		return err
	}
	*w = v
	return nil
}

// ParseWriteID parses a write id written as 32 hex digits (either case).
func ParseWriteID(s string) (WriteID, error) {
	var w WriteID
	if err := decodeHexID(w[:], s); err != nil {
		return WriteID{}, fmt.Errorf("%w: write id %q: %v", ErrBadID, s, err)
	}
	return w, nil
}

// NewNonce reads a fresh nonce from r, or from crypto/rand when r is nil.
// Tests and simulators pass a fixed reader to stay deterministic.
func NewNonce(r io.Reader) (Nonce, error) {
	if r == nil {
		r = rand.Reader
	}
	var n Nonce
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return Nonce{}, fmt.Errorf("bleproxy: nonce: %w", err)
	}
	return n, nil
}

func decodeHexID(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, got %d characters", 2*len(dst), len(s))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return errors.New("not hexadecimal")
	}
	return nil
}
