package bleproxy

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Message is the decoded body of a sealed frame. Its dynamic type is one of
// ReadCardBody, CardBody, WriteCardBody, WriteResultBody or ErrorBody; the
// interface is closed so that a switch over those five is exhaustive.
type Message interface {
	// Type is the frame type that carries this body.
	Type() Type
	// Encode returns the plaintext body, refusing values the spec does not
	// allow (ErrBadBody).
	Encode() ([]byte, error)
	isMessage()
}

// DecodeBody decodes the plaintext body of a sealed frame of type t.
// Lengths are strict: a body one byte too long is as wrong as one too
// short. Errors match ErrBadBody (or ErrUnexpectedType for a type without a
// sealed body).
func DecodeBody(t Type, b []byte) (Message, error) {
	var m Message
	var err error
	switch t {
	case TypeReadCard:
		m, err = DecodeReadCard(b)
	case TypeCard:
		m, err = DecodeCard(b)
	case TypeWriteCard:
		m, err = DecodeWriteCard(b)
	case TypeWriteResult:
		m, err = DecodeWriteResult(b)
	case TypeError:
		m, err = DecodeError(b)
	default:
		return nil, fmt.Errorf("%w: %s has no sealed body", ErrUnexpectedType, t)
	}
	if err != nil {
		// A nil interface, not a zero body: a caller that forgets the error
		// must not find a plausible message.
		return nil, err
	}
	return m, nil
}

// ReadCardBody is READ_CARD's body, which is empty.
type ReadCardBody struct{}

// Type returns TypeReadCard.
func (ReadCardBody) Type() Type { return TypeReadCard }

// Encode returns an empty body.
func (ReadCardBody) Encode() ([]byte, error) { return []byte{}, nil }

func (ReadCardBody) isMessage() {}

// DecodeReadCard accepts only an empty body.
func DecodeReadCard(b []byte) (ReadCardBody, error) {
	if len(b) != 0 {
		return ReadCardBody{}, fmt.Errorf("%w: READ_CARD body of %d bytes, want 0", ErrBadBody, len(b))
	}
	return ReadCardBody{}, nil
}

// CardStatus is CARD's status byte.
type CardStatus uint8

// Card statuses.
const (
	CardPresent    CardStatus = 0 // image follows
	CardAbsent     CardStatus = 1 // no card in the box
	CardUnreadable CardStatus = 2 // a card is in, but could not be read
)

// String names the status.
func (s CardStatus) String() string {
	switch s {
	case CardPresent:
		return "present"
	case CardAbsent:
		return "absent"
	case CardUnreadable:
		return "unreadable"
	}
	return fmt.Sprintf("card-status(%d)", uint8(s))
}

// CardBody is CARD's body: a status and, when the card is present, its raw
// image. The image is unverified: check it with OpenCardImage.
type CardBody struct {
	Status CardStatus // what the box found
	// Image is the card's 64 bytes when Status is CardPresent, zero otherwise.
	Image [CardImageSize]byte
}

// Type returns TypeCard.
func (CardBody) Type() Type { return TypeCard }

func (CardBody) isMessage() {}

// Encode returns status || image when present, or status alone. An image
// with any other status is refused rather than silently dropped.
func (c CardBody) Encode() ([]byte, error) {
	switch c.Status {
	case CardPresent:
		return append([]byte{byte(c.Status)}, c.Image[:]...), nil
	case CardAbsent, CardUnreadable:
		if c.Image != ([CardImageSize]byte{}) {
			return nil, fmt.Errorf("%w: CARD with status %s carries an image", ErrBadBody, c.Status)
		}
		return []byte{byte(c.Status)}, nil
	}
	return nil, fmt.Errorf("%w: CARD status %d", ErrBadBody, uint8(c.Status))
}

// DecodeCard decodes CARD: status 0 with exactly 64 image bytes, or status
// 1 or 2 alone.
func DecodeCard(b []byte) (CardBody, error) {
	if len(b) == 0 {
		return CardBody{}, fmt.Errorf("%w: empty CARD body", ErrBadBody)
	}
	c := CardBody{Status: CardStatus(b[0])}
	switch c.Status {
	case CardPresent:
		if len(b) != 1+CardImageSize {
			return CardBody{}, fmt.Errorf("%w: CARD present with %d bytes, want %d", ErrBadBody, len(b), 1+CardImageSize)
		}
		copy(c.Image[:], b[1:])
	case CardAbsent, CardUnreadable:
		if len(b) != 1 {
			return CardBody{}, fmt.Errorf("%w: CARD %s with %d bytes, want 1", ErrBadBody, c.Status, len(b))
		}
	default:
		return CardBody{}, fmt.Errorf("%w: CARD status %d", ErrBadBody, b[0])
	}
	return c, nil
}

const (
	writeCardBodySize   = 16 + 2*CardImageSize // 144
	writeResultBodySize = 16 + 1 + CardImageSize
)

// WriteCardBody is WRITE_CARD's body: a compare-and-swap of the card image.
type WriteCardBody struct {
	WriteID  WriteID             // echoed in WRITE_RESULT
	Expected [CardImageSize]byte // what the card must hold for the write to happen
	New      [CardImageSize]byte // what to write
}

// Type returns TypeWriteCard.
func (WriteCardBody) Type() Type { return TypeWriteCard }

func (WriteCardBody) isMessage() {}

// Encode returns write_id || expected_image || new_image.
func (w WriteCardBody) Encode() ([]byte, error) {
	b := make([]byte, 0, writeCardBodySize)
	b = append(b, w.WriteID[:]...)
	b = append(b, w.Expected[:]...)
	return append(b, w.New[:]...), nil
}

// DecodeWriteCard decodes exactly 144 bytes.
func DecodeWriteCard(b []byte) (WriteCardBody, error) {
	if len(b) != writeCardBodySize {
		return WriteCardBody{}, fmt.Errorf("%w: WRITE_CARD body of %d bytes, want %d", ErrBadBody, len(b), writeCardBodySize)
	}
	var w WriteCardBody
	copy(w.WriteID[:], b[:16])
	copy(w.Expected[:], b[16:80])
	copy(w.New[:], b[80:])
	return w, nil
}

// WriteStatus is WRITE_RESULT's status byte.
type WriteStatus uint8

// Write statuses.
const (
	WriteVerified        WriteStatus = 0 // written and read back equal to new_image
	WriteNoCard          WriteStatus = 1 // no card, or card removed; it may or may not have been written
	WriteFailed          WriteStatus = 2 // the write failed; the card may hold anything
	WriteMismatch        WriteStatus = 3 // the card differed from expected_image; nothing written
	WriteReadBackDiffers WriteStatus = 4 // written, but the read-back differs from new_image
)

// String names the status.
func (s WriteStatus) String() string {
	switch s {
	case WriteVerified:
		return "verified"
	case WriteNoCard:
		return "no-card"
	case WriteFailed:
		return "failed"
	case WriteMismatch:
		return "mismatch"
	case WriteReadBackDiffers:
		return "read-back-differs"
	}
	return fmt.Sprintf("write-status(%d)", uint8(s))
}

// WriteResultBody is WRITE_RESULT's body. Only WriteVerified proves the
// card holds the new image; for every other status the server learns the
// truth from the next read of the card.
type WriteResultBody struct {
	WriteID WriteID     // the WRITE_CARD this answers
	Status  WriteStatus // what happened
	// ImageAfter is what the box read after the attempt; zero when there is
	// no card (always so for WriteNoCard).
	ImageAfter [CardImageSize]byte
}

// Type returns TypeWriteResult.
func (WriteResultBody) Type() Type { return TypeWriteResult }

func (WriteResultBody) isMessage() {}

// Encode returns write_id || status || image_after.
func (w WriteResultBody) Encode() ([]byte, error) {
	if err := w.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, writeResultBodySize)
	b = append(b, w.WriteID[:]...)
	b = append(b, byte(w.Status))
	return append(b, w.ImageAfter[:]...), nil
}

func (w WriteResultBody) check() error {
	if w.Status > WriteReadBackDiffers {
		return fmt.Errorf("%w: WRITE_RESULT status %d", ErrBadBody, uint8(w.Status))
	}
	// The spec says image_after is zeros without a card; a "no card" result
	// with an image contradicts itself, so neither end may produce one.
	if w.Status == WriteNoCard && w.ImageAfter != ([CardImageSize]byte{}) {
		return fmt.Errorf("%w: WRITE_RESULT no-card with an image", ErrBadBody)
	}
	return nil
}

// DecodeWriteResult decodes exactly 81 bytes with status 0..4; status 1
// requires a zero image.
func DecodeWriteResult(b []byte) (WriteResultBody, error) {
	if len(b) != writeResultBodySize {
		return WriteResultBody{}, fmt.Errorf("%w: WRITE_RESULT body of %d bytes, want %d", ErrBadBody, len(b), writeResultBodySize)
	}
	var w WriteResultBody
	copy(w.WriteID[:], b[:16])
	w.Status = WriteStatus(b[16])
	copy(w.ImageAfter[:], b[17:])
	if err := w.check(); err != nil {
		return WriteResultBody{}, err
	}
	return w, nil
}

// ErrorCode is the code of an ERROR frame. The spec leaves codes to us; the
// ones below are this project's. Receivers accept any code, so new ones can
// be added without breaking older peers.
type ErrorCode uint16

// Error codes. Their meaning is written down in docs/box-protocol-notes.md.
const (
	// CodeMalformed: an authentic frame whose body the receiver could not
	// decode. The Box sends it; the server may.
	CodeMalformed ErrorCode = 0x0001
	// CodeUnexpected: an authentic frame the receiver did not expect now,
	// such as a CARD nobody asked for.
	CodeUnexpected ErrorCode = 0x0002
	// CodeInternal: the sender failed for its own reasons (server storage
	// down, box hardware fault); the frame that caused it was fine.
	CodeInternal ErrorCode = 0x0003
	// CodeRefused: the server refuses to go on with this card or box (stale
	// or lost card, unbound account, blocked box); the message says why.
	CodeRefused ErrorCode = 0x0100
)

// String names the code, or gives its hex value.
func (c ErrorCode) String() string {
	switch c {
	case CodeMalformed:
		return "malformed"
	case CodeUnexpected:
		return "unexpected"
	case CodeInternal:
		return "internal"
	case CodeRefused:
		return "refused"
	}
	return fmt.Sprintf("0x%04x", uint16(c))
}

// MaxErrorMessage is the longest ERROR message in bytes that fits a frame.
const MaxErrorMessage = MaxPlaintext - 2

// ErrorBody is ERROR's body. It is also an error, so the Box can return a
// peer's ERROR and callers can errors.As it. Message comes from the peer:
// quote it when logging it.
type ErrorBody struct {
	Code    ErrorCode // what kind of error; unknown codes are kept as they are
	Message string    // UTF-8, at most MaxErrorMessage bytes, for people and logs
}

// Type returns TypeError.
func (ErrorBody) Type() Type { return TypeError }

func (ErrorBody) isMessage() {}

// Error describes the peer's error.
func (e ErrorBody) Error() string {
	return fmt.Sprintf("bleproxy: peer error %s: %q", e.Code, e.Message)
}

// Encode returns code || message, refusing invalid UTF-8 and messages over
// MaxErrorMessage bytes.
func (e ErrorBody) Encode() ([]byte, error) {
	if len(e.Message) > MaxErrorMessage {
		return nil, fmt.Errorf("%w: ERROR message of %d bytes, max %d", ErrBadBody, len(e.Message), MaxErrorMessage)
	}
	if !utf8.ValidString(e.Message) {
		return nil, fmt.Errorf("%w: ERROR message is not UTF-8", ErrBadBody)
	}
	b := make([]byte, 0, 2+len(e.Message))
	b = binary.BigEndian.AppendUint16(b, uint16(e.Code))
	return append(b, e.Message...), nil
}

// DecodeError decodes code(2) || UTF-8 message.
func DecodeError(b []byte) (ErrorBody, error) {
	if len(b) < 2 {
		return ErrorBody{}, fmt.Errorf("%w: ERROR body of %d bytes", ErrBadBody, len(b))
	}
	if len(b)-2 > MaxErrorMessage {
		return ErrorBody{}, fmt.Errorf("%w: ERROR message of %d bytes, max %d", ErrBadBody, len(b)-2, MaxErrorMessage)
	}
	if !utf8.Valid(b[2:]) {
		return ErrorBody{}, fmt.Errorf("%w: ERROR message is not UTF-8", ErrBadBody)
	}
	return ErrorBody{Code: ErrorCode(binary.BigEndian.Uint16(b)), Message: string(b[2:])}, nil
}
