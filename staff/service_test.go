package staff_test

import (
	"context"
	"errors"
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
