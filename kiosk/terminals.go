// Package kiosk is the self-service kiosks (自助售气终端): the terminals
// and their signed API, the purchase flow a kiosk drives (its built-in card
// reader through the cards desk, a payment code through recharge's closed
// loop, the card write), the kiosk screen's words and the receipt.
//
// A kiosk signs its requests exactly as a collection partner does
// (partner.Verify), with its own key and X-Kiosk-Id in place of
// X-Partner-Id; its answers are signed the same way.
package kiosk

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"time"

	"gaspay/models"
	"gaspay/partner"
)

// ErrUnknownKiosk: no such kiosk, or it is disabled.
var ErrUnknownKiosk = errors.New("kiosk: unknown or disabled kiosk")

var idPattern = regexp.MustCompile(`^[A-Za-z0-9-]{2,30}$`)

// ValidID reports whether s can be a kiosk id: 2 to 30 letters, digits and
// hyphens (its nonces are kept as caller "k:" and the id, in the partners'
// 32 characters).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Terminals authenticates kiosks, caching each for keyTTL: a new key or a
// disable takes effect within that on every replica.
type Terminals struct {
	store *models.Store
	now   func() time.Time

	mu      sync.Mutex
	cache   map[string]cached
	touched map[string]time.Time
}

type cached struct {
	k  models.Kiosk
	at time.Time
}

const (
	keyTTL = 30 * time.Second
	// touchEvery: a kiosk's last contact is written at most this often
	// per replica.
	touchEvery = 10 * time.Second
)

// NewTerminals makes the kiosk authenticator.
func NewTerminals(store *models.Store) *Terminals {
	return &Terminals{store: store, now: time.Now, cache: map[string]cached{}, touched: map[string]time.Time{}}
}

// Kiosk finds an active kiosk.
// Errors: ErrUnknownKiosk.
func (t *Terminals) Kiosk(ctx context.Context, id string) (models.Kiosk, error) {
	if !ValidID(id) {
		return models.Kiosk{}, ErrUnknownKiosk
	}
	t.mu.Lock()
	c, ok := t.cache[id]
	t.mu.Unlock()
	if !ok || time.Since(c.at) > keyTTL {
		k, err := t.store.KioskByID(ctx, id)
		if errors.Is(err, models.ErrNotFound) {
			return models.Kiosk{}, ErrUnknownKiosk
		}
		if err != nil {
			return models.Kiosk{}, err
		}
		c = cached{k: k, at: time.Now()}
		t.mu.Lock()
		t.cache[id] = c
		t.mu.Unlock()
	}
	if !c.k.Active {
		return models.Kiosk{}, ErrUnknownKiosk
	}
	return c.k, nil
}

// Authenticate checks a kiosk's signed request (r.PartnerID carries the
// X-Kiosk-Id) and records its contact.
// Errors: ErrUnknownKiosk and partner.Verify's.
func (t *Terminals) Authenticate(ctx context.Context, r partner.Request, ip string) (models.Kiosk, error) {
	k, err := t.Kiosk(ctx, r.PartnerID)
	if err != nil {
		return models.Kiosk{}, err
	}
	// Nonces are kept with the partners', under "k:" and the kiosk's id.
	if _, err := partner.Verify(ctx, t.store, t.now(), "k:"+k.KioskID, [][]byte{[]byte(k.Secret)}, r); err != nil {
		return k, err
	}
	now := t.now()
	t.mu.Lock()
	last := t.touched[k.KioskID]
	due := now.Sub(last) >= touchEvery
	if due {
		t.touched[k.KioskID] = now
	}
	t.mu.Unlock()
	if due {
		if err := t.store.TouchKiosk(ctx, k.KioskID, ip, now.UTC()); err != nil {
			return k, err
		}
	}
	return k, nil
}

// SignAnswer signs an answer to a kiosk.
func (t *Terminals) SignAnswer(k models.Kiosk, status int, body []byte) partner.Signed {
	return partner.SignAnswer([]byte(k.Secret), t.now(), status, body)
}
