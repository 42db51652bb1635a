package bleproxy

import (
	"encoding/binary"
	"fmt"
	"log/slog"
)

// Frame sizes and constants of protocol version 1.
const (
	Version      = 1                         // the only protocol version this package speaks
	HeaderSize   = 18                        // magic(2) version(1) type(1) box_id(8) counter(4) length(2)
	MaxFrameSize = 512                       // header included
	MaxBodySize  = MaxFrameSize - HeaderSize // 494
	TagSize      = 16                        // AES-GCM tag at the end of a sealed body
	MaxPlaintext = MaxBodySize - TagSize     // 478: the largest plaintext Seal accepts
)

// The frame magic, "GB".
const magic0, magic1 = 'G', 'B'

// Type is a frame type.
type Type uint8

// Frame types of protocol version 1.
const (
	TypeHello       Type = 0x01 // box → server, plain
	TypeSession     Type = 0x02 // server → box, plain, counter 0
	TypeReadCard    Type = 0x10 // server → box, sealed
	TypeCard        Type = 0x11 // box → server, sealed
	TypeWriteCard   Type = 0x20 // server → box, sealed
	TypeWriteResult Type = 0x21 // box → server, sealed
	TypeError       Type = 0x7F // either direction, sealed
)

// String returns the spec's name of the type, or its hex value if unknown.
func (t Type) String() string {
	switch t {
	case TypeHello:
		return "HELLO"
	case TypeSession:
		return "SESSION"
	case TypeReadCard:
		return "READ_CARD"
	case TypeCard:
		return "CARD"
	case TypeWriteCard:
		return "WRITE_CARD"
	case TypeWriteResult:
		return "WRITE_RESULT"
	case TypeError:
		return "ERROR"
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// Known reports whether version 1 defines the type.
func (t Type) Known() bool {
	switch t {
	case TypeHello, TypeSession, TypeReadCard, TypeCard, TypeWriteCard, TypeWriteResult, TypeError:
		return true
	}
	return false
}

// Sealed reports whether frames of this type carry an AES-GCM body under
// K_sess (everything but HELLO and SESSION).
func (t Type) Sealed() bool {
	switch t {
	case TypeReadCard, TypeCard, TypeWriteCard, TypeWriteResult, TypeError:
		return true
	}
	return false
}

// AllowedIn reports whether frames of type t may travel in direction d.
// Checking it before anything else stops a box's frame being reflected back
// at it as if the server had sent it.
func (t Type) AllowedIn(d Direction) bool {
	switch t {
	case TypeHello, TypeCard, TypeWriteResult:
		return d == BoxToServer
	case TypeSession, TypeReadCard, TypeWriteCard:
		return d == ServerToBox
	case TypeError:
		return d == BoxToServer || d == ServerToBox
	}
	return false
}

// Direction is the direction a frame travels. Its value is the first byte
// of the AES-GCM nonce, so the two directions never share a nonce.
type Direction uint8

// Directions.
const (
	BoxToServer Direction = 0x00
	ServerToBox Direction = 0x01
)

// String returns "box→server" or "server→box".
func (d Direction) String() string {
	switch d {
	case BoxToServer:
		return "box→server"
	case ServerToBox:
		return "server→box"
	}
	return fmt.Sprintf("direction(0x%02x)", uint8(d))
}

// Frame is one protocol frame. Body is the plain body of HELLO and SESSION
// and the ciphertext plus tag of sealed frames; the header's length field is
// always len(Body), so it is not stored.
type Frame struct {
	Type    Type   // frame type
	BoxID   BoxID  // the box this frame is from or for
	Counter uint32 // HELLO: persistent counter; SESSION: 0; sealed: 1, 2, 3... per direction
	Body    []byte // plain body, or ciphertext || tag
}

// ParseFrame decodes one whole frame. It rejects, in this order: fewer than
// HeaderSize bytes (ErrShortFrame), more than MaxFrameSize (ErrFrameTooLarge),
// a magic other than "GB" (ErrBadMagic), a version other than 1
// (ErrBadVersion), a length field that does not match the bytes that follow
// (ErrBadLength) and a type version 1 does not define (ErrUnknownType).
//
// It checks structure only: a parsed frame is not yet authentic. The body is
// copied, so b may be reused.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < HeaderSize {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrShortFrame, len(b))
	}
	if len(b) > MaxFrameSize {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b))
	}
	if b[0] != magic0 || b[1] != magic1 {
		return Frame{}, fmt.Errorf("%w: %02x%02x", ErrBadMagic, b[0], b[1])
	}
	if b[2] != Version {
		return Frame{}, fmt.Errorf("%w: %d", ErrBadVersion, b[2])
	}
	if n := int(binary.BigEndian.Uint16(b[16:18])); n != len(b)-HeaderSize {
		return Frame{}, fmt.Errorf("%w: header says %d, %d follow", ErrBadLength, n, len(b)-HeaderSize)
	}
	f := Frame{
		Type:    Type(b[3]),
		Counter: binary.BigEndian.Uint32(b[12:16]),
		Body:    append([]byte{}, b[HeaderSize:]...),
	}
	if !f.Type.Known() {
		return Frame{}, fmt.Errorf("%w: 0x%02x", ErrUnknownType, b[3])
	}
	copy(f.BoxID[:], b[4:12])
	return f, nil
}

// Header returns the frame's 18 header bytes, the additional data of a sealed
// frame and the start of what HELLO's and SESSION's macs cover. It panics if
// Body is longer than MaxBodySize: no frame built by this package is, and a
// length that does not fit would silently corrupt the frame.
func (f Frame) Header() [HeaderSize]byte {
	if len(f.Body) > MaxBodySize {
		panic(fmt.Sprintf("bleproxy: %s body of %d bytes exceeds %d", f.Type, len(f.Body), MaxBodySize))
	}
	return header(f.Type, f.BoxID, f.Counter, len(f.Body))
}

// Marshal returns the frame's wire bytes. Like Header it panics on a body
// longer than MaxBodySize.
func (f Frame) Marshal() []byte {
	h := f.Header()
	out := make([]byte, 0, HeaderSize+len(f.Body))
	out = append(out, h[:]...)
	return append(out, f.Body...)
}

// String describes the frame without its body, for logs.
func (f Frame) String() string {
	return fmt.Sprintf("%s box=%s counter=%d body=%dB", f.Type, f.BoxID, f.Counter, len(f.Body))
}

// LogValue describes the frame without its body.
func (f Frame) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", f.Type.String()),
		slog.String("box", f.BoxID.String()),
		slog.Uint64("counter", uint64(f.Counter)),
		slog.Int("body_len", len(f.Body)),
	)
}

func header(t Type, id BoxID, counter uint32, bodyLen int) [HeaderSize]byte {
	var h [HeaderSize]byte
	h[0], h[1], h[2], h[3] = magic0, magic1, Version, byte(t)
	copy(h[4:12], id[:])
	binary.BigEndian.PutUint32(h[12:16], counter)
	binary.BigEndian.PutUint16(h[16:18], uint16(bodyLen))
	return h
}
