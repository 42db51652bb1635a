package iot_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gaspay/bleproxy"
	"gaspay/config"
	"gaspay/customer"
	"gaspay/internal/testenv"
	"gaspay/iot"
	"gaspay/iot/meterproto"
	"gaspay/models"
)

// nullPlatform is never called by report ingestion.
type nullPlatform struct{}

func (nullPlatform) Send(context.Context, string, []byte, time.Duration, string) (string, error) {
	return "", iot.ErrUnknownOutcome
}
func (nullPlatform) Query(context.Context, string, string) (iot.CommandState, error) {
	return "", iot.ErrUnknownOutcome
}
func (nullPlatform) Cancel(context.Context, string, string) error { return iot.ErrUnknownOutcome }
func (nullPlatform) ParsePush([]byte) (iot.Push, error)           { return iot.Push{}, iot.ErrMalformed }

type noRefunds struct{}

func (noRefunds) RefundOrder(context.Context, string, string, string) (models.Refund, error) {
	return models.Refund{}, errors.New("no refunds here")
}

func newService(t *testing.T) (*iot.Service, *models.Store, bleproxy.MasterKey) {
	t.Helper()
	db := testenv.DB(t)
	store := models.NewStore(db)
	if err := customer.SeedDemo(context.Background(), store, time.Now()); err != nil {
		t.Fatal(err)
	}
	master, _ := bleproxy.ParseMasterKey(config.SandboxMeterMasterKey)
	return iot.New(store, nullPlatform{}, noRefunds{}, iot.Config{Master: master, CommandTTL: 48 * time.Hour, SilentAfter: 25 * time.Hour,
		UnappliedAlertAfter: 72 * time.Hour}, testenv.Logger()), store, master
}

func report(t *testing.T, k bleproxy.Key, meter string, counter uint32, balance int32) []byte {
	t.Helper()
	b, err := meterproto.SealReport(k, meter, counter, meterproto.Report{Unit: meterproto.UnitFen, Balance: balance, MeterTime: 1764201600})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIngestRules(t *testing.T) {
	svc, store, master := newService(t)
	ctx := context.Background()
	const meter = "20231100001"
	k := meterproto.MeterKey(master, meter)
	other, _ := bleproxy.ParseMasterKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	cases := []struct {
		name    string
		payload []byte
		want    iot.Outcome
		err     error
	}{
		{"fresh", report(t, k, meter, 5, 4000), iot.Taken, nil},
		{"the same again", report(t, k, meter, 5, 4000), iot.Replayed, nil},
		{"older, arriving late", report(t, k, meter, 4, 3000), iot.Replayed, nil},
		{"newer", report(t, k, meter, 6, 3900), iot.Taken, nil},
		{"another key", report(t, meterproto.MeterKey(other, meter), meter, 7, 1), 0, iot.ErrForged},
		{"not a message", []byte("hello"), 0, iot.ErrMalformed},
		{"a meter no IoT account has", report(t, meterproto.MeterKey(master, "99999999"), "99999999", 1, 1), 0, iot.ErrUnknownMeter},
		{"an IC-card account's number", report(t, meterproto.MeterKey(master, "0312000101"), "0312000101", 1, 1), 0, iot.ErrUnknownMeter},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := svc.Ingest(ctx, meter, c.payload)
			if got != c.want || !errors.Is(err, c.err) {
				t.Fatalf("Ingest = %v, %v; want %v, %v", got, err, c.want, c.err)
			}
		})
	}
	rows, err := svc.Reports(ctx, meter, 10)
	if err != nil || len(rows) != 2 || rows[0].Counter != 6 || rows[1].Counter != 5 {
		t.Fatalf("history %+v %v", rows, err)
	}
	var balance int64
	store.DB().Raw("SELECT last_balance_fen FROM meters WHERE meter_number = ?", meter).Scan(&balance)
	if balance != 3900 {
		t.Fatalf("account view balance %d", balance)
	}
}

// Many replicas receiving the same push at once take it once.
func TestIngestConcurrentDuplicates(t *testing.T) {
	svc, _, master := newService(t)
	const meter = "20231100002"
	b := report(t, meterproto.MeterKey(master, meter), meter, 9, 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := svc.Ingest(context.Background(), meter, b)
			if err != nil {
				t.Error(err)
			}
			if out == iot.Taken {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if taken != 1 {
		t.Fatalf("taken %d times", taken)
	}
}

// One group commit holding a meter's reports out of order and twice takes
// each fresh one once, in counter order, and leaves the meter at the
// newest; reports of a meter without a platform row are handed back.
func TestGroupCommitOfReports(t *testing.T) {
	svc, store, master := newService(t)
	ctx := context.Background()
	const meter = "20231100001"
	if _, err := svc.Ingest(ctx, meter, report(t, meterproto.MeterKey(master, meter), meter, 2, 500)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	row := func(n string, counter, balance int64) models.IoTReport {
		return models.IoTReport{MeterNumber: n, Counter: counter, Unit: int(meterproto.UnitFen), Balance: balance,
			MeterTime: now, ReceivedAt: now}
	}
	got, err := store.TakeIoTReports(ctx, []models.IoTReport{row(meter, 4, 400), row(meter, 3, 300), row(meter, 4, 400),
		row(meter, 2, 200), row(meter, 6, 100), row("20231100002", 1, 1)}, []string{string(iot.Queued), string(iot.Sent)})
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, false, false, false, true, false}
	for i, w := range want {
		if got[i].Taken != w || got[i].Known != (i < 5) || got[i].OpenID != nil {
			t.Errorf("report %d: %+v, want taken %v", i, got[i], w)
		}
	}
	rows, err := svc.Reports(ctx, meter, 10)
	if err != nil || len(rows) != 3 || rows[0].Counter != 6 || rows[1].Counter != 4 || rows[2].Counter != 2 {
		t.Fatalf("history %+v %v", rows, err)
	}
	m, err := store.IoTMeter(ctx, meter)
	if err != nil || m.ReportCounter != 6 || m.Balance == nil || *m.Balance != 100 {
		t.Fatalf("meter %+v %v", m, err)
	}
}

// One group commit moving several meters writes each its own report: the
// meter's state, and the account view's balance only for a meter counting
// money whose view holds nothing newer.
func TestGroupCommitAcrossMeters(t *testing.T) {
	svc, store, master := newService(t)
	ctx := context.Background()
	const a, b = "20231100001", "20231100002"
	for _, m := range []string{a, b} {
		if _, err := svc.Ingest(ctx, m, report(t, meterproto.MeterKey(master, m), m, 1, 500)); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
	// After the reports above were received.
	now := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	view := func(meter string) int64 {
		var v int64
		store.DB().Raw("SELECT last_balance_fen FROM meters WHERE meter_number = ?", meter).Scan(&v)
		return v
	}
	batch := func(rows ...models.IoTReport) {
		t.Helper()
		got, err := store.TakeIoTReports(ctx, rows, []string{string(iot.Queued), string(iot.Sent)})
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			if !g.Taken {
				t.Fatalf("report %d not taken: %+v", i, g)
			}
		}
		for _, r := range rows {
			m, err := store.IoTMeter(ctx, r.MeterNumber)
			if err != nil || m.ReportCounter != r.Counter || *m.Balance != r.Balance || *m.Unit != r.Unit ||
				*m.CumulativeCentiM3 != r.CumulativeCentiM3 || *m.Valve != r.Valve || *m.BatteryMV != r.BatteryMV ||
				*m.SignalDBm != r.SignalDBm || *m.LastAppliedSeq != r.LastAppliedSeq || !m.ReportedAt.Equal(r.ReceivedAt) {
				t.Fatalf("meter %s: %+v %v; want its report %+v", r.MeterNumber, m, err, r)
			}
		}
	}
	batch(models.IoTReport{MeterNumber: a, Counter: 7, Unit: int(meterproto.UnitFen), Balance: 1234, CumulativeCentiM3: 11, Valve: 1,
		BatteryMV: 3500, SignalDBm: -80, LastAppliedSeq: 2, MeterTime: now, ReceivedAt: now},
		models.IoTReport{MeterNumber: b, Counter: 3, Unit: int(meterproto.UnitCentiM3), Balance: 777, CumulativeCentiM3: 22,
			BatteryMV: 3400, SignalDBm: -90, LastAppliedSeq: 5, MeterTime: now, ReceivedAt: now.Add(time.Second)})
	if got := view(a); got != 1234 {
		t.Errorf("account view of %s: %d, want the report's 1234", a, got)
	}
	if got := view(b); got != 500 {
		t.Errorf("account view of %s: %d, want 500 kept (its report counts volume, not money)", b, got)
	}
	// a's account view now shows a reading newer than the next batch's.
	if err := store.DB().Exec("UPDATE meters SET last_balance_fen = 4242, last_reported_at = ? WHERE meter_number = ?",
		now.Add(time.Hour), a).Error; err != nil {
		t.Fatal(err)
	}
	batch(models.IoTReport{MeterNumber: a, Counter: 8, Unit: int(meterproto.UnitFen), Balance: 99, CumulativeCentiM3: 12, Valve: 1,
		BatteryMV: 3300, SignalDBm: -100, LastAppliedSeq: 2, MeterTime: now, ReceivedAt: now.Add(2 * time.Second)},
		models.IoTReport{MeterNumber: b, Counter: 4, Unit: int(meterproto.UnitFen), Balance: 321, CumulativeCentiM3: 23, Valve: 1,
			BatteryMV: 3400, SignalDBm: -90, LastAppliedSeq: 5, MeterTime: now, ReceivedAt: now.Add(2 * time.Second)})
	if got := view(a); got != 4242 {
		t.Errorf("account view of %s: %d, want 4242 kept (newer than the report)", a, got)
	}
	if got := view(b); got != 321 {
		t.Errorf("account view of %s: %d, want the report's 321", b, got)
	}
}
