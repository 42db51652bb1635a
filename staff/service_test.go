package staff_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"gaspay/internal/testenv"
	"gaspay/models"
	"gaspay/staff"
)

// In production an admin needs a second factor: one cannot be added
// without it, and one that has none cannot log in.
func TestProductionAdminNeedsTOTP(t *testing.T) {
	store := models.NewStore(testenv.DB(t))
	svc := staff.NewService(store, testenv.Redis(t), staff.Config{Production: true}, testenv.Logger())
	ctx := context.Background()
	cli := staff.Actor{Name: staff.CLIActor, Role: staff.Admin}
	if _, err := svc.Add(ctx, cli, "root", staff.Admin, "long-enough-password", false); !errors.Is(err, staff.ErrTOTPSetupRequired) {
		t.Fatalf("admin without TOTP: %v", err)
	}
	if _, err := svc.Add(ctx, cli, "clerk", staff.Operator, "long-enough-password", false); err != nil {
		t.Fatalf("operator without TOTP: %v", err)
	}
	// One made before production: refused at login.
	dev := staff.NewService(store, testenv.Redis(t), staff.Config{}, testenv.Logger())
	if _, err := dev.Add(ctx, cli, "old-admin", staff.Admin, "long-enough-password", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Login(ctx, "old-admin", "long-enough-password", "", "10.0.0.1", "r1"); !errors.Is(err, staff.ErrTOTPSetupRequired) {
		t.Fatalf("admin login without TOTP in production: %v", err)
	}
	if _, _, err := svc.Login(ctx, "clerk", "long-enough-password", "", "10.0.0.1", "r2"); err != nil {
		t.Fatalf("operator login: %v", err)
	}
	if _, err := svc.Add(ctx, cli, "clerk", staff.Viewer, "long-enough-password", false); !errors.Is(err, staff.ErrNameTaken) {
		t.Fatalf("name taken: %v", err)
	}
	if _, err := svc.Add(ctx, cli, "Bad Name", staff.Viewer, "long-enough-password", false); !errors.Is(err, staff.ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	var n int64
	store.DB().Model(&models.AuditEntry{}).Where("action = ?", "staff.add").Count(&n)
	if n != 2 {
		t.Fatalf("%d staff.add audit rows, want 2", n)
	}
}

// Changes to one member of staff at once (disables and password resets,
// interleaved): each audit entry's "before" is what the change before it
// left, so the trail read in order replays the row. Without the row's lock
// a change could decide and audit on a read the previous change had
// already made stale: "before: active" right after a disable.
func TestConcurrentStaffChanges(t *testing.T) {
	const n = 20
	store := models.NewStore(testenv.DB(t))
	svc := staff.NewService(store, testenv.Redis(t), staff.Config{}, testenv.Logger())
	ctx := context.Background()
	cli := staff.Actor{Name: staff.CLIActor, Role: staff.Admin}
	if _, err := svc.Add(ctx, cli, "clerk", staff.Operator, "long-enough-password", false); err != nil {
		t.Fatal(err)
	}

	errs := testenv.AtOnce(n, func(i int) error {
		if i%2 == 0 {
			return svc.Disable(ctx, cli, "clerk")
		}
		return svc.ResetPassword(ctx, cli, "clerk", fmt.Sprintf("new-password-%02d", i))
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	var entries []models.AuditEntry
	if err := store.DB().Where("target = ? AND action IN ?", "staff:clerk", []string{"staff.disable", "staff.reset_password"}).
		Order("id").Find(&entries).Error; err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Fatalf("%d audit entries, want %d", len(entries), n)
	}
	active := true // as added
	for _, e := range entries {
		var before, after struct{ Active *bool }
		if e.BeforeJSON == nil || e.AfterJSON == nil || json.Unmarshal([]byte(*e.BeforeJSON), &before) != nil ||
			json.Unmarshal([]byte(*e.AfterJSON), &after) != nil || before.Active == nil || after.Active == nil {
			t.Fatalf("entry %d (%s): before %v, after %v", e.ID, e.Action, e.BeforeJSON, e.AfterJSON)
		}
		if *before.Active != active {
			t.Errorf("entry %d (%s): before active=%v, but the change before it left active=%v", e.ID, e.Action, *before.Active, active)
		}
		active = *after.Active
	}
	st, err := store.StaffByName(ctx, "clerk")
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != active {
		t.Errorf("clerk active=%v, the last audit entry says %v", st.Active, active)
	}
}

// A Disable or a ResetPassword that commits after Login has read the row
// and before it registers the session: the change's revocation runs before
// the session exists, so Login itself must notice and refuse, or the new
// session would outlive the change (Session never asks the database).
func TestChangeDuringLogin(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*staff.Service) error
		// password that logs in after the change, "" for none
		after string
	}{
		{"disable", func(svc *staff.Service) error {
			return svc.Disable(context.Background(), staff.Actor{Name: staff.CLIActor, Role: staff.Admin}, "clerk")
		}, ""},
		{"reset password", func(svc *staff.Service) error {
			return svc.ResetPassword(context.Background(), staff.Actor{Name: staff.CLIActor, Role: staff.Admin}, "clerk", "replacement-password")
		}, "replacement-password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := models.NewStore(testenv.DB(t))
			svc := staff.NewService(store, testenv.Redis(t), staff.Config{}, testenv.Logger())
			ctx := context.Background()
			if _, err := svc.Add(ctx, staff.Actor{Name: staff.CLIActor, Role: staff.Admin}, "clerk", staff.Operator, "long-enough-password", false); err != nil {
				t.Fatal(err)
			}
			changed := false
			svc.SetBeforeSession(func() {
				if !changed {
					changed = true
					if err := tc.change(svc); err != nil {
						t.Errorf("change: %v", err)
					}
				}
			})
			_, token, err := svc.Login(ctx, "clerk", "long-enough-password", "", "10.0.0.1", "r1")
			if !changed {
				t.Fatal("the hook did not run")
			}
			if !errors.Is(err, staff.ErrBadCredentials) {
				t.Errorf("login across the change: %v, want ErrBadCredentials", err)
			}
			if token != "" {
				if _, err := svc.Session(ctx, token); !errors.Is(err, staff.ErrInvalidSession) {
					t.Fatalf("the session started across the change is alive: %v", err)
				}
			}
			svc.SetBeforeSession(nil)
			if _, _, err := svc.Login(ctx, "clerk", "long-enough-password", "", "10.0.0.1", "r2"); !errors.Is(err, staff.ErrBadCredentials) {
				t.Errorf("old password after the change: %v", err)
			}
			if tc.after != "" {
				if _, _, err := svc.Login(ctx, "clerk", tc.after, "", "10.0.0.1", "r3"); err != nil {
					t.Errorf("new password after the change: %v", err)
				}
			}
		})
	}
}

// Disabling a member of staff, or resetting their password, ends every
// session they have; after a reset only the new password logs in, and the
// sessions it starts are ended by the next change in turn.
func TestChangesEndSessions(t *testing.T) {
	store := models.NewStore(testenv.DB(t))
	svc := staff.NewService(store, testenv.Redis(t), staff.Config{}, testenv.Logger())
	ctx := context.Background()
	cli := staff.Actor{Name: staff.CLIActor, Role: staff.Admin}
	if _, err := svc.Add(ctx, cli, "clerk", staff.Operator, "long-enough-password", false); err != nil {
		t.Fatal(err)
	}
	login := func(password string) string {
		t.Helper()
		_, token, err := svc.Login(ctx, "clerk", password, "", "10.0.0.1", "r")
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if _, err := svc.Session(ctx, token); err != nil {
			t.Fatalf("fresh session: %v", err)
		}
		return token
	}
	refused := func(what string, tokens ...string) {
		t.Helper()
		for i, token := range tokens {
			if _, err := svc.Session(ctx, token); !errors.Is(err, staff.ErrInvalidSession) {
				t.Errorf("%s: session %d: %v, want ErrInvalidSession", what, i, err)
			}
		}
	}

	old := []string{login("long-enough-password"), login("long-enough-password")}
	if err := svc.ResetPassword(ctx, cli, "clerk", "replacement-password"); err != nil {
		t.Fatal(err)
	}
	refused("after a password reset", old...)
	if _, _, err := svc.Login(ctx, "clerk", "long-enough-password", "", "10.0.0.1", "r"); !errors.Is(err, staff.ErrBadCredentials) {
		t.Fatalf("the old password after a reset: %v", err)
	}

	fresh := []string{login("replacement-password"), login("replacement-password")}
	if err := svc.Disable(ctx, cli, "clerk"); err != nil {
		t.Fatal(err)
	}
	refused("after a disable", append(old, fresh...)...)
	if _, _, err := svc.Login(ctx, "clerk", "replacement-password", "", "10.0.0.1", "r"); !errors.Is(err, staff.ErrBadCredentials) {
		t.Fatalf("a disabled member's password: %v", err)
	}
}

// A session kept busy still ends a week after its login: the set of
// sessions a disable ends them through expires after that.
func TestSessionMaxAge(t *testing.T) {
	store := models.NewStore(testenv.DB(t))
	svc := staff.NewService(store, testenv.Redis(t), staff.Config{}, testenv.Logger())
	ctx := context.Background()
	if _, err := svc.Add(ctx, staff.Actor{Name: staff.CLIActor, Role: staff.Admin}, "clerk", staff.Operator, "long-enough-password", false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	svc.SetClock(func() time.Time { return start })
	_, token, err := svc.Login(ctx, "clerk", "long-enough-password", "", "10.0.0.1", "r")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		age  time.Duration
		live bool
	}{{time.Hour, true}, {7*24*time.Hour - time.Minute, true}, {7 * 24 * time.Hour, false}} {
		at := start.Add(tc.age)
		svc.SetClock(func() time.Time { return at })
		_, err := svc.Session(ctx, token)
		if tc.live && err != nil || !tc.live && !errors.Is(err, staff.ErrInvalidSession) {
			t.Errorf("%v after login: %v", tc.age, err)
		}
	}
}
