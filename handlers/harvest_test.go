package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gaspay/customer"
	"gaspay/internal/apptest"
)

// seedIoT imports n IoT meters numbered 20990000001….
func seedIoT(t *testing.T, env *apptest.Env, n int) {
	t.Helper()
	var csv bytes.Buffer
	csv.WriteString("user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&csv, "0399%05d,赵钱,幸福路%d号,1390000%04d,iot,2099%07d,,,%d\n", i, i, i, i, 100*i)
	}
	rows, err := customer.ParseImport(&csv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store().ImportAccounts(context.Background(), rows, customer.DefaultTariff, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
}

// One user binding, reading and unbinding meter after meter is stopped
// after the day's limit, even though each binding succeeded.
func TestMeterNumberHarvestingIsLimited(t *testing.T) {
	env := apptest.New(t, map[string]string{"GASPAY_METER_BIND_DAILY_LIMIT": "3"})
	seedIoT(t, env, 6)
	srv := env.Start()
	mallory := srv.Login("mallory")
	for i := 1; i <= 3; i++ {
		r := bind(srv, mallory, "meter_number", fmt.Sprintf("2099%07d", i), "")
		if r.Status != http.StatusCreated || r.JSON(t)["access"] != "meter_only" || r.JSON(t)["holder"] != "" {
			t.Fatalf("bind %d: %d %s", i, r.Status, r.Body)
		}
		if d := srv.Do(apptest.Request{Method: "DELETE", Path: fmt.Sprintf("/api/bindings/%v", r.JSON(t)["id"]), Token: mallory}); d.Status != http.StatusNoContent {
			t.Fatalf("unbind: %d", d.Status)
		}
	}
	r := bind(srv, mallory, "meter_number", "20990000004", "")
	if r.Status != http.StatusTooManyRequests || r.Code(t) != "meter_bind_limit" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("4th meter binding of the day: %d %s", r.Status, r.Body)
	}
	// The holder's name proves more than the number: that binding is not
	// counted, and shows the account in full.
	r = bind(srv, mallory, "meter_number", "20990000005", "赵钱")
	if r.Status != http.StatusCreated || r.JSON(t)["access"] != "full" || r.JSON(t)["holder"] != "赵*" {
		t.Fatalf("meter with holder name: %d %s", r.Status, r.Body)
	}
	// Another user has a day of their own.
	if r := bind(srv, srv.Login("bob"), "meter_number", "20990000004", ""); r.Status != http.StatusCreated {
		t.Fatalf("bob: %d %s", r.Status, r.Body)
	}
	// Binding again a meter the user holds is not a new binding.
	if r := bind(srv, mallory, "meter_number", "20990000005", ""); r.Status != http.StatusOK || r.JSON(t)["access"] != "full" {
		t.Fatalf("again: %d %s", r.Status, r.Body)
	}
}

// A meter-only binding sees the balance, the meter, the delivery state and
// its user's own payments; the owner's payments stay the owner's. Binding
// by user number and name then shows everything.
func TestMeterOnlyBindingSeesOnlyItsOwnPayments(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "owner", "031130002", "张伟")
	owner, stranger, acct := b.token, srv.Login("stranger"), b.account
	no := orderNo(t, b.order(map[string]any{"amount_fen": 1000}))
	if res, err := env.Pay.Pay(context.Background(), no, ""); err != nil || !res.Acknowledged() {
		t.Fatalf("pay: %+v %v", res, err)
	}

	r := bind(srv, stranger, "meter_number", "20231100002", "")
	if r.Status != http.StatusCreated {
		t.Fatalf("stranger bind: %d %s", r.Status, r.Body)
	}
	a := srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%d", acct), Token: stranger}).JSON(t)
	if a["access"] != "meter_only" || a["holder"] != "" || a["address"] != "" || a["user_number"] != "" ||
		a["credit_pending"] != true || a["balance_fen"] == nil || a["meter"] == nil {
		t.Fatalf("meter-only view: %v", a)
	}
	list := srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/orders?account_id=%d", acct), Token: stranger})
	if list.Status != http.StatusOK || strings.Contains(string(list.Body), no) {
		t.Fatalf("stranger sees the owner's history: %d %s", list.Status, list.Body)
	}
	if one := srv.Do(apptest.Request{Method: "GET", Path: "/api/orders/" + no, Token: stranger}); one.Status != http.StatusNotFound {
		t.Fatalf("stranger reads the owner's order: %d %s", one.Status, one.Body)
	}
	if full := srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/orders?account_id=%d", acct), Token: owner}); !strings.Contains(string(full.Body), no) {
		t.Fatalf("owner's history lacks the order: %s", full.Body)
	}
	// Proving the name upgrades the same binding.
	if r := bind(srv, stranger, "user_number", "031130002", "张伟"); r.Status != http.StatusOK || r.JSON(t)["access"] != "full" {
		t.Fatalf("upgrade: %d %s", r.Status, r.Body)
	}
	if list := srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/orders?account_id=%d", acct), Token: stranger}); !strings.Contains(string(list.Body), no) {
		t.Fatalf("after the name, the history: %s", list.Body)
	}
}

// Failed binds from one IP lock new binds from it, but a user re-binding
// an account they hold still gets through.
func TestIPLimitLetsAHeldAccountThrough(t *testing.T) {
	env := apptest.New(t, map[string]string{"GASPAY_BIND_FAIL_LIMIT": "2"})
	env.SeedDemo()
	srv := env.Start()
	alice, guessers := srv.Login("alice"), []string{srv.Login("g1"), srv.Login("g2")}
	if r := bind(srv, alice, "user_number", "031120001", "王洪"); r.Status != http.StatusCreated {
		t.Fatalf("bind: %d %s", r.Status, r.Body)
	}
	for _, g := range guessers {
		for i := 0; i < 2; i++ {
			bind(srv, g, "user_number", fmt.Sprintf("03112%04d", 10+i), "王洪")
		}
	}
	if r := bind(srv, srv.Login("carol"), "user_number", "031120002", "阿依古丽·买买提"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("new bind from a locked IP: %d %s", r.Status, r.Body)
	}
	if r := bind(srv, alice, "user_number", "031120001", "王洪"); r.Status != http.StatusOK {
		t.Fatalf("held account from a locked IP: %d %s", r.Status, r.Body)
	}
	if r := bind(srv, alice, "user_number", "031120002", "阿依古丽·买买提"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("a new account for alice from a locked IP: %d %s", r.Status, r.Body)
	}
}
