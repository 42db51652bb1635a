package wxpayfake

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
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
	created time.Time // wall clock: link validity is protocol time
}

type billRow struct {
	at     time.Time
	fields []string
}

// tradeBill renders the ALL, SUCCESS or REFUND bill of day (Beijing time),
// or returns false when the day has no trade. Called with s.mu held.
func (s *Server) tradeBill(day time.Time, billType string) ([]byte, bool) {
	cst := beijing()
	sameDay := func(t time.Time) bool {
		y1, m1, d1 := t.In(cst).Date()
		y2, m2, d2 := day.Date()
		return !t.IsZero() && y1 == y2 && m1 == m2 && d1 == d2
	}
	var rows []billRow
	var orderSum, refundSum, feeSum int64
	if billType != "REFUND" {
		for _, o := range s.orders {
			if o.TransactionID == "" || !sameDay(o.SuccessTime) {
				continue
			}
			f := fee(o.TotalFen)
			orderSum += o.TotalFen
			feeSum += f
			rows = append(rows, billRow{at: o.SuccessTime, fields: []string{
				o.SuccessTime.In(cst).Format(time.DateTime), o.AppID, s.cfg.MchID, "0", "", o.TransactionID, o.OutTradeNo,
				o.PayerOpenID, o.TradeType, "SUCCESS", "OTHERS", "CNY", yuan(o.TotalFen), "0.00", "0", "0", "0.00", "0.00",
				"", "", o.Description, o.Attach, feeYuan(f), feeRateText, yuan(o.TotalFen), "0.00", "",
			}})
		}
	}
	if billType != "SUCCESS" {
		for _, r := range s.refunds {
			if !sameDay(r.CreateTime) || r.Status == RefundClosed {
				continue
			}
			o := s.orders[r.OutTradeNo]
			f := -fee(r.RefundFen)
			refundSum += r.RefundFen
			feeSum += f
			rows = append(rows, billRow{at: r.CreateTime, fields: []string{
				r.CreateTime.In(cst).Format(time.DateTime), o.AppID, s.cfg.MchID, "0", "", r.TransactionID, r.OutTradeNo,
				o.PayerOpenID, o.TradeType, "REFUND", "OTHERS", "CNY", "0.00", "0.00", r.RefundID, r.OutRefundNo,
				yuan(r.RefundFen), "0.00", "ORIGINAL", r.Status, o.Description, o.Attach, feeYuan(f), feeRateText,
				"0.00", yuan(r.RefundFen), "",
			}})
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
	day, err := time.ParseInLocation(time.DateOnly, q.Get("bill_date"), beijing())
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
	if q.Get("tar_type") != "" {
		return paramError("the fake serves plain bills only; omit tar_type")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	y, m, d := s.cfg.Now().In(beijing()).Date()
	if !day.Before(time.Date(y, m, d, 0, 0, 0, 0, beijing())) {
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
	token := randString(alphanumeric, 40)
	s.bills[token] = billFile{data: file, created: time.Now()}
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
	return reply{status: http.StatusOK, body: file.data, contentType: "text/plain; charset=utf-8", unsigned: true}
}
