package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/models"
)

// The purchase limit an account page shows, the one its quote applies and
// the one a partner's terminal is told are one number
// (recharge.PurchaseLimit). An ordinary account owing more than the 1,500
// yuan limit may pay all it owes, and every view says so.
func TestPurchaseLimitAgrees(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	id := env.AccountID("031120001") // ordinary, 209.60 yuan owed
	err := env.Store().AddBillIfAbsent(context.Background(), &models.Bill{AccountID: id, Period: "2020-01",
		AmountDueFen: 200000, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	const arrears = 20960 + 200000
	b := newBuyer(t, env, srv, "wang", "031120001", "王洪")

	r := srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%d", id), Token: b.token})
	if r.Status != http.StatusOK {
		t.Fatalf("account: %d %s", r.Status, r.Body)
	}
	page := num(r.JSON(t)["purchase_limit_fen"])

	q := b.quote(map[string]any{"amount_fen": arrears})
	if q.Status != http.StatusOK {
		t.Fatalf("quote of the arrears: %d %s", q.Status, q.Body)
	}
	quote := num(q.JSON(t)["limits"].(map[string]any)["max_amount_fen"])
	if r := b.quote(map[string]any{"amount_fen": arrears + 1}); r.Code(t) != "over_limit" {
		t.Fatalf("quote of a fen more than the arrears: %d %s", r.Status, r.Body)
	}

	p := newPartner(t, env, srv, "lakala")
	pq := p.post("/partner/v1/query", map[string]string{"user_number": "031120001"})
	if pq.Status != http.StatusOK {
		t.Fatalf("partner query: %d %s", pq.Status, pq.Body)
	}
	partner := num(pq.json(t)["max_amount_fen"])

	if page != arrears || quote != arrears || partner != arrears {
		t.Fatalf("limits: account page %d, quote %d, partner %d; want all %d (the arrears)", page, quote, partner, arrears)
	}
}
