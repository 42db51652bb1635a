package recharge

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"gaspay/models"
	"gaspay/units"
)

func TestPurchaseConverters(t *testing.T) {
	if _, err := ByVolume(0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ByVolume(0) = %v", err)
	}
	if _, err := ByAmount(-1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ByAmount(-1) = %v", err)
	}
	p, _ := ByVolume(1234)
	if v, ok := p.Volume(); !ok || v != 1234 {
		t.Fatalf("ByVolume(1234).Volume() = %d, %v", v, ok)
	}
	if _, ok := p.Amount(); ok {
		t.Fatal("a purchase by volume reads as an amount")
	}
}

// price: what a purchase credits, in which unit, and the one limit, on a
// bare service (no storage).
func TestPriceCredits(t *testing.T) {
	s := &Service{cfg: Config{PurchaseLimitFen: 150000, QuoteTTL: time.Minute, Location: time.UTC}, now: time.Now}
	volumeCard, amountCard := models.CardVolume, models.CardAmount
	card := models.Account{ID: 1, Kind: models.KindICCard, Status: models.AccountActive}
	ordinary := models.Account{ID: 2, Kind: models.KindOrdinary, Status: models.AccountActive, ArrearsFen: 220960}
	byVol, _ := ByVolume(10000)
	byAmt, _ := ByAmount(1000)
	bill, _ := ByAmount(220960)
	for _, tt := range []struct {
		name     string
		a        models.Account
		cardType *models.CardType
		buy      Purchase
		want     units.Quantity
		err      error
	}{
		{"volume card by volume", card, &volumeCard, byVol, units.Gas(10000), nil},
		{"volume card by amount", card, &volumeCard, byAmt, units.Gas(333), nil},
		{"amount card by volume", card, &amountCard, byVol, units.Money(30000), nil},
		{"amount card by amount", card, &amountCard, byAmt, units.Money(1000), nil},
		{"ordinary, all the arrears", ordinary, nil, bill, units.Money(220960), nil},
		{"ordinary by volume", ordinary, nil, byVol, units.Quantity{}, ErrVolumeForBill},
		{"the zero purchase", card, &volumeCard, Purchase{}, units.Quantity{}, ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := s.price(tt.a, residential, tt.cardType, QuoteRequest{AccountID: tt.a.ID, Purchase: tt.buy})
			if !errors.Is(err, tt.err) || (err == nil && q.Credit != tt.want) {
				t.Fatalf("credit %v, %v; want %v, %v", q.Credit, err, tt.want, tt.err)
			}
			if err == nil && q.MaxAmount != PurchaseLimit(150000, tt.a.Kind, units.Fen(tt.a.ArrearsFen)) {
				t.Fatalf("max amount %d is not PurchaseLimit's", q.MaxAmount)
			}
		})
	}
}

// A line stored before the rename (volume_cm3) reads back; a line is
// written under both names for one release.
func TestLineJSON(t *testing.T) {
	var l Line
	if err := json.Unmarshal([]byte(`{"tier":1,"price_fen_per_m3":300,"volume_cm3":333,"amount_fen":999}`), &l); err != nil || l.VolumeCentiM3 != 333 {
		t.Fatalf("old line = %+v, %v", l, err)
	}
	b, _ := json.Marshal(Line{Tier: 1, PriceFenPerM3: 300, VolumeCentiM3: 333, AmountFen: 999})
	if string(b) != `{"tier":1,"price_fen_per_m3":300,"volume_centi_m3":333,"volume_cm3":333,"amount_fen":999}` {
		t.Fatalf("line = %s", b)
	}
}
