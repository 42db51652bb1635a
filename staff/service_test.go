package staff_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

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
