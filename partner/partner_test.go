package partner_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"

	"gaspay/internal/testenv"
	"gaspay/models"
	"gaspay/partner"
)

const key = "lakala-shared-secret-0123456789"

// The canonical string is METHOD, PATH with its query, timestamp, nonce
// and body, joined by "\n", under HMAC-SHA256, in lower-case hex. The
// vectors were computed with openssl (`printf … | openssl dgst -sha256
// -hmac …`), not with this package.
func TestSignCanonicalString(t *testing.T) {
	for _, v := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"POST with a query and a body", []string{"POST", "/partner/v1/pay?x=1", "1764230400", "n0nce-0001", `{"serial":"S1","amount_fen":100}`},
			"f240e71d71fc067117a6b37617f30e015e9527997397d2473bf9d37213e7204f"},
		{"GET with an empty body", []string{"GET", "/partner/v1/reconciliation?date=2026-11-27", "1764230400", "n0nce-0002", ""},
			"874ef1484515ae89d6a336f1e6457aae212463a4848a8e3ea33aab12971bb03b"},
	} {
		t.Run(v.name, func(t *testing.T) {
			if got := partner.Sign([]byte(key), v.lines...); got != v.want {
				t.Fatalf("Sign = %s, want %s", got, v.want)
			}
		})
	}
}

type env struct {
	store *models.Store
	keys  *partner.Keys
}

func newEnv(t *testing.T) env {
	t.Helper()
	s := models.NewStore(testenv.DB(t))
	return env{store: s, keys: partner.NewKeys(s, testenv.Redis(t))}
}

func (e env) savePartner(t *testing.T, p models.Partner) {
	t.Helper()
	now := time.Now().UTC()
	p.CreatedAt, p.UpdatedAt = now, now
	if err := e.store.SavePartner(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
}

// signed is a request as a partner signs it, at ts, with secret, under a
// fresh nonce.
func signed(id, secret string, ts time.Time, body string) partner.Request {
	b := make([]byte, 12)
	rand.Read(b)
	r := partner.Request{PartnerID: id, Timestamp: strconv.FormatInt(ts.Unix(), 10), Nonce: hex.EncodeToString(b),
		Method: "POST", Path: "/partner/v1/pay", Body: []byte(body)}
	r.Signature = partner.Sign([]byte(secret), r.Method, r.Path, r.Timestamp, r.Nonce, string(r.Body))
	return r
}

func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.savePartner(t, models.Partner{PartnerID: "lakala", Name: "拉卡拉", Secret: key, Active: true})
	e.savePartner(t, models.Partner{PartnerID: "icbc", Name: "工行", Secret: "icbc-secret-0123456789", Active: true})
	e.savePartner(t, models.Partner{PartnerID: "gone", Name: "停用", Secret: "gone-secret-0123456789", Active: false})
	now := time.Now()
	body := `{"serial":"S1","user_number":"031120001","amount_fen":100}`

	for _, c := range []struct {
		name string
		req  func() partner.Request
		want error
	}{
		{"genuine", func() partner.Request { return signed("lakala", key, now, body) }, nil},
		{"four minutes old", func() partner.Request { return signed("lakala", key, now.Add(-4*time.Minute), body) }, nil},
		{"six minutes old", func() partner.Request { return signed("lakala", key, now.Add(-6*time.Minute), body) }, partner.ErrStale},
		{"six minutes ahead", func() partner.Request { return signed("lakala", key, now.Add(6*time.Minute), body) }, partner.ErrStale},
		{"wrong key", func() partner.Request { return signed("lakala", "icbc-secret-0123456789", now, body) }, partner.ErrBadSignature},
		{"body changed", func() partner.Request {
			r := signed("lakala", key, now, body)
			r.Body = []byte(`{"serial":"S1","user_number":"031120001","amount_fen":10000}`)
			return r
		}, partner.ErrBadSignature},
		{"path changed", func() partner.Request {
			r := signed("lakala", key, now, body)
			r.Path = "/partner/v1/pay?amount_fen=1"
			return r
		}, partner.ErrBadSignature},
		{"method changed", func() partner.Request {
			r := signed("lakala", key, now, body)
			r.Method = "PUT"
			return r
		}, partner.ErrBadSignature},
		{"timestamp changed", func() partner.Request {
			r := signed("lakala", key, now, body)
			r.Timestamp = strconv.FormatInt(now.Unix()-1, 10)
			return r
		}, partner.ErrBadSignature},
		{"signed by another partner's key as that partner", func() partner.Request {
			r := signed("icbc", key, now, body)
			return r
		}, partner.ErrBadSignature},
		{"unknown partner", func() partner.Request { return signed("nobody", key, now, body) }, partner.ErrUnknownPartner},
		{"inactive partner", func() partner.Request { return signed("gone", "gone-secret-0123456789", now, body) }, partner.ErrUnknownPartner},
		{"malformed id", func() partner.Request { return signed("la kala", key, now, body) }, partner.ErrUnknownPartner},
		{"short nonce", func() partner.Request {
			r := signed("lakala", key, now, body)
			r.Nonce = "abc"
			return r
		}, partner.ErrMalformed},
		{"upper-case signature", func() partner.Request {
			r := signed("lakala", key, now, body)
			r.Signature = "F" + r.Signature[1:]
			return r
		}, partner.ErrMalformed},
		{"timestamp not a number", func() partner.Request {
			r := signed("lakala", key, now, body)
			r.Timestamp = "yesterday"
			return r
		}, partner.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := e.keys.Authenticate(ctx, c.req())
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Authenticate: %v, want %v", err, c.want)
			}
			if c.want == nil && p.PartnerID != "lakala" {
				t.Fatalf("authenticated as %q", p.PartnerID)
			}
			if c.want != nil && !partner.IsAuthFailure(err) {
				t.Fatalf("%v is not an authentication failure", err)
			}
		})
	}
}

// A nonce is used once per partner: a replay is refused, another partner
// may use the same nonce, and a request refused for its signature does not
// use the nonce up (a forger cannot burn a genuine request's nonce).
func TestNonceReplay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.savePartner(t, models.Partner{PartnerID: "lakala", Name: "拉卡拉", Secret: key, Active: true})
	e.savePartner(t, models.Partner{PartnerID: "icbc", Name: "工行", Secret: "icbc-secret-0123456789", Active: true})
	now := time.Now()
	r := signed("lakala", key, now, `{}`)

	forged := r
	forged.Body = []byte(`{"amount_fen":1}`)
	if _, err := e.keys.Authenticate(ctx, forged); !errors.Is(err, partner.ErrBadSignature) {
		t.Fatalf("forged: %v", err)
	}
	if _, err := e.keys.Authenticate(ctx, r); err != nil {
		t.Fatalf("genuine after a forgery with its nonce: %v", err)
	}
	if _, err := e.keys.Authenticate(ctx, r); !errors.Is(err, partner.ErrNonceReused) {
		t.Fatalf("replay: %v", err)
	}
	other := r
	other.PartnerID = "icbc"
	other.Signature = partner.Sign([]byte("icbc-secret-0123456789"), other.Method, other.Path, other.Timestamp, other.Nonce, string(other.Body))
	if _, err := e.keys.Authenticate(ctx, other); err != nil {
		t.Fatalf("the same nonce from another partner: %v", err)
	}
}

// Nonces are kept for twice the window, then forgotten: by then the
// timestamp of any request that used them is stale.
func TestNonceExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	secrets := [][]byte{[]byte(key)}
	old := now.Add(-2*partner.Window - time.Minute)
	r := signed("lakala", key, old, `{}`)
	if _, err := partner.Verify(ctx, e.store, old, "lakala", secrets, r); err != nil {
		t.Fatal(err)
	}
	fresh := signed("lakala", key, now, `{}`)
	if _, err := partner.Verify(ctx, e.store, now, "lakala", secrets, fresh); err != nil {
		t.Fatal(err)
	}
	n, err := e.keys.DeleteExpiredNonces(ctx)
	if err != nil || n != 1 {
		t.Fatalf("deleted %d nonces (%v), want the expired one", n, err)
	}
	// The old request itself is now stale by its timestamp ...
	if _, err := partner.Verify(ctx, e.store, now, "lakala", secrets, r); !errors.Is(err, partner.ErrStale) {
		t.Fatalf("old request now: %v", err)
	}
	// ... and the fresh nonce is still kept.
	if _, err := partner.Verify(ctx, e.store, now, "lakala", secrets, fresh); !errors.Is(err, partner.ErrNonceReused) {
		t.Fatalf("fresh replay after the clean-up: %v", err)
	}
}

// After a rotation the previous key works until its grace period ends, and
// the answer to it is signed with it.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	prev := "the-previous-secret-0123456789"
	until := time.Now().Add(time.Hour)
	e.savePartner(t, models.Partner{PartnerID: "lakala", Name: "拉卡拉", Secret: key, Active: true, PreviousSecret: &prev, PreviousUntil: &until})
	e.savePartner(t, models.Partner{PartnerID: "icbc", Name: "工行", Secret: key, Active: true, PreviousSecret: &prev,
		PreviousUntil: ptr(time.Now().Add(-time.Minute))})

	p, err := e.keys.Authenticate(ctx, signed("lakala", prev, time.Now(), `{}`))
	if err != nil || p.Secret != prev {
		t.Fatalf("previous key in its grace period: %v (answer key is the previous: %v)", err, p.Secret == prev)
	}
	p, err = e.keys.Authenticate(ctx, signed("lakala", key, time.Now(), `{}`))
	if err != nil || p.Secret != key {
		t.Fatalf("new key: %v", err)
	}
	if _, err := e.keys.Authenticate(ctx, signed("icbc", prev, time.Now(), `{}`)); !errors.Is(err, partner.ErrBadSignature) {
		t.Fatalf("previous key after its grace period: %v", err)
	}
}

// A partner deactivated by staff is refused once the replica forgets its
// cached key (at once where staff acted, within a minute elsewhere).
func TestDeactivatedPartnerForgotten(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.savePartner(t, models.Partner{PartnerID: "lakala", Name: "拉卡拉", Secret: key, Active: true})
	if _, err := e.keys.Authenticate(ctx, signed("lakala", key, time.Now(), `{}`)); err != nil {
		t.Fatal(err)
	}
	e.savePartner(t, models.Partner{PartnerID: "lakala", Name: "拉卡拉", Secret: key, Active: false})
	if _, err := e.keys.Authenticate(ctx, signed("lakala", key, time.Now(), `{}`)); err != nil {
		t.Fatalf("cached for a minute: %v", err)
	}
	e.keys.Forget("lakala")
	if _, err := e.keys.Authenticate(ctx, signed("lakala", key, time.Now(), `{}`)); !errors.Is(err, partner.ErrUnknownPartner) {
		t.Fatalf("after Forget: %v", err)
	}
}

type failingNonces struct{}

func (failingNonces) UseNonce(context.Context, string, string, time.Time) error {
	return errors.New("database down")
}

// Storage failing while the nonce is recorded is not a refusal of the
// request: the caller answers "try again", not "unauthorised".
func TestNonceStorageFailureIsNotAnAuthFailure(t *testing.T) {
	now := time.Now()
	_, err := partner.Verify(context.Background(), failingNonces{}, now, "lakala", [][]byte{[]byte(key)}, signed("lakala", key, now, `{}`))
	if err == nil || partner.IsAuthFailure(err) {
		t.Fatalf("storage failure: %v (auth failure: %v)", err, partner.IsAuthFailure(err))
	}
}

// An answer is signed over status, timestamp, nonce and body.
func TestSignAnswer(t *testing.T) {
	now := time.Unix(1764230400, 0)
	a := partner.SignAnswer([]byte(key), now, 409, []byte(`{"code":"serial_reused"}`))
	if a.Timestamp != "1764230400" || len(a.Nonce) != 32 {
		t.Fatalf("answer headers %+v", a)
	}
	if want := partner.Sign([]byte(key), "409", a.Timestamp, a.Nonce, `{"code":"serial_reused"}`); a.Signature != want {
		t.Fatalf("signature %s, want %s", a.Signature, want)
	}
	if b := partner.SignAnswer([]byte(key), now, 409, []byte(`{"code":"serial_reused"}`)); b.Nonce == a.Nonce {
		t.Fatal("two answers share a nonce")
	}
}

func ptr[T any](v T) *T { return &v }
