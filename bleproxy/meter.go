package bleproxy

import (
	"fmt"
	"math"
	"time"
)

// Meter models an IC-card gas meter closely enough to test the one property
// the whole delivery design rests on: a purchase loads once, however often
// the same image is written to the card. It is for the simulator and tests,
// not production.
//
// The fields are its memory; set them to start from a given history. A
// Meter is not safe for concurrent use.
type Meter struct {
	// Serial is the card the meter is paired with; the zero serial accepts
	// any card.
	Serial CardSerial
	// LastSeq is the purchase sequence the meter loaded last.
	LastSeq uint16
	// Remaining is the balance, in the card type's unit.
	Remaining uint32
	// Usage is the cumulative usage, 0.01 m3.
	Usage uint32
	// Now is the meter's clock; nil means time.Now.
	Now func() time.Time
}

// Insert is the customer putting the card into the meter. The meter accepts
// the card only if its MAC verifies under kcard (ErrBadCardMAC), it parses
// (ErrBadCardImage), it is the paired card (ErrWrongCard), its state is
// pending (ErrNotPending) and its sequence is exactly LastSeq+1
// (ErrSequence); then it adds the credit (ErrMeterOverflow if it cannot),
// and returns the image it writes back: state loaded, the meter's remaining,
// usage and time, a fresh MAC. On error the meter is unchanged and the card
// keeps its image.
func (m *Meter) Insert(kcard Key, raw [CardImageSize]byte) ([CardImageSize]byte, error) {
	if err := VerifyCardImage(kcard, raw); err != nil {
		return raw, fmt.Errorf("meter: %w", err)
	}
	img, err := ParseCardImage(raw[:])
	if err != nil {
		return raw, fmt.Errorf("meter: %w", err)
	}
	if m.Serial != (CardSerial{}) && img.Serial != m.Serial {
		return raw, fmt.Errorf("%w: card %s, meter paired with %s", ErrWrongCard, img.Serial, m.Serial)
	}
	if img.State != CardPending {
		return raw, fmt.Errorf("%w: card %s purchase %d", ErrNotPending, img.Serial, img.Seq)
	}
	if uint32(img.Seq) != uint32(m.LastSeq)+1 {
		return raw, fmt.Errorf("%w: card purchase %d, meter loaded %d", ErrSequence, img.Seq, m.LastSeq)
	}
	if img.Credit > math.MaxUint32-m.Remaining {
		return raw, fmt.Errorf("%w: remaining %d + credit %d", ErrMeterOverflow, m.Remaining, img.Credit)
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	img.State = CardLoaded
	img.MeterRemaining = m.Remaining + img.Credit
	img.MeterUsage = m.Usage
	img.WriteBackTime = uint32(now().Unix())
	out, err := img.Seal(kcard)
	if err != nil {
		return raw, fmt.Errorf("meter: %w", err)
	}
	m.LastSeq = img.Seq
	m.Remaining = img.MeterRemaining
	return out, nil
}

// Consume burns gas: usage grows by usage (0.01 m3) and the balance falls
// by debit (in the card type's unit), stopping at zero as a meter's valve
// would.
func (m *Meter) Consume(usage, debit uint32) {
	m.Usage += usage
	m.Remaining -= min(debit, m.Remaining)
}
