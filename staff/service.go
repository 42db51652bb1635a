package staff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"gaspay/models"
	"gaspay/rediskv"
)

// Errors the service returns; test them with errors.Is.
var (
	// ErrBadCredentials: unknown name, wrong password or disabled staff,
	// all alike.
	ErrBadCredentials = errors.New("staff: wrong name or password")
	// ErrOTPRequired: the password was right and a TOTP code is needed
	// (or the one given was wrong or already used).
	ErrOTPRequired = errors.New("staff: one-time code required")
	// ErrTOTPSetupRequired: production requires admins to have a second
	// factor, and this one has none.
	ErrTOTPSetupRequired = errors.New("staff: admin needs a second factor in production")
	// ErrTooManyAttempts: too many failed logins for the name or the IP.
	ErrTooManyAttempts = errors.New("staff: too many failed logins")
	// ErrInvalidSession: no such session, or it was idle too long.
	ErrInvalidSession = errors.New("staff: session invalid or expired")
	// ErrBadCSRF: a state-changing request without the session's token.
	ErrBadCSRF = errors.New("staff: missing or wrong CSRF token")
	// ErrNameTaken: a member of staff already has the name.
	ErrNameTaken = errors.New("staff: name taken")
	// ErrNotFound: no member of staff has the name.
	ErrNotFound = errors.New("staff: not found")
	// ErrInvalid: a malformed name or role.
	ErrInvalid = errors.New("staff: invalid name or role")
)

// Config holds the service's rules.
type Config struct {
	// Production requires a second factor of admins.
	Production bool
	// IdleTTL ends a session not used for this long.
	IdleTTL time.Duration
	// FailLimit failed logins per FailWindow, per name and per IP.
	FailLimit  int
	FailWindow time.Duration
}

// Service keeps staff, their logins and sessions.
type Service struct {
	store *models.Store
	rdb   *rediskv.Client
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	// beforeSession, when set, runs in Login after every check has passed
	// and before the session is registered: tests land a Disable or a
	// ResetPassword in that window (export_test.go).
	beforeSession func()
}

// NewService makes the service; rdb may be nil for the command line, which
// neither logs in nor keeps sessions.
func NewService(store *models.Store, rdb *rediskv.Client, cfg Config, log *slog.Logger) *Service {
	if cfg.IdleTTL == 0 {
		cfg.IdleTTL = 8 * time.Hour
	}
	if cfg.FailLimit == 0 {
		cfg.FailLimit, cfg.FailWindow = 5, 15*time.Minute
	}
	return &Service{store: store, rdb: rdb, cfg: cfg, log: log, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,31}$`)

// ValidName accepts a staff login name: lower-case letters, digits, dot,
// dash, underscore, 2 to 32, starting with a letter.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// Added is a new member of staff; TOTPSecret is shown once.
type Added struct {
	Staff      models.Staff
	TOTPSecret string
	TOTPURI    string
}

// Add creates a member of staff, with a TOTP secret when withTOTP.
// Errors: ErrInvalid, ErrWeakPassword, ErrNameTaken, ErrTOTPSetupRequired
// (an admin without a second factor in production).
func (s *Service) Add(ctx context.Context, by Actor, name string, role Role, password string, withTOTP bool) (Added, error) {
	if !ValidName(name) {
		return Added{}, ErrInvalid
	}
	if _, ok := ParseRole(string(role)); !ok {
		return Added{}, ErrInvalid
	}
	if role == Admin && s.cfg.Production && !withTOTP {
		return Added{}, ErrTOTPSetupRequired
	}
	hash, err := HashPassword(password)
	if err != nil {
		return Added{}, err
	}
	now := s.now().UTC()
	st := models.Staff{Name: name, Role: string(role), PasswordHash: hash, Active: true, CreatedAt: now, UpdatedAt: now}
	var out Added
	if withTOTP {
		sec, err := NewTOTPSecret()
		if err != nil {
			return Added{}, err
		}
		st.TOTPSecret = &sec
		out.TOTPSecret, out.TOTPURI = sec, TOTPURI(sec, name)
	}
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateStaff(ctx, &st); err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, "staff.add", "staff:"+name, nil,
			map[string]any{"name": name, "role": role, "totp": withTOTP}, "")
	})
	if errors.Is(err, models.ErrDuplicate) {
		return Added{}, ErrNameTaken
	}
	out.Staff = st
	return out, err
}

// change applies set to the named member of staff with an audit entry,
// then ends their sessions. The row is locked while set decides, so the
// audit's "before" is what the previous change left.
func (s *Service) change(ctx context.Context, by Actor, name, action string, set func(models.Staff) (map[string]any, any, any, error)) error {
	now := s.now().UTC()
	var id int64
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		st, err := tx.LockStaffByName(ctx, name)
		if errors.Is(err, models.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		id = st.ID
		cols, before, after, err := set(st)
		if err != nil {
			return err
		}
		cols["updated_at"] = now
		if err := tx.UpdateStaff(ctx, st.ID, cols); err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, action, "staff:"+name, before, after, "")
	})
	if err != nil {
		return err
	}
	if s.rdb != nil {
		return s.revokeAll(ctx, id)
	}
	return nil
}

// Disable stops a member of staff logging in and ends their sessions.
// Errors: ErrNotFound.
func (s *Service) Disable(ctx context.Context, by Actor, name string) error {
	return s.change(ctx, by, name, "staff.disable", func(st models.Staff) (map[string]any, any, any, error) {
		return map[string]any{"active": false}, map[string]any{"active": st.Active}, map[string]any{"active": false}, nil
	})
}

// ResetPassword gives a member of staff a new password (and re-enables
// them), ending their sessions.
// Errors: ErrNotFound, ErrWeakPassword.
func (s *Service) ResetPassword(ctx context.Context, by Actor, name, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return s.change(ctx, by, name, "staff.reset_password", func(st models.Staff) (map[string]any, any, any, error) {
		// The hash itself is never audited.
		return map[string]any{"password_hash": hash, "active": true}, map[string]any{"active": st.Active},
			map[string]any{"active": true, "password": "changed"}, nil
	})
}

// Session is a logged-in member of staff.
type Session struct {
	StaffID   int64     `json:"sid"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CSRF      string    `json:"csrf"`
	CreatedAt time.Time `json:"created"`
}

// Actor is the session's actor for a request from ip.
func (se Session) Actor(ip, requestID string) Actor {
	id := se.StaffID
	return Actor{StaffID: &id, Name: se.Name, Role: se.Role, IP: ip, RequestID: requestID}
}

// CheckCSRF compares a request's X-CSRF-Token with the session's.
func (se Session) CheckCSRF(token string) error {
	if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(se.CSRF)) != 1 {
		return ErrBadCSRF
	}
	return nil
}

// Login checks a name, password and (when the staff has one) TOTP code,
// and starts a session. Every attempt counts against the name and the IP
// before anything is checked; a success gives both back.
// Errors: ErrTooManyAttempts, ErrBadCredentials, ErrOTPRequired,
// ErrTOTPSetupRequired.
func (s *Service) Login(ctx context.Context, name, password, otp, ip, requestID string) (Session, string, error) {
	keys := []string{s.rdb.Key("stafffail", "name", hashKey(name)), s.rdb.Key("stafffail", "ip", ip)}
	if err := s.takeAttempt(ctx, keys); err != nil {
		return Session{}, "", err
	}
	now := s.now().UTC()
	actor := Actor{Name: name, IP: ip, RequestID: requestID}
	if !ValidName(name) {
		actor.Name = "?"
	}
	fail := func(why error, note string) (Session, string, error) {
		if err := s.store.Tx(ctx, func(tx *models.Store) error {
			return actor.Audit(ctx, tx, now, "staff.login_failed", "staff:"+actor.Name, nil, nil, note)
		}); err != nil {
			return Session{}, "", err
		}
		return Session{}, "", why
	}
	st, err := s.store.StaffByName(ctx, name)
	if errors.Is(err, models.ErrNotFound) || !ValidName(name) {
		// Spend the time a hash check takes, so that an unknown name does
		// not answer faster than a known one.
		CheckPassword(dummyHash, password)
		return fail(ErrBadCredentials, "unknown name")
	}
	if err != nil {
		return Session{}, "", err
	}
	ok, err := CheckPassword(st.PasswordHash, password)
	if err != nil {
		return Session{}, "", fmt.Errorf("staff: %s: %w", name, err)
	}
	if !ok || !st.Active {
		return fail(ErrBadCredentials, map[bool]string{true: "wrong password", false: "disabled"}[st.Active])
	}
	role := Role(st.Role)
	actor.StaffID, actor.Role = &st.ID, role
	if st.TOTPSecret == nil && role == Admin && s.cfg.Production {
		return fail(ErrTOTPSetupRequired, "admin without a second factor")
	}
	if st.TOTPSecret != nil {
		step, ok := checkTOTP(*st.TOTPSecret, otp, s.now())
		if !ok {
			return fail(ErrOTPRequired, map[bool]string{true: "no code", false: "wrong code"}[otp == ""])
		}
		// A code is good once: an observed code cannot be replayed.
		fresh, err := s.rdb.SetNX(ctx, s.rdb.Key("stafftotp", strconv.FormatInt(st.ID, 10), strconv.FormatInt(step, 10)), 1, 3*totpStep*time.Second).Result()
		if err != nil {
			return Session{}, "", err
		}
		if !fresh {
			return fail(ErrOTPRequired, "code already used")
		}
	}
	s.giveBack(ctx, keys)
	if s.beforeSession != nil {
		s.beforeSession()
	}
	sess := Session{StaffID: st.ID, Name: st.Name, Role: role, CSRF: randomToken(), CreatedAt: now}
	token := "gst_" + randomToken()
	raw, err := json.Marshal(sess)
	if err != nil {
		return Session{}, "", err
	}
	k, sk := s.sessionKey(token), s.staffKey(st.ID)
	// The staff member's set of sessions first, and on its own: in a Redis
	// Cluster the set and the session live in different slots, and a
	// session must never exist that the set does not name (disabling ends
	// them through it).
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, sk, k)
		p.Expire(ctx, sk, maxSessionAge+time.Hour)
		return nil
	}); err != nil {
		return Session{}, "", fmt.Errorf("staff: session: %w", err)
	}
	if err := s.rdb.Set(ctx, k, raw, s.cfg.IdleTTL).Err(); err != nil {
		return Session{}, "", fmt.Errorf("staff: session: %w", err)
	}
	// No session may outlive a Disable or a ResetPassword. A change
	// commits, and only then does its revokeAll read the set (SMEMBERS) and
	// delete each session it names. The row was read above, before this
	// session existed, so a change committed since then found nothing to
	// end. Read the row again now that the set entry and the session are
	// written:
	//   - if the read sees the change, the session is ended here;
	//   - if it does not, it began before the change's commit returned, so
	//     the SADD and the SET above came before revokeAll's SMEMBERS and
	//     DEL, and revokeAll ends the session.
	// This needs the read to be a statement of its own on the primary (a
	// fresh snapshot, not a transaction opened before the commit), and
	// revokeAll to leave in the set what it did not read. Every change
	// writes a new hash (a fresh salt each time) or clears active.
	cur, err := s.store.StaffByID(ctx, st.ID)
	if err != nil || !cur.Active || cur.PasswordHash != st.PasswordHash {
		if derr := s.endSession(ctx, st.ID, k); derr != nil {
			return Session{}, "", errors.Join(err, derr)
		}
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return Session{}, "", fmt.Errorf("staff: %s: %w", name, err)
		}
		return fail(ErrBadCredentials, "changed during login")
	}
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		return actor.Audit(ctx, tx, now, "staff.login", "staff:"+name, nil, nil, "")
	})
	return sess, token, err
}

// maxSessionAge ends a session however busy, at most this long after its
// login. The member's set of sessions, which Disable and ResetPassword end
// them through, lives an hour longer (from the latest login): a session
// older than the set could be missing from it, and outlive a disable.
const maxSessionAge = 7 * 24 * time.Hour

// dummyHash is checked against when the name is unknown.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$3oeJX8Vn0nKq4ZTWi9k0XG7BZq3rE2l4xKf8lPp1xjA"

// Session returns the session of a token and keeps it alive for another
// idle period, up to maxSessionAge after its login. It never reads the
// database: Disable and ResetPassword end sessions in Redis, and Login
// makes sure none it starts escapes them.
// Errors: ErrInvalidSession.
func (s *Service) Session(ctx context.Context, token string) (Session, error) {
	if len(token) < 10 || len(token) > 100 || token[:4] != "gst_" {
		return Session{}, ErrInvalidSession
	}
	k := s.sessionKey(token)
	raw, err := s.rdb.GetEx(ctx, k, s.cfg.IdleTTL).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrInvalidSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("staff: session: %w", err)
	}
	var se Session
	if err := json.Unmarshal(raw, &se); err != nil {
		return Session{}, fmt.Errorf("staff: session record: %w", err)
	}
	if s.now().Sub(se.CreatedAt) >= maxSessionAge {
		return Session{}, ErrInvalidSession
	}
	return se, nil
}

// Logout ends a session, with an audit entry.
func (s *Service) Logout(ctx context.Context, token string, by Actor) error {
	se, err := s.Session(ctx, token)
	if errors.Is(err, ErrInvalidSession) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.endSession(ctx, se.StaffID, s.sessionKey(token)); err != nil {
		return err
	}
	return s.store.Tx(ctx, func(tx *models.Store) error {
		return by.Audit(ctx, tx, s.now(), "staff.logout", "staff:"+se.Name, nil, nil, "")
	})
}

// revokeAll ends every session of a member of staff.
func (s *Service) revokeAll(ctx context.Context, staffID int64) error {
	sk := s.staffKey(staffID)
	keys, err := s.rdb.SMembers(ctx, sk).Result()
	if err != nil {
		return fmt.Errorf("staff: revoke: %w", err)
	}
	// One key per DEL: the keys live in different cluster slots.
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("staff: revoke: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	// Only the members read above leave the set, never the whole set: a
	// Login after the change may have added its session since, and a
	// session the set does not name could never be ended.
	members := make([]any, len(keys))
	for i, k := range keys {
		members[i] = k
	}
	if err := s.rdb.SRem(ctx, sk, members...).Err(); err != nil {
		return fmt.Errorf("staff: revoke: %w", err)
	}
	return nil
}

// endSession ends one session (its key k) of a member of staff.
func (s *Service) endSession(ctx context.Context, staffID int64, k string) error {
	// The session first: once it is gone the cookie is dead.
	if err := s.rdb.Del(ctx, k).Err(); err != nil {
		return fmt.Errorf("staff: end session: %w", err)
	}
	if err := s.rdb.SRem(ctx, s.staffKey(staffID), k).Err(); err != nil {
		return fmt.Errorf("staff: end session: %w", err)
	}
	return nil
}

func (s *Service) sessionKey(token string) string { return s.rdb.Key("staffsess", hashKey(token)) }

func (s *Service) staffKey(id int64) string {
	return s.rdb.Key("staffsessions", strconv.FormatInt(id, 10))
}

// takeAttempt counts an attempt against every key, refusing once any is
// over the limit.
func (s *Service) takeAttempt(ctx context.Context, keys []string) error {
	for _, k := range keys {
		n, err := s.rdb.Incr(ctx, k).Result()
		if err != nil {
			return fmt.Errorf("staff: login limit: %w", err)
		}
		if n == 1 {
			s.rdb.Expire(ctx, k, s.cfg.FailWindow)
		}
		if n > int64(s.cfg.FailLimit) {
			return ErrTooManyAttempts
		}
	}
	return nil
}

func (s *Service) giveBack(ctx context.Context, keys []string) {
	for _, k := range keys {
		s.rdb.Decr(ctx, k)
	}
}

func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("staff: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// List lists every member of staff (never their hashes or secrets).
func (s *Service) List(ctx context.Context) ([]models.Staff, error) {
	return s.store.ListStaff(ctx)
}
