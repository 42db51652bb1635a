package partner

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"gaspay/recharge"
)

// The daily reconciliation file of one partner: a header "count|total"
// (payments and fen), then one line per payment that stands (reversed ones
// are left out), oldest first:
//
//	serial|order_no|user_number|amount_fen|paid_at
//
// paid_at in RFC 3339, Beijing time. UTF-8, "\n" line ends.

// WriteFile writes a day's reconciliation file.
func WriteFile(w io.Writer, lines []recharge.PartnerLine, loc *time.Location) error {
	var total int64
	for _, l := range lines {
		total += l.AmountFen
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%d|%d\n", len(lines), total)
	for _, l := range lines {
		fmt.Fprintf(bw, "%s|%s|%s|%d|%s\n", l.Serial, l.OrderNo, l.UserNumber, l.AmountFen, l.PaidAt.In(loc).Format(time.RFC3339))
	}
	return bw.Flush()
}

// Entry is a payment as a partner's file states it.
type Entry struct {
	Line       int
	Serial     string
	UserNumber string
	AmountFen  int64
}

// Difference is one thing two files disagree on.
type Difference struct {
	Serial string
	What   string
}

// Compare checks a partner's own file of a day against our payments and
// reports every difference: a malformed line, a header that does not add
// up, a payment one side has and the other has not, an amount or account
// that differs.
func Compare(ours []recharge.PartnerLine, theirs io.Reader) ([]Difference, error) {
	var diffs []Difference
	sc := bufio.NewScanner(theirs)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return []Difference{{What: "the file is empty: want a count|total header"}}, nil
	}
	hc, ht, herr := parseHeader(sc.Text())
	if herr != nil {
		diffs = append(diffs, Difference{What: "line 1: " + herr.Error()})
	}
	entries := map[string]Entry{}
	var count int
	var total int64
	for n := 2; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		e, err := parseEntry(line, n)
		if err != nil {
			diffs = append(diffs, Difference{What: fmt.Sprintf("line %d: %v", n, err)})
			continue
		}
		if prev, dup := entries[e.Serial]; dup {
			diffs = append(diffs, Difference{Serial: e.Serial, What: fmt.Sprintf("line %d repeats line %d", n, prev.Line)})
			continue
		}
		entries[e.Serial] = e
		count++
		total += e.AmountFen
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if herr == nil && (hc != count || ht != total) {
		diffs = append(diffs, Difference{What: fmt.Sprintf("header says %d payments, %d fen; the lines add up to %d, %d fen", hc, ht, count, total)})
	}
	var ourCount int
	var ourTotal int64
	for _, o := range ours {
		ourCount++
		ourTotal += o.AmountFen
		e, ok := entries[o.Serial]
		if !ok {
			diffs = append(diffs, Difference{Serial: o.Serial, What: fmt.Sprintf("gaspay has %d fen for %s (order %s); the partner's file does not", o.AmountFen, o.UserNumber, o.OrderNo)})
			continue
		}
		delete(entries, o.Serial)
		if e.AmountFen != o.AmountFen {
			diffs = append(diffs, Difference{Serial: o.Serial, What: fmt.Sprintf("amount: partner %d fen, gaspay %d fen", e.AmountFen, o.AmountFen)})
		}
		if e.UserNumber != o.UserNumber {
			diffs = append(diffs, Difference{Serial: o.Serial, What: fmt.Sprintf("account: partner %s, gaspay %s", e.UserNumber, o.UserNumber)})
		}
	}
	rest := make([]Entry, 0, len(entries))
	for _, e := range entries {
		rest = append(rest, e)
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].Line < rest[j].Line })
	for _, e := range rest {
		diffs = append(diffs, Difference{Serial: e.Serial, What: fmt.Sprintf("the partner has %d fen for %s (line %d); gaspay has no such payment", e.AmountFen, e.UserNumber, e.Line)})
	}
	if herr == nil && (hc != ourCount || ht != ourTotal) {
		diffs = append(diffs, Difference{What: fmt.Sprintf("totals: partner %d payments, %d fen; gaspay %d payments, %d fen", hc, ht, ourCount, ourTotal)})
	}
	return diffs, nil
}

func parseHeader(s string) (int, int64, error) {
	c, t, ok := strings.Cut(strings.TrimRight(s, "\r"), "|")
	n, err1 := strconv.Atoi(c)
	total, err2 := strconv.ParseInt(t, 10, 64)
	if !ok || err1 != nil || err2 != nil || n < 0 || total < 0 {
		return 0, 0, fmt.Errorf("header %q is not count|total", s)
	}
	return n, total, nil
}

func parseEntry(s string, line int) (Entry, error) {
	f := strings.Split(s, "|")
	if len(f) < 4 {
		return Entry{}, fmt.Errorf("want serial|order_no|user_number|amount_fen|paid_at, got %d fields", len(f))
	}
	amount, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || amount <= 0 || f[0] == "" {
		return Entry{}, fmt.Errorf("bad serial or amount")
	}
	return Entry{Line: line, Serial: f[0], UserNumber: f[2], AmountFen: amount}, nil
}
