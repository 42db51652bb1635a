package cards

import (
	"context"
	"encoding/hex"
	"errors"

	"gaspay/bleproxy"
)

// A kiosk's built-in card reader/writer speaks the box protocol, and the
// kiosk's own software relays its frames as the mini-program does. Its
// sessions belong to the kiosk, and there the card is the customer: a
// genuine read of an account's current card is all the kiosk needs, no
// binding. Everything else (reads, writes, card_writes, the in-doubt rule,
// recovery at the next read through any box or kiosk) is the desk's one
// path, shared with the Bluetooth box.

// ErrNoCardRead: the session has no card read just now (none inserted,
// refused, or a write since).
var ErrNoCardRead = errors.New("cards: no card read in this session")

// OpenKiosk opens a session of a kiosk's box from its HELLO.
func (d *Desk) OpenKiosk(ctx context.Context, kioskID string, hello []byte) (string, bleproxy.Answer, error) {
	return d.relay.Open(ctx, kioskOwner(kioskID), hello)
}

// FrameKiosk relays a frame from a kiosk's box.
func (d *Desk) FrameKiosk(ctx context.Context, kioskID, sessionID string, frame []byte) (bleproxy.Answer, error) {
	return d.relay.Frame(ctx, kioskOwner(kioskID), sessionID, frame)
}

// ReadKiosk asks a kiosk's box to read its card again.
func (d *Desk) ReadKiosk(ctx context.Context, kioskID, sessionID string) (bleproxy.Answer, error) {
	return d.read(ctx, kioskOwner(kioskID), sessionID)
}

// WriteKiosk prepares the card write of a paid purchase in a kiosk's
// session: the same write, record and rules as Write.
func (d *Desk) WriteKiosk(ctx context.Context, kioskID, sessionID, orderNo string) (bleproxy.Answer, error) {
	return d.write(ctx, kioskOwner(kioskID), sessionID, orderNo)
}

// KioskCard is the card just read in a kiosk's session: the customer of a
// purchase there.
type KioskCard struct {
	AccountID int64
	Serial    string
	// Loaded: the meter has taken the card's last purchase, so a new one
	// may be written over it (credit_not_loaded otherwise).
	Loaded bool
}

// CardInKiosk returns the card the session's last read accepted.
// Errors: ErrNoCardRead, and the relay's (ErrUnknownSession…).
func (d *Desk) CardInKiosk(ctx context.Context, kioskID, sessionID string) (KioskCard, error) {
	var out KioskCard
	_, err := d.relay.Command(ctx, kioskOwner(kioskID), sessionID, func(s *bleproxy.Info) ([]bleproxy.Message, any, error) {
		sd, err := load(s)
		if err != nil {
			return nil, nil, err
		}
		if sd.Card == nil || sd.Write != nil {
			return nil, nil, ErrNoCardRead
		}
		var raw [bleproxy.CardImageSize]byte
		if b, err := hex.DecodeString(sd.Card.Image); err != nil || len(b) != len(raw) {
			return nil, nil, ErrNoCardRead
		} else {
			copy(raw[:], b)
		}
		img, _, err := bleproxy.OpenCardImage(d.master, raw)
		if err != nil {
			return nil, nil, ErrNoCardRead
		}
		out = KioskCard{AccountID: sd.Card.AccountID, Serial: sd.Card.Serial, Loaded: img.State == bleproxy.CardLoaded}
		return nil, nil, nil
	})
	return out, err
}
