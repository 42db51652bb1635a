// Package partner is the collection API for channels that take the money
// themselves and then tell us: POS agents (Lakala), banks, and Alipay
// life-payment (生活缴费) through a service provider.
//
// Every request is signed with the partner's shared secret:
//
//	X-Signature = hex(HMAC-SHA256(key, METHOD "\n" PATH "\n" X-Timestamp "\n" X-Nonce "\n" body))
//
// where PATH is the request path with its query string as sent and body is
// empty for GET. The timestamp must be within five minutes of ours and the
// nonce unused (kept in the database) so that a captured request cannot be played
// again. Answers are signed the same way over status, timestamp, nonce and
// body, so the partner knows they are ours.
package partner

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"gaspay/internal/randhex"
	"gaspay/models"
	"gaspay/rediskv"
)

// Errors of authentication; test them with errors.Is. They all look the
// same to the caller, but the log tells them apart.
var (
	ErrUnknownPartner = errors.New("partner: unknown or inactive partner")
	ErrStale          = errors.New("partner: timestamp outside the window")
	ErrBadSignature   = errors.New("partner: bad signature")
	ErrNonceReused    = errors.New("partner: nonce already used")
	ErrMalformed      = errors.New("partner: malformed authentication headers")
)

// IsAuthFailure reports whether err is a refusal of the request's
// authentication (as opposed to storage failing while checking it).
func IsAuthFailure(err error) bool {
	for _, e := range []error{ErrUnknownPartner, ErrStale, ErrBadSignature, ErrNonceReused, ErrMalformed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Window is how far a request's timestamp may be from ours.
const Window = 5 * time.Minute

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9-]{2,32}$`)
	noncePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
	sigPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidID reports whether s can be a partner id: 2 to 32 letters, digits
// and hyphens.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Keys finds partners and their keys, caching them for a minute: re-keying a
// partner takes effect within a minute on every replica.
type Keys struct {
	store *models.Store
	rdb   *rediskv.Client
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cachedPartner
}

type cachedPartner struct {
	p  models.Partner
	at time.Time
}

const keyTTL = time.Minute

// NewKeys makes the partner authenticator.
func NewKeys(store *models.Store, rdb *rediskv.Client) *Keys {
	return &Keys{store: store, rdb: rdb, now: time.Now, cache: map[string]cachedPartner{}}
}

// Partner finds an active partner.
// Errors: ErrUnknownPartner.
func (k *Keys) Partner(ctx context.Context, id string) (models.Partner, error) {
	if !ValidID(id) {
		return models.Partner{}, ErrUnknownPartner
	}
	k.mu.Lock()
	c, ok := k.cache[id]
	k.mu.Unlock()
	if !ok || time.Since(c.at) > keyTTL {
		p, err := k.store.PartnerByID(ctx, id)
		if errors.Is(err, models.ErrNotFound) {
			return models.Partner{}, ErrUnknownPartner
		}
		if err != nil {
			return models.Partner{}, err
		}
		c = cachedPartner{p: p, at: time.Now()}
		k.mu.Lock()
		k.cache[id] = c
		k.mu.Unlock()
	}
	if !c.p.Active {
		return models.Partner{}, ErrUnknownPartner
	}
	return c.p, nil
}

// Sign is the signature of a request or an answer over its lines.
func Sign(key []byte, lines ...string) string {
	m := hmac.New(sha256.New, key)
	for i, l := range lines {
		if i > 0 {
			m.Write([]byte{'\n'})
		}
		m.Write([]byte(l))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Request is a partner's request as signed.
type Request struct {
	PartnerID, Timestamp, Nonce, Signature string
	Method, Path                           string // Path with its query string, as sent
	Body                                   []byte
}

// Authenticate checks a request: a known partner, a timestamp within the
// window, a signature that verifies, and, last, a nonce not used before (so
// that only a genuine request can use one up).
// Errors: ErrMalformed, ErrUnknownPartner, ErrStale, ErrBadSignature,
// ErrNonceReused.
func (k *Keys) Authenticate(ctx context.Context, r Request) (models.Partner, error) {
	if err := checkShape(r); err != nil {
		return models.Partner{}, err
	}
	p, err := k.Partner(ctx, r.PartnerID)
	if err != nil {
		return models.Partner{}, err
	}
	secrets := [][]byte{[]byte(p.Secret)}
	// After a rotation the previous key is good until its grace period
	// ends; the answer is then signed with it too.
	if p.PreviousSecret != nil && p.PreviousUntil != nil && k.now().Before(*p.PreviousUntil) {
		secrets = append(secrets, []byte(*p.PreviousSecret))
	}
	used, err := Verify(ctx, k.store, k.now(), p.PartnerID, secrets, r)
	if used == 1 {
		p.Secret = *p.PreviousSecret
	}
	return p, err
}

func checkShape(r Request) error {
	if !noncePattern.MatchString(r.Nonce) || !sigPattern.MatchString(r.Signature) {
		return ErrMalformed
	}
	if _, err := strconv.ParseInt(r.Timestamp, 10, 64); err != nil || len(r.Timestamp) > 12 {
		return ErrMalformed
	}
	return nil
}

// Nonces keeps the nonces signed requests used.
type Nonces interface {
	// UseNonce records a caller's nonce until expiresAt; a nonce the caller
	// used before is models.ErrDuplicate.
	UseNonce(ctx context.Context, callerID, nonce string, expiresAt time.Time) error
}

// Verify checks a request signed by a caller (callerID: the partner's id,
// or "k:" and a kiosk's) with one of its secrets: its shape, a timestamp
// within the window, the signature, and, last, a nonce the caller has not
// used before. It reports which secret signed. Every API signed this way
// (partners, kiosks) goes through it.
// Errors: ErrMalformed, ErrStale, ErrBadSignature, ErrNonceReused.
func Verify(ctx context.Context, nonces Nonces, now time.Time, callerID string, secrets [][]byte, r Request) (int, error) {
	if err := checkShape(r); err != nil {
		return -1, err
	}
	ts, _ := strconv.ParseInt(r.Timestamp, 10, 64)
	if d := now.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return -1, ErrStale
	}
	used := -1
	for i, secret := range secrets {
		want := Sign(secret, r.Method, r.Path, r.Timestamp, r.Nonce, string(r.Body))
		if hmac.Equal([]byte(want), []byte(r.Signature)) {
			used = i
			break
		}
	}
	if used < 0 {
		return -1, ErrBadSignature
	}
	// Kept in the database, under a unique key, for twice the window: any
	// replay within the window collides, even after a Redis restart.
	err := nonces.UseNonce(ctx, callerID, r.Nonce, now.Add(2*Window))
	if errors.Is(err, models.ErrDuplicate) {
		return used, ErrNonceReused
	}
	if err != nil {
		return used, fmt.Errorf("partner: nonce: %w", err)
	}
	return used, nil
}

// DeleteExpiredNonces forgets the nonces no request can use any more (the
// janitor calls it).
func (k *Keys) DeleteExpiredNonces(ctx context.Context) (int64, error) {
	return k.store.DeleteExpiredNonces(ctx, k.now())
}

// Signed is the headers of a signed answer.
type Signed struct {
	Timestamp, Nonce, Signature string
}

// SignAnswer signs an answer to a partner: status, timestamp, nonce, body.
func (k *Keys) SignAnswer(p models.Partner, status int, body []byte) Signed {
	return SignAnswer([]byte(p.Secret), k.now(), status, body)
}

// SignAnswer signs an answer with secret: status, timestamp, nonce, body.
func SignAnswer(secret []byte, now time.Time, status int, body []byte) Signed {
	s := Signed{Timestamp: strconv.FormatInt(now.Unix(), 10), Nonce: randhex.New(16)}
	s.Signature = Sign(secret, strconv.Itoa(status), s.Timestamp, s.Nonce, string(body))
	return s
}

// Forget drops a partner from this replica's cache, after staff changed
// it (other replicas follow within keyTTL).
func (k *Keys) Forget(id string) {
	k.mu.Lock()
	delete(k.cache, id)
	k.mu.Unlock()
}
