package recharge

import (
	"testing"

	"gaspay/models"
	"gaspay/units"
)

func TestPurchaseLimit(t *testing.T) {
	const limit = units.Fen(150000)
	for _, tt := range []struct {
		name    string
		kind    models.AccountKind
		arrears units.Fen
		want    units.Fen
	}{
		{"ordinary, no arrears", models.KindOrdinary, 0, limit},
		{"ordinary, arrears under the limit", models.KindOrdinary, 20960, limit},
		{"ordinary, arrears over the limit", models.KindOrdinary, 220960, 220960},
		{"iot ignores arrears", models.KindIoT, 220960, limit},
		{"card ignores arrears", models.KindICCard, 220960, limit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := PurchaseLimit(limit, tt.kind, tt.arrears); got != tt.want {
				t.Fatalf("PurchaseLimit(%d, %s, %d) = %d, want %d", limit, tt.kind, tt.arrears, got, tt.want)
			}
		})
	}
}
