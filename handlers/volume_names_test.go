package handlers_test

import (
	"net/http"
	"reflect"
	"testing"

	"gaspay/internal/apptest"
)

// volume_cm3, the old name of volume_centi_m3 (0.01 m3), is accepted for
// one release; a request giving both with different numbers is refused,
// and answers carry both names.
func TestVolumeFieldNames(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	card := newBuyer(t, env, srv, "alice", "031140086", "秦淮") // volume card

	fresh := card.quote(map[string]any{"volume_centi_m3": 1234})
	old := card.quote(map[string]any{"volume_cm3": 1234})
	same := card.quote(map[string]any{"volume_centi_m3": 1234, "volume_cm3": 1234})
	for name, r := range map[string]apptest.Response{"new name": fresh, "old name": old, "both, same number": same} {
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	q := fresh.JSON(t)
	for _, other := range []map[string]any{old.JSON(t), same.JSON(t)} {
		delete(other, "valid_until")
		delete(q, "valid_until")
		if !reflect.DeepEqual(q, other) {
			t.Fatalf("the old name priced differently:\n%v\n%v", q, other)
		}
	}
	if num(q["volume_centi_m3"]) != 1234 || num(q["volume_cm3"]) != 1234 || q["credit_unit"] != "centi_m3" {
		t.Fatalf("quote = %v", q)
	}
	line := q["lines"].([]any)[0].(map[string]any)
	if num(line["volume_centi_m3"]) != 1234 || num(line["volume_cm3"]) != 1234 {
		t.Fatalf("line = %v", line)
	}

	r := card.quote(map[string]any{"volume_centi_m3": 1234, "volume_cm3": 1235})
	if r.Status != http.StatusBadRequest || r.Code(t) != "volume_conflict" {
		t.Fatalf("both names, different numbers: %d %s", r.Status, r.Body)
	}
	if r := card.order(map[string]any{"volume_centi_m3": 100, "volume_cm3": 200}); r.Status != http.StatusBadRequest || r.Code(t) != "volume_conflict" {
		t.Fatalf("order with both names, different numbers: %d %s", r.Status, r.Body)
	}
	if r := card.quote(map[string]any{"volume_cm3": 100, "amount_fen": 100}); r.Code(t) != "volume_or_amount" {
		t.Fatalf("old volume name and an amount: %d %s", r.Status, r.Body)
	}

	// An order by the old name stores and answers the volume under both.
	o := card.order(map[string]any{"volume_cm3": 1000})
	if o.Status != http.StatusCreated {
		t.Fatalf("order: %d %s", o.Status, o.Body)
	}
	got := card.get(orderNo(t, o))
	if num(got["volume_centi_m3"]) != 1000 || num(got["volume_cm3"]) != 1000 {
		t.Fatalf("order = %v", got)
	}
	if l := got["lines"].([]any)[0].(map[string]any); num(l["volume_centi_m3"]) != 1000 {
		t.Fatalf("order line = %v", l)
	}
}
