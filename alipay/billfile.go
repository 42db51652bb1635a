package alipay

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"gaspay/units"

	"golang.org/x/text/encoding/simplifiedchinese"

	"gaspay/internal/beijing"
)

// ErrBillFormat: the bill zip does not hold the files and columns Alipay
// writes, or its summary disagrees with its details. Nothing in it may be
// believed.
var ErrBillFormat = errors.New("alipay: bill malformed")

// BillRow is one line of the trade bill's details (业务明细): a payment
// (交易) or a refund (退款, amounts negative).
type BillRow struct {
	Line       int    // line number in the details file
	Account    string // 账号 of the file's header
	TradeNo    string // 支付宝交易号
	OutTradeNo string // 商户订单号
	BizType    string // 业务类型: 交易 or 退款
	Subject    string // 商品名称 (GBK in the file, UTF-8 here)
	CreatedAt  time.Time
	FinishedAt time.Time // 完成时间: the payment's or the refund's
	// AmountFen is 订单金额; negative on refunds.
	AmountFen int64
	// ReceivedFen is 商家实收.
	ReceivedFen int64
	// RefundNo is 退款批次号/请求号 (our out_request_no) on refunds.
	RefundNo string
	// FeeFen is 服务费.
	FeeFen int64
}

// IsRefund reports whether the row is a refund.
func (r BillRow) IsRefund() bool { return r.BizType == "退款" }

// BillSummary is what the bill says about itself.
type BillSummary struct {
	Account  string // 账号 in the files' header
	Payments int    // 交易订单总笔数
	Refunds  int    // 退款订单总笔数
	NetFen   int64  // 订单金额 of the summary: payments less refunds
	FeeFen   int64  // 服务费
}

// BillFile is a downloaded trade bill, kept in a temporary file (a zip is
// read from its end, so it cannot be parsed as it arrives). Close removes
// it.
type BillFile struct {
	f    *os.File
	size int64
}

// DownloadBillFile fetches the bill at billURL (from BillURL, valid about
// 30 seconds) into a temporary file under dir ("" for the system's). Memory
// stays flat however long the bill. The file is not signed: it comes over
// HTTPS from the host a signed answer named.
func (c *Client) DownloadBillFile(ctx context.Context, billURL, dir string) (_ *BillFile, err error) {
	const op = "download bill"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, billURL, nil)
	if err != nil {
		return nil, wrap(op, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, unknown(op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alipay: %s: HTTP %d", op, resp.StatusCode)
	}
	f, err := os.CreateTemp(dir, "alibill-*.zip")
	if err != nil {
		return nil, wrap(op, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, resp.Body)
	if err != nil {
		return nil, unknown(op, err)
	}
	return &BillFile{f: f, size: n}, nil
}

// Close removes the temporary file.
func (b *BillFile) Close() error { return errors.Join(b.f.Close(), os.Remove(b.f.Name())) }

// Rows parses the bill: it calls fn for each detail row in file order and
// returns the summary once the details agreed with it. An error from fn
// stops the reading and is returned as is.
func (b *BillFile) Rows(fn func(BillRow) error) (BillSummary, error) {
	return ParseBillZip(b.f, b.size, fn)
}

// ParseBillZip reads Alipay's trade bill zip: a details file (…_业务明细.csv)
// and a summary file (…_业务明细(汇总).csv), both GBK CSV with #-comment
// lines around the table. Columns are found by their header names.
func ParseBillZip(r io.ReaderAt, size int64, fn func(BillRow) error) (BillSummary, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return BillSummary{}, fmt.Errorf("%w: zip: %w", ErrBillFormat, err)
	}
	var details, summary *zip.File
	for _, f := range zr.File {
		name := gbkName(f)
		switch {
		case strings.HasSuffix(name, "(汇总).csv") || strings.HasSuffix(name, "（汇总）.csv"):
			summary = f
		case strings.HasSuffix(name, "业务明细.csv"):
			details = f
		}
	}
	if details == nil || summary == nil {
		return BillSummary{}, fmt.Errorf("%w: zip lacks the details or the summary file", ErrBillFormat)
	}
	want, err := readSummary(summary)
	if err != nil {
		return BillSummary{}, err
	}
	rc, err := details.Open()
	if err != nil {
		return BillSummary{}, fmt.Errorf("%w: %w", ErrBillFormat, err)
	}
	defer rc.Close()
	got, err := ParseBillDetails(rc, fn)
	if err != nil {
		return BillSummary{}, err
	}
	if got.Payments != want.Payments || got.Refunds != want.Refunds || got.NetFen != want.NetFen || got.FeeFen != want.FeeFen {
		return BillSummary{}, fmt.Errorf("%w: summary %+v, details add up to %+v", ErrBillFormat, want, got)
	}
	got.Account = cmpOr(got.Account, want.Account)
	return got, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// gbkName is a zip entry's name: UTF-8 when the entry says so, GBK
// otherwise (Alipay's files do not set the UTF-8 flag).
func gbkName(f *zip.File) string {
	if f.NonUTF8 {
		if s, err := simplifiedchinese.GB18030.NewDecoder().String(f.Name); err == nil {
			return s
		}
	}
	return f.Name
}

// commentReader hands the CSV reader the table only: Alipay surrounds it
// with lines beginning with '#', which it passes to onComment.
type commentReader struct {
	sc        *bufio.Scanner
	buf       []byte
	line      int // lines read, comments included
	onComment func(string)
}

func newCommentReader(r io.Reader, onComment func(string)) *commentReader {
	sc := bufio.NewScanner(simplifiedchinese.GB18030.NewDecoder().Reader(r))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	return &commentReader{sc: sc, onComment: onComment}
}

func (c *commentReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if !c.sc.Scan() {
			if err := c.sc.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		c.line++
		text := strings.TrimRight(c.sc.Text(), "\r")
		if strings.HasPrefix(strings.TrimPrefix(text, "\ufeff"), "#") {
			c.onComment(strings.TrimPrefix(text, "\ufeff"))
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		c.buf = append(append(c.buf[:0], text...), '\n')
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// ParseBillDetails reads the details file (GBK) row by row, calling fn
// for each, and returns what the rows add up to, with the account and the
// counts of its footer checked.
func ParseBillDetails(r io.Reader, fn func(BillRow) error) (BillSummary, error) {
	var sum BillSummary
	footerPayments, footerRefunds := -1, -1
	cr := newCommentReader(r, func(line string) {
		if a, ok := bracketed(line, "#账号："); ok {
			sum.Account = a
		}
		if rest, ok := strings.CutPrefix(line, "#交易合计："); ok {
			p, rf, ok := strings.Cut(rest, "笔，退款合计：")
			if ok {
				footerPayments, _ = strconv.Atoi(p)
				footerRefunds, _ = strconv.Atoi(strings.TrimSuffix(rf, "笔"))
			}
		}
	})
	cv := csv.NewReader(cr)
	cv.FieldsPerRecord = -1
	cv.ReuseRecord = true
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: details line %d: %s", ErrBillFormat, cr.line, fmt.Sprintf(format, a...))
	}
	head, err := cv.Read()
	if err != nil {
		return sum, bad("no header: %v", err)
	}
	idx := map[string]int{}
	for i, h := range head {
		idx[strings.TrimSpace(h)] = i
	}
	cols := []string{"支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "订单金额（元）", "商家实收（元）", "退款批次号/请求号", "服务费（元）"}
	for _, c := range cols {
		if _, ok := idx[c]; !ok {
			return sum, bad("no column %s", c)
		}
	}
	for {
		rec, err := cv.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, bad("%v", err)
		}
		if len(rec) < len(head) {
			return sum, bad("%d fields, want %d", len(rec), len(head))
		}
		get := func(col string) string { return strings.TrimSpace(rec[idx[col]]) }
		line, _ := cv.FieldPos(0)
		row := BillRow{Line: line, Account: sum.Account, TradeNo: get("支付宝交易号"), OutTradeNo: get("商户订单号"), BizType: get("业务类型"),
			Subject: get("商品名称"), RefundNo: get("退款批次号/请求号")}
		if row.CreatedAt, err = time.ParseInLocation(timeLayout, get("创建时间"), beijing.Location()); err != nil {
			return sum, bad("创建时间 %q", get("创建时间"))
		}
		if row.FinishedAt, err = time.ParseInLocation(timeLayout, get("完成时间"), beijing.Location()); err != nil {
			return sum, bad("完成时间 %q", get("完成时间"))
		}
		for _, f := range []struct {
			dst *int64
			col string
		}{{&row.AmountFen, "订单金额（元）"}, {&row.ReceivedFen, "商家实收（元）"}, {&row.FeeFen, "服务费（元）"}} {
			if *f.dst, err = signedYuan(get(f.col)); err != nil {
				return sum, bad("%s %q", f.col, get(f.col))
			}
		}
		switch {
		case row.OutTradeNo == "" || row.TradeNo == "":
			return sum, bad("no order number")
		case row.BizType == "交易":
			sum.Payments++
		case row.BizType == "退款":
			sum.Refunds++
		default:
			return sum, bad("业务类型 %q", row.BizType)
		}
		sum.NetFen += row.AmountFen
		sum.FeeFen += row.FeeFen
		if err := fn(row); err != nil {
			return sum, err
		}
	}
	if footerPayments != sum.Payments || footerRefunds != sum.Refunds {
		return sum, fmt.Errorf("%w: footer says %d payments and %d refunds, details have %d and %d",
			ErrBillFormat, footerPayments, footerRefunds, sum.Payments, sum.Refunds)
	}
	return sum, nil
}

func readSummary(f *zip.File) (BillSummary, error) {
	rc, err := f.Open()
	if err != nil {
		return BillSummary{}, fmt.Errorf("%w: %w", ErrBillFormat, err)
	}
	defer rc.Close()
	var sum BillSummary
	cr := newCommentReader(rc, func(line string) {
		if a, ok := bracketed(line, "#账号："); ok {
			sum.Account = a
		}
	})
	cv := csv.NewReader(cr)
	cv.FieldsPerRecord = -1
	head, err := cv.Read()
	if err != nil {
		return sum, fmt.Errorf("%w: summary: %w", ErrBillFormat, err)
	}
	idx := map[string]int{}
	for i, h := range head {
		idx[strings.TrimSpace(h)] = i
	}
	for {
		rec, err := cv.Read()
		if errors.Is(err, io.EOF) {
			return sum, fmt.Errorf("%w: summary has no 合计 line", ErrBillFormat)
		}
		if err != nil {
			return sum, fmt.Errorf("%w: summary: %w", ErrBillFormat, err)
		}
		if len(rec) == 0 || strings.TrimSpace(rec[0]) != "合计" {
			continue
		}
		field := func(col string) (string, error) {
			i, ok := idx[col]
			if !ok || i >= len(rec) {
				return "", fmt.Errorf("%w: summary lacks %s", ErrBillFormat, col)
			}
			return strings.TrimSpace(rec[i]), nil
		}
		var errs []error
		num := func(col string) int {
			s, err := field(col)
			n, cerr := strconv.Atoi(s)
			errs = append(errs, err, cerr)
			return n
		}
		money := func(col string) int64 {
			s, err := field(col)
			v, cerr := signedYuan(s)
			errs = append(errs, err, cerr)
			return v
		}
		sum.Payments, sum.Refunds = num("交易订单总笔数"), num("退款订单总笔数")
		sum.NetFen, sum.FeeFen = money("订单金额（元）"), money("服务费（元）")
		if err := errors.Join(errs...); err != nil {
			return sum, fmt.Errorf("%w: summary: %w", ErrBillFormat, err)
		}
		return sum, nil
	}
}

// bracketed reads the value of a header line such as "#账号：[2088…]".
func bracketed(line, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
		return "", false
	}
	return rest[1 : len(rest)-1], true
}

// signedYuan parses a yuan amount with an optional minus sign into fen,
// exactly; bills drop trailing zeros at times ("12", "12.3").
func signedYuan(s string) (int64, error) { return units.ParseDecimal(s, 2) }
