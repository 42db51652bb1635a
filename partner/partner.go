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
// nonce unused (kept in Redis) so that a captured request cannot be played
// again. Answers are signed the same way over status, timestamp, nonce and
// body, so the partner knows they are ours.
package partner

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

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
	return p, Verify(ctx, k.rdb, k.now(), "partner", p.PartnerID, []byte(p.Secret), r)
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

// Verify checks a request signed with secret by the caller id of a kind of
// caller (scope: "partner", "kiosk"): its shape, a timestamp within the
// window, the signature, and, last, a nonce not used before by that caller.
// Every API signed this way (partners, kiosks) goes through it.
// Errors: ErrMalformed, ErrStale, ErrBadSignature, ErrNonceReused.
func Verify(ctx context.Context, rdb *rediskv.Client, now time.Time, scope, id string, secret []byte, r Request) error {
	if err := checkShape(r); err != nil {
		return err
	}
	ts, _ := strconv.ParseInt(r.Timestamp, 10, 64)
	if d := now.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return ErrStale
	}
	want := Sign(secret, r.Method, r.Path, r.Timestamp, r.Nonce, string(r.Body))
	if !hmac.Equal([]byte(want), []byte(r.Signature)) {
		return ErrBadSignature
	}
	// Kept twice the window: any replay within the window finds it.
	ok, err := rdb.SetNX(ctx, rdb.Key(scope, "nonce", id, r.Nonce), 1, 2*Window).Result()
	if err != nil {
		return fmt.Errorf("%s: nonce: %w", scope, err)
	}
	if !ok {
		return ErrNonceReused
	}
	return nil
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
	b := make([]byte, 16)
	rand.Read(b)
	s := Signed{Timestamp: strconv.FormatInt(now.Unix(), 10), Nonce: hex.EncodeToString(b)}
	s.Signature = Sign(secret, strconv.Itoa(status), s.Timestamp, s.Nonce, string(body))
	return s
}
