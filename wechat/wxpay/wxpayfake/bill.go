package wxpayfake

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"gaspay/internal/beijing"
)

// downloadHost is where download_url points, like the real one; the client
// rewrites it to the fake exactly as it rewrites API calls.
const downloadHost = "https://api.mch.weixin.qq.com"

// Header lines of the ALL trade bill, as in WeChat's files.
const (
	billHeader = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类," +
		"应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率," +
		"订单金额,申请退款金额,费率备注"
	billSummaryHeader = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)

// feeRate is the fake's fee: 0.60 %, rounded half up to the fen, printed in
// yuan with five decimals as WeChat prints fees.
const (
	feeRateText       = "0.60%"
	feePerTenThousand = 60
)

func fee(fen int64) int64 {
	if fen < 0 {
		return -fee(-fen)
	}
	return (fen*feePerTenThousand + 5000) / 10000
}

func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

func feeYuan(fen int64) string { return yuan(fen) + "000" }

type billFile struct {
	data    []byte
	gzip    bool
	created time.Time // wall clock: link validity is protocol time
}

type billRow struct {
	at     time.Time
	fields []string
}

// tradeBill renders the ALL, SUCCESS or REFUND bill of day (Beijing time),
// or returns false when the day has no trade. Called with s.mu held.
func (s *Server) tradeBill(day time.Time, billType string) ([]byte, bool) {
	cst := beijing.Location()
	sameDay := func(t time.Time) bool {
		y1, m1, d1 := t.In(cst).Date()
		y2, m2, d2 := day.Date()
		return !t.IsZero() && y1 == y2 && m1 == m2 && d1 == d2
	}
	var rows []billRow
	var orderSum, refundSum, feeSum int64
	plant := func(kind PlantKind, key string) (BillPlant, bool) {
		for _, p := range s.plants {
			if p.Kind == kind && (p.OutTradeNo == key || (p.OutRefundNo != "" && p.OutRefundNo == key)) {
				return p, true
			}
		}
		return BillPlant{}, false
	}
	payment := func(at time.Time, appID, mchID, txnID, outTradeNo, openID, tradeType, desc, attach string, fen int64) {
		f := fee(fen)
		orderSum += fen
		feeSum += f
		rows = append(rows, billRow{at: at, fields: []string{
			at.In(cst).Format(time.DateTime), appID, mchID, "0", "", txnID, outTradeNo,
			openID, tradeType, "SUCCESS", "OTHERS", "CNY", yuan(fen), "0.00", "0", "0", "0.00", "0.00",
			"", "", desc, attach, feeYuan(f), feeRateText, yuan(fen), "0.00", "",
		}})
	}
	refundRow := func(at time.Time, o Order, refundID, outRefundNo, status string, fen int64) {
		f := -fee(fen)
		refundSum += fen
		feeSum += f
		rows = append(rows, billRow{at: at, fields: []string{
			at.In(cst).Format(time.DateTime), o.AppID, s.cfg.MchID, "0", "", o.TransactionID, o.OutTradeNo,
			o.PayerOpenID, o.TradeType, "REFUND", "OTHERS", "CNY", "0.00", "0.00", refundID, outRefundNo,
			yuan(fen), "0.00", "ORIGINAL", status, o.Description, o.Attach, feeYuan(f), feeRateText,
			"0.00", yuan(fen), "",
		}})
	}
	if billType != "REFUND" {
		for _, o := range s.orders {
			if o.TransactionID == "" || !sameDay(o.SuccessTime) {
				continue
			}
			if _, omit := plant(PlantOmit, o.OutTradeNo); omit {
				continue
			}
			fen, appID, mchID := o.TotalFen, o.AppID, s.cfg.MchID
			if p, ok := plant(PlantAmount, o.OutTradeNo); ok {
				fen = p.Fen
			}
			if p, ok := plant(PlantMerchant, o.OutTradeNo); ok {
				appID, mchID = cmp.Or(p.AppID, appID), cmp.Or(p.MchID, mchID)
			}
			payment(o.SuccessTime, appID, mchID, o.TransactionID, o.OutTradeNo, o.PayerOpenID, o.TradeType, o.Description, o.Attach, fen)
		}
		for _, p := range s.plants {
			if p.Kind == PlantExtra && sameDay(p.At) {
				payment(p.At, cmp.Or(p.AppID, "wxplanted"), cmp.Or(p.MchID, s.cfg.MchID), "4200"+randString(digits, 24),
					p.OutTradeNo, "planted", TradeJSAPI, "planted", "", p.Fen)
			}
		}
	}
	if billType != "SUCCESS" {
		for _, r := range s.refunds {
			if !sameDay(r.CreateTime) || r.Status == RefundClosed {
				continue
			}
			if _, omit := plant(PlantRefundOmit, r.OutRefundNo); omit {
				continue
			}
			fen := r.RefundFen
			if p, ok := plant(PlantRefundAmount, r.OutRefundNo); ok {
				fen = p.Fen
			}
			refundRow(r.CreateTime, s.orders[r.OutTradeNo].Order, r.RefundID, r.OutRefundNo, r.Status, fen)
		}
		for _, p := range s.plants {
			if p.Kind != PlantRefundExtra || !sameDay(p.At) {
				continue
			}
			o := Order{OutTradeNo: p.OutTradeNo, TransactionID: "4200" + randString(digits, 24), AppID: "wxplanted", TradeType: TradeJSAPI}
			if real, ok := s.orders[p.OutTradeNo]; ok {
				o = real.Order
			}
			refundRow(p.At, o, "50"+randString(digits, 30), p.OutRefundNo, RefundSuccess, p.Fen)
		}
	}
	if len(rows) == 0 {
		return nil, false
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	var b strings.Builder
	b.WriteString(billHeader + "\r\n")
	for _, r := range rows {
		writeBillLine(&b, r.fields)
	}
	b.WriteString(billSummaryHeader + "\r\n")
	writeBillLine(&b, []string{strconv.Itoa(len(rows)), yuan(orderSum), yuan(refundSum), "0.00", feeYuan(feeSum), yuan(orderSum), yuan(refundSum)})
	return []byte(b.String()), true
}

// writeBillLine writes fields each prefixed by a backtick, which WeChat adds
// so that spreadsheets keep long numbers as text.
func writeBillLine(b *strings.Builder, fields []string) {
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('`')
		b.WriteString(f)
	}
	b.WriteString("\r\n")
}

func (s *Server) handleTradeBill(r *http.Request, _ []byte) reply {
	q := r.URL.Query()
	day, err := time.ParseInLocation(time.DateOnly, q.Get("bill_date"), beijing.Location())
	if err != nil {
		return paramError("bill_date must be YYYY-MM-DD")
	}
	billType := q.Get("bill_type")
	switch billType {
	case "":
		billType = "ALL"
	case "ALL", "SUCCESS", "REFUND":
	default:
		return paramError("bill_type must be ALL, SUCCESS or REFUND")
	}
	tarType := q.Get("tar_type")
	if tarType != "" && tarType != "GZIP" {
		return paramError("tar_type must be GZIP or omitted")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	y, m, d := s.cfg.Now().In(beijing.Location()).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, beijing.Location())
	if day.After(today) || (day.Equal(today) && !s.cfg.BillsSameDay) {
		return errorReply(http.StatusBadRequest, "NO_STATEMENT_EXIST", "账单尚未生成，请于次日查询")
	}
	file, ok := s.tradeBill(day, billType)
	if !ok {
		return errorReply(http.StatusBadRequest, "NO_STATEMENT_EXIST", "账单文件不存在")
	}
	// Download links live 30 s at WeChat; five minutes here is generous
	// and keeps a long-running sandbox from accumulating files.
	for t, b := range s.bills {
		if time.Since(b.created) > 5*time.Minute {
			delete(s.bills, t)
		}
	}
	if tarType == "GZIP" {
		var zb bytes.Buffer
		// The fastest level: a long bill is built on every request here,
		// where WeChat serves one file made once.
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		_, _ = zw.Write(file)
		_ = zw.Close()
		file = zb.Bytes()
	}
	token := randString(alphanumeric, 40)
	s.bills[token] = billFile{data: file, created: time.Now(), gzip: tarType == "GZIP"}
	sum := sha1.Sum(file)
	return jsonReply(http.StatusOK, map[string]string{
		"download_url": downloadHost + "/v3/billdownload/file?token=" + token,
		"hash_type":    "SHA1",
		"hash_value":   hex.EncodeToString(sum[:]),
	})
}

func (s *Server) handleDownload(r *http.Request, _ []byte) reply {
	s.mu.Lock()
	file, ok := s.bills[r.URL.Query().Get("token")]
	s.mu.Unlock()
	if !ok || time.Since(file.created) > 5*time.Minute {
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "下载链接无效或已过期")
	}
	ct := "text/plain; charset=utf-8"
	if file.gzip {
		ct = "application/x-gzip"
	}
	return reply{status: http.StatusOK, body: file.data, contentType: ct, unsigned: true}
}

// PlantKind is a difference the fake can plant in the bills it serves, so
// that reconciliation can be tested against every kind of disagreement.
type PlantKind int

// Kinds of planted differences.
const (
	// PlantOmit leaves the order's payment out of the bill.
	PlantOmit PlantKind = iota + 1
	// PlantAmount shows the order's payment with Fen instead.
	PlantAmount
	// PlantMerchant shows the order's payment under MchID and/or AppID.
	PlantMerchant
	// PlantExtra adds a payment for OutTradeNo (Fen, at At) that the fake
	// never took.
	PlantExtra
	// PlantRefundOmit leaves the refund OutRefundNo out of the bill.
	PlantRefundOmit
	// PlantRefundAmount shows the refund OutRefundNo with Fen instead.
	PlantRefundAmount
	// PlantRefundExtra adds a refund OutRefundNo of order OutTradeNo (Fen,
	// at At) that the fake never made.
	PlantRefundExtra
)

// BillPlant is one planted difference; which fields count depends on Kind.
type BillPlant struct {
	Kind        PlantKind
	OutTradeNo  string
	OutRefundNo string
	Fen         int64
	At          time.Time
	MchID       string
	AppID       string
}

// PlantBillDifference makes every bill served from now on show p. The
// fake's own record of trades does not change: queries still tell the
// truth, as WeChat's would.
func (s *Server) PlantBillDifference(p BillPlant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plants = append(s.plants, p)
}

// RecordPaid adds an order that a customer paid at at, without a request:
// for seeding load tests and benchmarks with many trades. It returns the
// order with its transaction id.
func (s *Server) RecordPaid(appID, outTradeNo string, fen int64, at time.Time) Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &order{Order: Order{AppID: appID, OutTradeNo: outTradeNo, TradeType: TradeJSAPI, Description: "seeded",
		TotalFen: fen, State: StateSuccess, CreatedAt: at, ExpiresAt: at.Add(prepayValidity), SuccessTime: at,
		PayerOpenID: "o" + randString(openIDChars, 27)}}
	o.TransactionID = "4200" + randString(digits, 6) + at.In(beijing.Location()).Format("20060102") + randString(digits, 10)
	s.orders[outTradeNo] = o
	s.byTxID[o.TransactionID] = o
	return o.Order
}
