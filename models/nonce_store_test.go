package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gaspay/internal/testenv"
	"gaspay/models"
)

func TestPartnerNoncesOnceUntilExpired(t *testing.T) {
	s := models.NewStore(testenv.DB(t))
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if err := s.UseNonce(ctx, "lakala", "n-00000001", now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "lakala", "n-00000001", now.Add(10*time.Minute)); !errors.Is(err, models.ErrDuplicate) {
		t.Fatalf("second use: %v", err)
	}
	// Another partner's nonce space is its own.
	if err := s.UseNonce(ctx, "icbc", "n-00000001", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredNonces(ctx, now.Add(5*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if err := s.UseNonce(ctx, "lakala", "n-00000001", now.Add(10*time.Minute)); !errors.Is(err, models.ErrDuplicate) {
		t.Fatalf("an unexpired nonce was deleted: %v", err)
	}
	if err := s.UseNonce(ctx, "icbc", "n-00000001", now.Add(10*time.Minute)); err != nil {
		t.Fatalf("an expired nonce is still kept: %v", err)
	}
}
