package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"gaspay/bleproxy"
)

// invariant is one rule of the ledger, as a query counting the rows that
// break it.
type invariant struct {
	name string
	sql  string
}

// The janitor closes an expired order within its interval; the provider's
// close and our own take a few more seconds under faults.
const pendingGrace = "INTERVAL 30 SECOND"

var invariants = []invariant{
	{"money-taking order without exactly one payment",
		`SELECT COUNT(*) FROM orders o WHERE o.status IN ('paid','refunding','refunded','reversed')
		 AND (SELECT COUNT(*) FROM payments p WHERE p.order_id = o.id) <> 1`},
	{"payment on an order that took no money",
		`SELECT COUNT(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.status = 'pending'`},
	{"paid order without exactly one credit",
		`SELECT COUNT(*) FROM orders o WHERE o.status = 'paid' AND (SELECT COUNT(*) FROM credits c WHERE c.order_id = o.id) <> 1`},
	{"credit on an unpaid order",
		`SELECT COUNT(*) FROM credits c JOIN orders o ON o.id = c.order_id WHERE o.status IN ('pending','closed')`},
	{"live credit on a refunded or reversed order",
		`SELECT COUNT(*) FROM credits c JOIN orders o ON o.id = c.order_id
		 WHERE c.status <> 'cancelled' AND o.status IN ('refunding','refunded','reversed')`},
	{"balance differs from its ledger",
		`SELECT COUNT(*) FROM accounts a WHERE a.balance_fen <>
		   COALESCE((SELECT SUM(c.to_balance_fen) FROM credits c WHERE c.account_id = a.id AND c.status <> 'cancelled'), 0)
		 + COALESCE((SELECT SUM(o.leftover_fen) FROM orders o WHERE o.account_id = a.id AND o.status = 'paid'), 0)
		 - COALESCE((SELECT SUM(o.deduction_fen) FROM orders o WHERE o.account_id = a.id AND o.status IN ('pending','paid')), 0)`},
	{"order pending past its expiry and the janitor's interval",
		`SELECT COUNT(*) FROM orders WHERE status = 'pending' AND expires_at < UTC_TIMESTAMP(6) - ` + pendingGrace},
	{"in-flight marker inconsistent with the order's state",
		`SELECT COUNT(*) FROM orders WHERE (status = 'pending') <> (inflight_account_id IS NOT NULL)`},
	{"pending marker inconsistent with the credit's state",
		`SELECT COUNT(*) FROM credits WHERE (status = 'pending') <> (pending_account_id IS NOT NULL)`},
	{"payment amount differs from the order's payable",
		`SELECT COUNT(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.amount_fen <> o.payable_fen`},
	// IC-card accounts keep their sequence on the card (cards.last_written_seq,
	// confirmed by the box); accounts.purchase_seq counts the others.
	{"purchase sequence differs from the highest live credit's",
		`SELECT COUNT(*) FROM accounts a WHERE a.kind <> 'iccard' AND a.purchase_seq <>
		 COALESCE((SELECT MAX(c.seq) FROM credits c WHERE c.account_id = a.id AND c.status <> 'cancelled'), 0)`},
	{"card's written sequence differs from its highest delivered credit's",
		`SELECT COUNT(*) FROM cards k WHERE k.current_account_id IS NOT NULL AND COALESCE(k.last_written_seq, 0) <>
		 COALESCE((SELECT MAX(c.seq) FROM credits c WHERE c.account_id = k.current_account_id AND c.kind = 'card' AND c.status = 'delivered'), 0)`},
	{"refund not finished",
		`SELECT COUNT(*) FROM refunds WHERE status <> 'succeeded'`},
}

// check runs every invariant and prints it with its count; it answers how
// many are broken.
func (w *world) check(ctx context.Context, rep *report, out io.Writer) (int, error) {
	fmt.Fprintln(out, "\nwhat the driver did:")
	printCounts(out, rep.byChannel)
	printCounts(out, rep.outcomes)
	for _, e := range rep.errors {
		fmt.Fprintln(out, "  driver error:", e)
	}
	fmt.Fprintln(out, "\nthe ledger, in SQL:")
	for _, q := range []struct{ name, sql string }{
		{"orders", `SELECT COUNT(*) FROM orders`},
		{"paid orders", `SELECT COUNT(*) FROM orders WHERE status = 'paid'`},
		{"payments", `SELECT COUNT(*) FROM payments`},
		{"credits", `SELECT COUNT(*) FROM credits`},
		{"refunds", `SELECT COUNT(*) FROM refunds`},
		{"closed orders", `SELECT COUNT(*) FROM orders WHERE status = 'closed'`},
		{"alerts", `SELECT COUNT(*) FROM alerts`},
	} {
		var n int
		if err := w.db.QueryRowContext(ctx, q.sql).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: %w", q.name, err)
		}
		fmt.Fprintf(out, "  %-68s %d\n", q.name, n)
	}
	fmt.Fprintln(out, "\ninvariants (each must be 0):")
	failed := 0
	for _, inv := range invariants {
		var n int
		if err := w.db.QueryRowContext(ctx, inv.sql).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: %w", inv.name, err)
		}
		fmt.Fprintf(out, "  %-68s %d\n", inv.name, n)
		if n != 0 {
			failed++
		}
	}
	n, err := w.cardDisagreements(ctx)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "  %-68s %d\n", "IC card whose purchases differ from its delivered credits", n)
	if n != 0 {
		failed++
	}
	n, err = w.providerDisagreements(ctx)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "  %-68s %d\n", "order where the provider disagrees with gaspay", n)
	if n != 0 {
		failed++
	}
	return failed, nil
}

func printCounts(out io.Writer, m map[string]int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	fmt.Fprintln(out, "  "+strings.Join(parts, ", "))
}

// providerDisagreements asks the providers, order by order, whether they
// took money, and counts the orders where gaspay says otherwise (orders
// still payable are left out: their customer may yet pay).
func (w *world) providerDisagreements(ctx context.Context) (int, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT o.order_no, o.channel, o.payable_fen, COUNT(p.id), COALESCE(MAX(p.amount_fen), 0)
		FROM orders o LEFT JOIN payments p ON p.order_id = o.id
		WHERE o.channel <> 'partner' AND NOT (o.status = 'pending' AND o.expires_at > UTC_TIMESTAMP(6))
		GROUP BY o.id, o.order_no, o.channel, o.payable_fen`)
	if err != nil {
		return 0, err
	}
	type ord struct {
		no, channel string
		payable     int64
		payments    int
		paidFen     int64
	}
	var orders []ord
	for rows.Next() {
		var o ord
		if err := rows.Scan(&o.no, &o.channel, &o.payable, &o.payments, &o.paidFen); err != nil {
			rows.Close()
			return 0, err
		}
		orders = append(orders, o)
	}
	rows.Close()
	bad := 0
	for _, o := range orders {
		path := "/wechat/order/" + o.no
		if strings.HasPrefix(o.channel, "alipay") {
			path = "/alipay/order/" + o.no
		}
		var t txnState
		if err := w.control(ctx, "GET", path, &t); err != nil {
			return 0, err
		}
		paidHere := o.payments == 1
		if t.Paid != paidHere || (paidHere && o.paidFen != t.Fen) {
			bad++
		}
	}
	return bad, nil
}

// cardDisagreements compares each box's card with the ledger: the card's
// purchase sequence must be the highest delivered card credit's, and the
// number of delivered card credits must be that sequence (one credit per
// purchase written, none written twice).
func (w *world) cardDisagreements(ctx context.Context) (int, error) {
	master, err := bleproxy.ParseMasterKey(sandboxMasterKey)
	if err != nil {
		return 0, err
	}
	bad := 0
	for _, b := range w.boxes {
		card := b.box.Card()
		if card == nil || b.account == 0 {
			continue
		}
		img, _, err := bleproxy.OpenCardImage(master, card.Image)
		if err != nil {
			bad++
			continue
		}
		var maxSeq, delivered int
		if err := w.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM credits
			WHERE account_id = ? AND kind = 'card' AND status = 'delivered'`, b.account).Scan(&maxSeq, &delivered); err != nil {
			return 0, err
		}
		if int(img.Seq) != maxSeq || delivered != int(img.Seq) {
			fmt.Fprintf(w.out, "  card of account %d: sequence %d on the card, %d delivered credits up to %d\n", b.account, img.Seq, delivered, maxSeq)
			bad++
		}
	}
	return bad, nil
}
