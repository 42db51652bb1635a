package console

import (
	"context"
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"strings"

	"gaspay/models"
	"gaspay/units"
)

// DailyReport is the day's settlement (日结): payments per channel and per
// partner, refunds and reversals.
type DailyReport struct {
	Day       string
	Channels  []models.ChannelTotal
	Partners  []PartnerTotal
	Refunds   []models.StatusTotal
	Reversals models.StatusTotal
	TotalFen  int64
}

// PartnerTotal is one collection partner's payments of the day.
type PartnerTotal struct {
	PartnerID string
	Count     int64
	TotalFen  int64
}

// Daily builds the report of a business day (YYYY-MM-DD).
// Errors: ErrInvalid.
func (s *Service) Daily(ctx context.Context, day string) (DailyReport, error) {
	from, to, err := s.DayBounds(day)
	if err != nil {
		return DailyReport{}, err
	}
	r := DailyReport{Day: day}
	if r.Channels, err = s.store.PaymentsByChannel(ctx, from, to); err != nil {
		return r, err
	}
	for _, c := range r.Channels {
		r.TotalFen += c.TotalFen
	}
	rows, err := s.store.PartnerPaymentsBetween(ctx, from, to)
	if err != nil {
		return r, err
	}
	by := map[string]*PartnerTotal{}
	for _, p := range rows {
		// A partner payment's transaction id is partner:serial.
		id, _, _ := strings.Cut(p.ProviderTxnID, ":")
		t := by[id]
		if t == nil {
			t = &PartnerTotal{PartnerID: id}
			by[id] = t
		}
		t.Count++
		t.TotalFen += p.AmountFen
	}
	for _, t := range by {
		r.Partners = append(r.Partners, *t)
	}
	sort.Slice(r.Partners, func(i, j int) bool { return r.Partners[i].PartnerID < r.Partners[j].PartnerID })
	if r.Refunds, err = s.store.RefundsBetween(ctx, from, to); err != nil {
		return r, err
	}
	r.Reversals, err = s.store.ReversalsBetween(ctx, from, to)
	return r, err
}

// WriteCSV writes the report as CSV (UTF-8 with a byte-order mark, so that
// spreadsheet programs read the Chinese headings): section, key, count,
// amount in fen and in yuan.
func (r DailyReport) WriteCSV(w io.Writer) error {
	io.WriteString(w, "\xef\xbb\xbf")
	cw := csv.NewWriter(w)
	cw.Write([]string{"日期", "类别", "项目", "笔数", "金额（分）", "金额（元）"})
	row := func(section, key string, n, fen int64) {
		cw.Write([]string{r.Day, section, key, strconv.FormatInt(n, 10), strconv.FormatInt(fen, 10), yuan(fen)})
	}
	var n int64
	for _, c := range r.Channels {
		row("渠道收款", string(c.Channel), c.Count, c.TotalFen)
		n += c.Count
	}
	row("渠道收款", "合计", n, r.TotalFen)
	for _, p := range r.Partners {
		row("代收合作方", p.PartnerID, p.Count, p.TotalFen)
	}
	for _, s := range r.Refunds {
		row("退款", s.Status, s.Count, s.TotalFen)
	}
	row("冲正", "reversed", r.Reversals.Count, r.Reversals.TotalFen)
	cw.Flush()
	return cw.Error()
}

func yuan(fen int64) string { return units.Fen(fen).Yuan() }
