package wxpay

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"

	"gaspay/internal/beijing"
	"gaspay/units"
)

// ErrBillFormat: the bill does not parse, or its summary disagrees with its
// lines. Like ErrBillCorrupt, nothing in it may be believed.
var ErrBillFormat = errors.New("trade bill malformed")

// BillRow is one line of the ALL trade bill: a payment (TradeState SUCCESS)
// or a refund (TradeState REFUND, with the refund's fields set).
type BillRow struct {
	// Line is the line number in the file, for messages.
	Line          int
	Time          time.Time // 交易时间, Beijing time
	AppID         string    // 公众账号ID
	MchID         string    // 商户号
	TransactionID string    // 微信订单号
	OutTradeNo    string    // 商户订单号
	TradeType     string    // JSAPI, NATIVE, MICROPAY…
	TradeState    string    // SUCCESS, REFUND, REVOKED
	SettledFen    int64     // 应结订单金额: what the payment settles (0 on refund rows)
	OutRefundNo   string    // 商户退款单号 (refund rows)
	RefundID      string    // 微信退款单号 (refund rows)
	RefundFen     int64     // 退款金额 (refund rows)
	RefundStatus  string    // 退款状态 (refund rows): SUCCESS, PROCESSING…
	// FeeMilliFen is 手续费 in thousandths of a fen (WeChat prints it in
	// yuan with five decimals); negative on refunds, where the fee is
	// given back.
	FeeMilliFen int64
}

// IsRefund reports whether the row is a refund.
func (r BillRow) IsRefund() bool { return r.TradeState == "REFUND" }

// BillSummary is the block at the end of the bill.
type BillSummary struct {
	Rows        int   // 总交易单数
	SettledFen  int64 // 应结订单总金额
	RefundFen   int64 // 退款总金额
	FeeMilliFen int64 // 手续费总金额
}

// TradeBillFile is a downloaded ALL trade bill whose SHA1 matched, kept
// gzipped in a temporary file so that memory stays flat however long the
// bill. Read it with Rows; Close removes the file.
type TradeBillFile struct {
	f *os.File
}

// DownloadTradeBill downloads the gzipped ALL trade bill of day (its date in
// Beijing time) into a temporary file under dir ("" for the system's),
// hashing it on the way, and keeps it only if the SHA1 WeChat gave matches:
// the file itself is not signed. Errors: ErrNoBill (not generated yet —
// bills are ready after 10:00 the next day — or no trade), ErrBillCorrupt,
// or an unknown outcome (transport); retry later in every case.
func (c *Client) DownloadTradeBill(ctx context.Context, day time.Time, dir string) (_ *TradeBillFile, err error) {
	date := day.In(beijing.Location()).Format(time.DateOnly)
	op := "wxpay: trade bill " + date
	q := url.Values{"bill_date": {date}, "bill_type": {"ALL"}, "tar_type": {"GZIP"}}
	result, err := c.core.Get(ctx, consts.WechatPayAPIServer+"/v3/bill/tradebill?"+q.Encode())
	defer closeResult(result)
	if err != nil {
		return nil, fail(op, result, err)
	}
	var meta struct {
		DownloadURL string `json:"download_url"`
		HashType    string `json:"hash_type"`
		HashValue   string `json:"hash_value"`
	}
	if err := core.UnMarshalResponse(result.Response, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", op, unknown(err))
	}
	if meta.HashType != "SHA1" {
		return nil, fmt.Errorf("%s: unsupported hash_type %q", op, meta.HashType)
	}
	u, err := url.Parse(meta.DownloadURL)
	if err != nil || u.Scheme != "https" || !isWechatHost(u.Host) {
		return nil, fmt.Errorf("%s: download_url %q is not on WeChat Pay's host", op, meta.DownloadURL)
	}
	dl, err := c.download.Get(ctx, meta.DownloadURL)
	defer closeResult(dl)
	if err != nil {
		return nil, fail(op+": download", dl, err)
	}
	f, err := os.CreateTemp(dir, "wxbill-*.gz")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha1.New()
	if _, err := io.Copy(io.MultiWriter(f, h), dl.Response.Body); err != nil {
		return nil, fmt.Errorf("%s: download: %w", op, unknown(err))
	}
	if !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), meta.HashValue) {
		return nil, fmt.Errorf("%s: %w", op, ErrBillCorrupt)
	}
	return &TradeBillFile{f: f}, nil
}

// Rows decompresses and parses the bill, calling fn for every row in file
// order, and returns the summary once every row agreed with it. An error
// from fn stops the reading and is returned as is.
func (b *TradeBillFile) Rows(fn func(BillRow) error) (BillSummary, error) {
	if _, err := b.f.Seek(0, io.SeekStart); err != nil {
		return BillSummary{}, err
	}
	zr, err := gzip.NewReader(bufio.NewReader(b.f))
	if err != nil {
		return BillSummary{}, fmt.Errorf("wxpay: trade bill: %w: gzip: %w", ErrBillFormat, err)
	}
	defer zr.Close()
	return ParseTradeBill(zr, fn)
}

// Close removes the temporary file.
func (b *TradeBillFile) Close() error {
	return errors.Join(b.f.Close(), os.Remove(b.f.Name()))
}

// Columns of the ALL bill that we read, by their header names.
const (
	colTime        = "交易时间"
	colAppID       = "公众账号ID"
	colMchID       = "商户号"
	colTxnID       = "微信订单号"
	colOutTradeNo  = "商户订单号"
	colTradeType   = "交易类型"
	colState       = "交易状态"
	colSettled     = "应结订单金额"
	colRefundID    = "微信退款单号"
	colOutRefundNo = "商户退款单号"
	colRefund      = "退款金额"
	colRefundState = "退款状态"
	colFee         = "手续费"
)

// ParseTradeBill reads WeChat's ALL trade bill text: a header line, one line
// per payment or refund with every field prefixed by a backtick, then a
// summary header (总交易单数,…) and its values. It calls fn for each row as
// it is read (memory stays flat), and checks the summary against the rows:
// count, settled amount, refunds and fees must all agree, or the error is
// ErrBillFormat. Columns are found by their header names, so a column WeChat
// adds is ignored.
func ParseTradeBill(r io.Reader, fn func(BillRow) error) (BillSummary, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	bad := func(line int, format string, a ...any) error {
		return fmt.Errorf("wxpay: trade bill line %d: %w: %s", line, ErrBillFormat, fmt.Sprintf(format, a...))
	}
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return strings.TrimRight(sc.Text(), "\r"), true
	}
	head, ok := next()
	if !ok {
		return BillSummary{}, errors.Join(bad(1, "empty file"), sc.Err())
	}
	head = strings.TrimPrefix(head, "\ufeff")
	idx := map[string]int{}
	for i, name := range strings.Split(head, ",") {
		idx[strings.TrimSpace(name)] = i
	}
	for _, need := range []string{colTime, colAppID, colMchID, colTxnID, colOutTradeNo, colTradeType, colState,
		colSettled, colRefundID, colOutRefundNo, colRefund, colRefundState, colFee} {
		if _, ok := idx[need]; !ok {
			return BillSummary{}, bad(1, "no column %s", need)
		}
	}
	var got BillSummary
	fields := make([]string, 0, len(idx))
	for {
		text, ok := next()
		if !ok {
			return BillSummary{}, errors.Join(bad(line, "no summary block"), sc.Err())
		}
		if strings.HasPrefix(text, "总交易单数") {
			break
		}
		if text == "" {
			continue
		}
		fields = splitBillLine(fields[:0], text)
		if len(fields) < len(idx) {
			return BillSummary{}, bad(line, "%d fields, want %d", len(fields), len(idx))
		}
		get := func(col string) string { return fields[idx[col]] }
		row := BillRow{Line: line, AppID: get(colAppID), MchID: get(colMchID), TransactionID: get(colTxnID),
			OutTradeNo: get(colOutTradeNo), TradeType: get(colTradeType), TradeState: get(colState),
			OutRefundNo: get(colOutRefundNo), RefundID: get(colRefundID), RefundStatus: get(colRefundState)}
		var err error
		if row.Time, err = time.ParseInLocation(time.DateTime, get(colTime), beijing.Location()); err != nil {
			return BillSummary{}, bad(line, "time %q", get(colTime))
		}
		if row.SettledFen, err = yuanToUnits(get(colSettled), 2); err != nil {
			return BillSummary{}, bad(line, "%s %q", colSettled, get(colSettled))
		}
		if row.RefundFen, err = yuanToUnits(get(colRefund), 2); err != nil {
			return BillSummary{}, bad(line, "%s %q", colRefund, get(colRefund))
		}
		if row.FeeMilliFen, err = yuanToUnits(get(colFee), 5); err != nil {
			return BillSummary{}, bad(line, "%s %q", colFee, get(colFee))
		}
		if row.OutTradeNo == "" || row.TransactionID == "" {
			return BillSummary{}, bad(line, "no order number")
		}
		if row.IsRefund() && row.OutRefundNo == "" {
			return BillSummary{}, bad(line, "refund without a refund number")
		}
		got.Rows++
		got.SettledFen += row.SettledFen
		got.RefundFen += row.RefundFen
		got.FeeMilliFen += row.FeeMilliFen
		if err := fn(row); err != nil {
			return BillSummary{}, err
		}
	}
	values, ok := next()
	if !ok {
		return BillSummary{}, errors.Join(bad(line, "summary without values"), sc.Err())
	}
	sf := splitBillLine(nil, values)
	if len(sf) < 5 {
		return BillSummary{}, bad(line, "summary has %d fields", len(sf))
	}
	var want BillSummary
	n, err := strconv.Atoi(sf[0])
	if err != nil {
		return BillSummary{}, bad(line, "summary count %q", sf[0])
	}
	want.Rows = n
	for _, f := range []struct {
		dst    *int64
		text   string
		places int
	}{{&want.SettledFen, sf[1], 2}, {&want.RefundFen, sf[2], 2}, {&want.FeeMilliFen, sf[4], 5}} {
		if *f.dst, err = yuanToUnits(f.text, f.places); err != nil {
			return BillSummary{}, bad(line, "summary amount %q", f.text)
		}
	}
	if got != want {
		return BillSummary{}, bad(line, "summary %+v, lines add up to %+v", want, got)
	}
	if err := sc.Err(); err != nil {
		return BillSummary{}, fmt.Errorf("wxpay: trade bill: %w", err)
	}
	return got, nil
}

// splitBillLine splits a bill line at commas and drops each field's
// backtick. WeChat's fields never contain commas (it strips them from
// product names), so no quoting is needed.
func splitBillLine(dst []string, line string) []string {
	for {
		f, rest, more := strings.Cut(line, ",")
		dst = append(dst, strings.TrimPrefix(strings.TrimSpace(f), "`"))
		if !more {
			return dst
		}
		line = rest
	}
}

// yuanToUnits parses a yuan amount ("12.34", "-0.06000") exactly into
// units of 10^-places yuan: places 2 gives fen, 5 thousandths of a fen.
func yuanToUnits(s string, places int) (int64, error) { return units.ParseDecimal(s, places) }
