package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"gaspay/models"
	"gaspay/rediskv"
)

// ErrInvalidSession: the token is unknown, expired or revoked.
var ErrInvalidSession = errors.New("auth: session invalid or expired")

// tokenPrefix marks gaspay tokens, so that a token found in a log or a
// paste is recognisable (and scanners can flag it).
const tokenPrefix = "gps_"

// Session is a logged-in WeChat user.
type Session struct {
	UserID    int64          `json:"uid"`
	AppKind   models.AppKind `json:"app"`
	AppID     string         `json:"appid"`
	OpenID    string         `json:"openid"`
	ExpiresAt time.Time      `json:"exp"`

	// sessionKey is the mini-program's session_key; unexported so it
	// cannot reach a JSON response by accident.
	sessionKey string
}

// SessionKey is the mini-program session_key, for decrypting data the
// mini-program sends (never for sending anywhere).
func (s Session) SessionKey() string { return s.sessionKey }

// record is what Redis stores.
type record struct {
	Session
	SK string `json:"sk,omitempty"`
}

// Sessions creates, reads and revokes sessions.
type Sessions struct {
	rdb *rediskv.Client
	ttl time.Duration
	now func() time.Time
}

// NewSessions keeps sessions in rdb for ttl.
func NewSessions(rdb *rediskv.Client, ttl time.Duration) *Sessions {
	return &Sessions{rdb: rdb, ttl: ttl, now: time.Now}
}

func (s *Sessions) key(token string) string {
	sum := sha256.Sum256([]byte(token))
	return s.rdb.Key("sess", hex.EncodeToString(sum[:]))
}

func (s *Sessions) userKey(userID int64) string {
	return s.rdb.Key("sessu", strconv.FormatInt(userID, 10))
}

// Create starts a session and returns its token and expiry.
func (s *Sessions) Create(ctx context.Context, sess Session, sessionKey string) (token string, expires time.Time, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", expires, err
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	sess.ExpiresAt = s.now().Add(s.ttl).UTC().Truncate(time.Second)
	raw, err := json.Marshal(record{Session: sess, SK: sessionKey})
	if err != nil {
		return "", expires, err
	}
	k, uk := s.key(token), s.userKey(sess.UserID)
	// The user's set of sessions lets staff (or the user) end them all.
	// It is written first, and on its own: in a Redis Cluster the session
	// and the set live in different slots, so no transaction spans them,
	// and a session must never exist that the set does not name.
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, uk, k)
		p.Expire(ctx, uk, s.ttl)
		return nil
	})
	if err == nil {
		err = s.rdb.Set(ctx, k, raw, s.ttl).Err()
	}
	if err != nil {
		return "", expires, fmt.Errorf("auth: session create: %w", err)
	}
	return token, sess.ExpiresAt, nil
}

// Get returns the session of a token.
// Errors: ErrInvalidSession for an unknown, expired or revoked token.
func (s *Sessions) Get(ctx context.Context, token string) (Session, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 100 {
		return Session{}, ErrInvalidSession
	}
	raw, err := s.rdb.Get(ctx, s.key(token)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrInvalidSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("auth: session get: %w", err)
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Session{}, fmt.Errorf("auth: session corrupt record: %w", err)
	}
	r.Session.sessionKey = r.SK
	return r.Session, nil
}

// Revoke ends one session.
func (s *Sessions) Revoke(ctx context.Context, token string) error {
	sess, err := s.Get(ctx, token)
	if errors.Is(err, ErrInvalidSession) {
		return nil
	}
	if err != nil {
		return err
	}
	// The session first: once it is gone the token is dead, whatever
	// becomes of the index.
	k := s.key(token)
	if err := s.rdb.Del(ctx, k).Err(); err != nil {
		return err
	}
	return s.rdb.SRem(ctx, s.userKey(sess.UserID), k).Err()
}

// RevokeUser ends every session of a user.
func (s *Sessions) RevokeUser(ctx context.Context, userID int64) error {
	uk := s.userKey(userID)
	keys, err := s.rdb.SMembers(ctx, uk).Result()
	if err != nil {
		return fmt.Errorf("auth: session revoke user: %w", err)
	}
	// One key per DEL: the keys live in different cluster slots.
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("auth: session revoke user: %w", err)
	}
	return s.rdb.Del(ctx, uk).Err()
}
