package bleproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Card image layout.
const (
	CardImageSize          = 64 // bytes on the card
	CardLayoutVersion      = 1  // the only layout this package reads and writes
	UserNumberDigits       = 12 // user number field width, ASCII digits
	cardMACOffset          = 56
	cardMACSize            = 8
	cardReservedOffset     = 43
	cardMagic0, cardMagic1 = 'G', 'C'
)

// CardType is the kind of IC card, which fixes the unit of its credit and
// of the meter's remaining balance.
type CardType uint8

// Card types.
const (
	CardVolume CardType = 1 // credit and remaining in 0.01 m3
	CardAmount CardType = 2 // credit and remaining in fen
)

// String names the card type.
func (t CardType) String() string {
	switch t {
	case CardVolume:
		return "volume"
	case CardAmount:
		return "amount"
	}
	return fmt.Sprintf("card-type(%d)", uint8(t))
}

// CardState says whether the latest purchase on the card has reached the
// meter.
type CardState uint8

// Card states.
const (
	CardLoaded  CardState = 0 // the meter has taken the credit
	CardPending CardState = 1 // credit written, not yet loaded into the meter
)

// String names the state.
func (s CardState) String() string {
	switch s {
	case CardLoaded:
		return "loaded"
	case CardPending:
		return "pending"
	}
	return fmt.Sprintf("card-state(%d)", uint8(s))
}

// CardImage is the decoded 64-byte card image, without its MAC.
type CardImage struct {
	CardType CardType // volume or amount card
	// UserNumber is the account's user number as the card stores it: always
	// 12 ASCII digits after ParseCardImage, leading zeros kept. Trimming them
	// would be ambiguous (user numbers such as "031140086" have a
	// significant leading zero), so compare with HasUserNumber instead. On
	// encode, 1 to 12 digits are accepted and left-padded with '0'.
	UserNumber string
	Serial     CardSerial // the card's serial, which selects K_card
	// Seq is the purchase sequence: purchases ever written to this card's
	// account.
	Seq uint16
	// Credit is the latest purchase, in the card type's unit.
	Credit uint32
	State  CardState // whether Credit has reached the meter
	// MeterRemaining is the meter's balance at the last insertion, in the
	// card type's unit.
	MeterRemaining uint32
	// MeterUsage is the meter's cumulative usage, 0.01 m3.
	MeterUsage uint32
	// WriteBackTime is when the meter wrote the readings, unix seconds.
	WriteBackTime uint32
}

// ParseCardImage decodes a card image and checks every field but the MAC:
// size, magic "GC", layout version 1, card type, 12 ASCII digits, state
// and zero reserved bytes. Errors match ErrBadCardImage. A parsed image is
// not yet genuine; OpenCardImage verifies and parses in one step.
func ParseCardImage(b []byte) (CardImage, error) {
	if len(b) != CardImageSize {
		return CardImage{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadCardImage, len(b), CardImageSize)
	}
	if b[0] != cardMagic0 || b[1] != cardMagic1 {
		return CardImage{}, fmt.Errorf("%w: magic %02x%02x", ErrBadCardImage, b[0], b[1])
	}
	if b[2] != CardLayoutVersion {
		return CardImage{}, fmt.Errorf("%w: layout version %d", ErrBadCardImage, b[2])
	}
	c := CardImage{
		CardType:       CardType(b[3]),
		UserNumber:     string(b[4:16]),
		Seq:            binary.BigEndian.Uint16(b[24:26]),
		Credit:         binary.BigEndian.Uint32(b[26:30]),
		State:          CardState(b[30]),
		MeterRemaining: binary.BigEndian.Uint32(b[31:35]),
		MeterUsage:     binary.BigEndian.Uint32(b[35:39]),
		WriteBackTime:  binary.BigEndian.Uint32(b[39:43]),
	}
	copy(c.Serial[:], b[16:24])
	if c.CardType != CardVolume && c.CardType != CardAmount {
		return CardImage{}, fmt.Errorf("%w: card type %d", ErrBadCardImage, b[3])
	}
	if !allDigits(c.UserNumber) {
		return CardImage{}, fmt.Errorf("%w: user number is not 12 ASCII digits", ErrBadCardImage)
	}
	if c.State != CardLoaded && c.State != CardPending {
		return CardImage{}, fmt.Errorf("%w: state %d", ErrBadCardImage, b[30])
	}
	for _, x := range b[cardReservedOffset:cardMACOffset] {
		if x != 0 {
			return CardImage{}, fmt.Errorf("%w: reserved bytes not zero", ErrBadCardImage)
		}
	}
	return c, nil
}

// Seal encodes the image and sets its MAC, the first 8 bytes of
// HMAC-SHA256(K_card, bytes 0..55) (the full HMAC, truncated; not HMAC16).
// It refuses an image ParseCardImage would refuse.
func (c CardImage) Seal(kcard Key) ([CardImageSize]byte, error) {
	raw, err := c.encode()
	if err != nil {
		return [CardImageSize]byte{}, err
	}
	mac := cardMAC(kcard, &raw)
	copy(raw[cardMACOffset:], mac[:])
	return raw, nil
}

func (c CardImage) encode() ([CardImageSize]byte, error) {
	var b [CardImageSize]byte
	user, err := CanonicalUserNumber(c.UserNumber)
	if err != nil {
		return b, err
	}
	if c.CardType != CardVolume && c.CardType != CardAmount {
		return b, fmt.Errorf("%w: card type %d", ErrBadCardImage, uint8(c.CardType))
	}
	if c.State != CardLoaded && c.State != CardPending {
		return b, fmt.Errorf("%w: state %d", ErrBadCardImage, uint8(c.State))
	}
	b[0], b[1], b[2], b[3] = cardMagic0, cardMagic1, CardLayoutVersion, byte(c.CardType)
	copy(b[4:16], user)
	copy(b[16:24], c.Serial[:])
	binary.BigEndian.PutUint16(b[24:26], c.Seq)
	binary.BigEndian.PutUint32(b[26:30], c.Credit)
	b[30] = byte(c.State)
	binary.BigEndian.PutUint32(b[31:35], c.MeterRemaining)
	binary.BigEndian.PutUint32(b[35:39], c.MeterUsage)
	binary.BigEndian.PutUint32(b[39:43], c.WriteBackTime)
	return b, nil
}

// VerifyCardImage checks the image's MAC under kcard in constant time.
// Errors match ErrBadCardMAC.
func VerifyCardImage(kcard Key, raw [CardImageSize]byte) error {
	want := cardMAC(kcard, &raw)
	if !hmac.Equal(want[:], raw[cardMACOffset:]) {
		return fmt.Errorf("%w: card %s", ErrBadCardMAC, cardSerialOf(&raw))
	}
	return nil
}

// OpenCardImage is the server's way in: it derives K_card from m and the
// serial the image claims, verifies the MAC, and only then parses the image.
// It returns K_card too, for sealing the image to write. A serial that lies
// gives the wrong key and fails the MAC, so reading it unverified is safe.
// Errors match ErrBadCardMAC or ErrBadCardImage.
func OpenCardImage(m MasterKey, raw [CardImageSize]byte) (CardImage, Key, error) {
	kcard := DeriveCardKey(m, cardSerialOf(&raw))
	if err := VerifyCardImage(kcard, raw); err != nil {
		return CardImage{}, Key{}, err
	}
	c, err := ParseCardImage(raw[:])
	if err != nil {
		return CardImage{}, Key{}, err
	}
	return c, kcard, nil
}

// NextPurchase returns the image that carries one more purchase of credit:
// sequence + 1, the given credit, state pending, the meter readings
// unchanged. It refuses a card whose state is pending (ErrCardPending):
// writing over it would destroy gas the meter has not taken yet.
func (c CardImage) NextPurchase(credit uint32) (CardImage, error) {
	if c.State != CardLoaded {
		return CardImage{}, fmt.Errorf("%w: card %s, purchase %d", ErrCardPending, c.Serial, c.Seq)
	}
	if c.Seq == math.MaxUint16 {
		return CardImage{}, fmt.Errorf("%w: card %s purchase sequence exhausted", ErrBadCardImage, c.Serial)
	}
	n := c
	n.Seq++
	n.Credit = credit
	n.State = CardPending
	return n, nil
}

// HasUserNumber reports whether the card's user number is the account's,
// comparing both in their 12-digit padded form. Padding makes "31140086"
// and "031140086" equal; an account register where both exist must rely on
// the card serial, which is the binding the spec names anyway.
func (c CardImage) HasUserNumber(account string) bool {
	a, err := CanonicalUserNumber(account)
	if err != nil {
		return false
	}
	u, err := CanonicalUserNumber(c.UserNumber)
	return err == nil && a == u
}

// CanonicalUserNumber returns a user number of 1 to 12 ASCII digits
// left-padded with '0' to 12, as the card stores it. Errors match
// ErrBadCardImage.
func CanonicalUserNumber(s string) (string, error) {
	if len(s) == 0 || len(s) > UserNumberDigits || !allDigits(s) {
		return "", fmt.Errorf("%w: user number must be 1 to %d ASCII digits", ErrBadCardImage, UserNumberDigits)
	}
	return strings.Repeat("0", UserNumberDigits-len(s)) + s, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func cardSerialOf(raw *[CardImageSize]byte) CardSerial {
	var s CardSerial
	copy(s[:], raw[16:24])
	return s
}

func cardMAC(kcard Key, raw *[CardImageSize]byte) [cardMACSize]byte {
	m := hmac.New(sha256.New, kcard[:])
	m.Write(raw[:cardMACOffset])
	var sum [sha256.Size]byte
	var mac [cardMACSize]byte
	copy(mac[:], m.Sum(sum[:0]))
	return mac
}

// SerialOf is the serial of a card image, whether or not its MAC
// verifies: the record of a card refused as not genuine still names it.
func SerialOf(raw [CardImageSize]byte) CardSerial { return cardSerialOf(&raw) }
