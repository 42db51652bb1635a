package handlers_test

import (
	"net/http"
	"sync"
	"testing"

	"gaspay/internal/apptest"
)

// A write's result and a read of the written card in another box, on two
// replicas at once: the credit is delivered once, both answers say so, and
// nothing is left in doubt.
func TestWriteResultAndRecoveringReadAtOnce(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	a, c := env.Start(), env.Start()
	b, p := cardBuyer(t, env, a, "4742000000000001", 4)
	p.connect()
	no := paidPurchase(t, env, b, 10000)
	p.read()
	_, frames := p.write(no)
	// The box writes the card; its answer waits in the phone.
	result, err := p.box.Handle(decode(t, frames[0]))
	if err != nil {
		t.Fatal(err)
	}
	// The card goes to a second box, through the other replica, which
	// opens its session and is asked to read the card.
	q := &phone{t: t, srv: c, token: b.token, box: newBox(t, "4742000000000003")}
	q.box.InsertCard(p.box.RemoveCard())
	hello, err := q.box.Hello()
	if err != nil {
		t.Fatal(err)
	}
	r, open := q.post("/api/box/sessions", map[string]string{"hello": b64(hello)})
	if r.Status != http.StatusCreated || len(open.Frames) != 2 {
		t.Fatalf("open: %d %s", r.Status, r.Body)
	}
	q.session = open.SessionID
	if err := q.box.HandleSession(decode(t, open.Frames[0])); err != nil {
		t.Fatal(err)
	}
	read, err := q.box.Handle(decode(t, open.Frames[1]))
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	answers := make([]apptest.Response, 2)
	views := make([]boxAnswer, 2)
	for i, send := range []struct {
		ph    *phone
		frame string
	}{{p, b64(result)}, {q, b64(read)}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], views[i] = send.ph.post("/api/box/sessions/"+send.ph.session+"/frames", map[string]string{"frame": send.frame})
		}()
	}
	wg.Wait()
	for i, r := range answers {
		if r.Status != http.StatusOK {
			t.Fatalf("answer %d: %d %s", i, r.Status, r.Body)
		}
	}
	if views[0].View["delivered"] == nil && views[1].View["delivered"] == nil {
		t.Fatalf("neither answer names the delivery: %v / %v", views[0].View, views[1].View)
	}
	if cr := b.get(no)["credit"].(map[string]any); cr["status"] != "delivered" || num(cr["seq"]) != 5 {
		t.Fatalf("credit: %v", cr)
	}
	if n := env.Count("credits", "status = ?", "delivered"); n != 1 {
		t.Fatalf("%d delivered credits", n)
	}
	if n := env.Count("card_writes", "resolved_at IS NULL"); n != 0 {
		t.Fatalf("%d writes left live", n)
	}
	if n := env.Count("cards", "last_written_seq = ?", 5); n != 1 {
		t.Fatalf("the card's sequence did not move to 5")
	}
	if n := env.Count("alerts", ""); n != 0 {
		t.Fatalf("%d alerts", n)
	}
}
