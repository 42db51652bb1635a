package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gaspay/internal/randhex"
)

// drive runs the purchases and, meanwhile, the faults; then waits for the
// world to settle.
func (w *world) drive(ctx context.Context) (*report, error) {
	rep := &report{byChannel: map[string]int{}, outcomes: map[string]int{}}
	var next atomic.Int64
	var iotNext atomic.Int64
	done := make(chan struct{})
	faultsDone := make(chan struct{})
	go func() { defer close(faultsDone); w.faults(ctx, done) }()
	// The purchases go on until the faults are spent too: every fault
	// lands under load.
	var faulting atomic.Bool
	faulting.Store(true)
	go func() { <-faultsDone; faulting.Store(false) }()

	fmt.Fprintf(w.out, "driving %d purchases with %d workers and %d boxes on %d replicas; %d kills, %d Redis and %d MariaDB restarts\n",
		w.o.purchases, w.o.workers, w.o.boxWorkers, w.o.replicas, w.o.kills, w.o.redisRestarts, w.o.mysqlRestarts)
	start := time.Now()
	var wg sync.WaitGroup
	for k := 0; k < w.o.workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.worker(ctx, k, &next, &iotNext, &faulting, rep); err != nil {
				rep.fail(fmt.Errorf("worker %d: %w", k, err))
			}
		}()
	}
	for k := 0; k < w.o.boxWorkers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := w.newBoxWorker(ctx, k)
			if err != nil {
				rep.fail(fmt.Errorf("box worker %d: %w", k, err))
				return
			}
			w.boxMu.Lock()
			w.boxes = append(w.boxes, b)
			w.boxMu.Unlock()
			for {
				n := next.Add(1)
				if (n > int64(w.o.purchases) && !faulting.Load()) || ctx.Err() != nil {
					return
				}
				b.purchase(ctx, rep)
			}
		}()
	}
	wg.Wait()
	close(done)
	<-faultsDone
	fmt.Fprintf(w.out, "%d purchases done in %s; faults: %d kills, %d Redis restarts, %d MariaDB restarts\n",
		next.Load()-int64(w.o.workers), time.Since(start).Round(time.Second), w.kills.Load(), w.redisRestarts.Load(), w.mysqlRestarts.Load())
	// Each box reads its card once more: a write whose answer was lost is
	// found on the card and delivered there, or written now.
	for _, b := range w.boxes {
		for i := 0; i < 3; i++ {
			v, err := b.connect(ctx)
			if err != nil {
				continue
			}
			if v.Delivered != nil {
				b.load(rep)
				continue
			}
			if v.Pending != nil && v.Pending.WriteAvailable {
				b.write(ctx, rep, v.Pending.OrderNo, "rewritten")
				continue
			}
			break
		}
	}
	w.settle(ctx)
	return rep, nil
}

// worker is one shop of customers: a mini-program customer, an
// official-account customer and an Alipay buyer on ordinary accounts of
// their own, the partner, and a mini-program customer buying for fresh IoT
// meters (refunded by staff now and then).
func (w *world) worker(ctx context.Context, k int, next, iotNext *atomic.Int64, faulting *atomic.Bool, rep *report) error {
	if 4*k+3 >= ordinaryAccounts {
		return fmt.Errorf("at most %d workers", ordinaryAccounts/4)
	}
	mp, err := w.newCustomer(ctx, fmt.Sprintf("mp%d", k), false, ordinaryNumber(4*k), "周测试")
	if err != nil {
		return err
	}
	oa, err := w.newCustomer(ctx, fmt.Sprintf("oa%d", k), true, ordinaryNumber(4*k+1), "周测试")
	if err != nil {
		return err
	}
	ali, err := w.newCustomer(ctx, fmt.Sprintf("ali%d", k), false, ordinaryNumber(4*k+2), "周测试")
	if err != nil {
		return err
	}
	accountOf := func(c *client) (int64, error) {
		a, err := c.do(ctx, "GET", "/api/bindings", nil, nil)
		if err != nil {
			return 0, err
		}
		list, _ := a.body["bindings"].([]any)
		if len(list) == 0 {
			return 0, fmt.Errorf("no binding: %s", a.raw)
		}
		id, _ := list[len(list)-1].(map[string]any)["account_id"].(float64)
		return int64(id), nil
	}
	ids := map[*client]int64{}
	for _, c := range []*client{mp, oa, ali} {
		if ids[c], err = accountOf(c); err != nil {
			return err
		}
	}
	for {
		n := next.Add(1)
		if (n > int64(w.o.purchases) && !faulting.Load()) || ctx.Err() != nil {
			return nil
		}
		fen := int64(100 + randN(4900))
		r := randN(100)
		switch {
		case r < 22:
			w.purchase(ctx, rep, mp, ids[mp], "wechat_mp", fen, "")
		case r < 40:
			w.purchase(ctx, rep, oa, ids[oa], "wechat_oa", fen, "")
		case r < 55:
			w.purchase(ctx, rep, ali, ids[ali], "alipay_wap", fen, "")
		case r < 65:
			w.purchase(ctx, rep, ali, ids[ali], "alipay_mp", fen, fmt.Sprintf("2088chaosbuyer%02d", k))
		case r < 85:
			serial := fmt.Sprintf("CH%d%s", k, randhex.New(8))
			a, err := w.partnerPay(ctx, serial, ordinaryNumber(4*k+3), fen)
			switch {
			case err != nil:
				rep.fail(err)
			case a.status == http.StatusOK:
				rep.add("partner", "paid")
			default:
				rep.add("partner", "refused_"+a.code())
			}
		default:
			i := int(iotNext.Add(1)) - 1
			if i >= iotAccounts {
				w.purchase(ctx, rep, mp, ids[mp], "wechat_mp", fen, "")
				continue
			}
			c, err := w.newCustomer(ctx, fmt.Sprintf("iot%d", i), false, iotNumber(i), "吴测试")
			if err != nil {
				rep.fail(err)
				continue
			}
			id, err := accountOf(c)
			if err != nil {
				rep.fail(err)
				continue
			}
			no := w.purchase(ctx, rep, c, id, "wechat_mp", fen, "")
			if no != "" && randN(100) < 40 {
				staff := &client{w: w, http: &http.Client{Timeout: 15 * time.Second}, token: adminToken}
				a, err := staff.do(ctx, "POST", "/api/admin/orders/"+no+"/refund", map[string]string{"reason": "混沌测试退款"}, nil)
				switch {
				case err != nil:
					rep.fail(err)
				case a.status == http.StatusOK || a.status == http.StatusCreated || a.status == http.StatusAccepted:
					rep.add("refund", "refund_started")
				default:
					rep.add("refund", "refund_refused_"+a.code())
				}
			}
		}
	}
}

// purchase orders and (mostly) pays; it returns the order number when paid.
func (w *world) purchase(ctx context.Context, rep *report, c *client, account int64, channel string, fen int64, buyer string) string {
	body := map[string]any{"account_id": account, "amount_fen": fen, "channel": channel}
	if buyer != "" {
		body["buyer_open_id"] = buyer
	}
	a, err := c.do(ctx, "POST", "/api/orders", body, map[string]string{"Idempotency-Key": "chaos-" + randhex.New(10)})
	if err != nil {
		rep.fail(err)
		return ""
	}
	if a.status != http.StatusCreated {
		rep.add(channel, "order_refused_"+a.code())
		return ""
	}
	o, _ := a.body["order"].(map[string]any)
	no, _ := o["order_no"].(string)
	if randN(100) < w.o.abandonPercent {
		rep.add(channel, "abandoned")
		return ""
	}
	path := "/wechat/pay/" + no
	if channel == "alipay_wap" || channel == "alipay_mp" {
		path = "/alipay/pay/" + no + "?buyer=" + buyer
		if buyer == "" {
			path = "/alipay/pay/" + no + "?buyer=2088chaoswap" + strconv.Itoa(randN(1000))
		}
	}
	var res struct {
		Acknowledged bool `json:"acknowledged"`
	}
	if err := w.control(ctx, "POST", path, &res); err != nil {
		rep.add(channel, "pay_refused")
		return ""
	}
	if res.Acknowledged {
		rep.add(channel, "paid")
	} else {
		// The provider keeps sending, and the janitor asks.
		rep.add(channel, "paid_unacknowledged")
	}
	return no
}

// faults kills replicas and restarts Redis and MariaDB at random moments
// until its budget is spent (and the purchases are done).
func (w *world) faults(ctx context.Context, done <-chan struct{}) {
	kills, redis, mysql := w.o.kills, w.o.redisRestarts, w.o.mysqlRestarts
	for kills+redis+mysql > 0 && ctx.Err() == nil {
		wait := w.o.faultEvery/2 + time.Duration(randN(int(w.o.faultEvery.Milliseconds())+1))*time.Millisecond
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-time.After(wait):
		}
		r := randN(kills + redis + mysql)
		switch {
		case r < kills:
			kills--
			i := randN(len(w.replicas))
			w.up[i].Store(false)
			w.replicas[i].kill()
			w.kills.Add(1)
			time.Sleep(time.Duration(200+randN(1300)) * time.Millisecond)
			if err := w.startReplica(i); err != nil {
				fmt.Fprintf(w.out, "restart replica %d: %v\n", i, err)
			}
		case r < kills+redis:
			redis--
			w.redis.kill()
			w.redisRestarts.Add(1)
			time.Sleep(time.Duration(300+randN(1000)) * time.Millisecond)
			w.redis.start()
			waitTCP("127.0.0.1:6380", 10*time.Second)
		default:
			mysql--
			w.mariadb.kill()
			w.mysqlRestarts.Add(1)
			time.Sleep(time.Duration(300+randN(1000)) * time.Millisecond)
			w.mariadb.start()
			if err := waitMariaDB(mysqlRoot, 60*time.Second); err != nil {
				fmt.Fprintf(w.out, "restart MariaDB: %v\n", err)
			}
		}
	}
}

// settle waits, at most o.settle, for refunds to finish and for every
// order the providers took money for to be paid here.
func (w *world) settle(ctx context.Context) {
	deadline := time.Now().Add(w.o.settle)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var open int
		w.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM refunds WHERE status <> 'succeeded'`).Scan(&open)
		disagree, _ := w.providerDisagreements(ctx)
		if open == 0 && disagree == 0 {
			return
		}
		time.Sleep(time.Second)
	}
}
