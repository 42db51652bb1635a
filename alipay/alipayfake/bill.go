package alipayfake

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"net/http"
	"sort"
	"strconv"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"gaspay/internal/randhex"
)

// billLinkLifetime is how long a bill URL works, as at Alipay.
const billLinkLifetime = 30 * time.Second

// billDetailHeader is the column layout of Alipay's trade bill (业务明细).
func billDetailHeader() []string {
	return []string{"支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间",
		"门店编号", "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）",
		"支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称",
		"商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注"}
}

// billSummaryHeader is the column layout of the bill's summary (汇总).
func billSummaryHeader() []string {
	return []string{"门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）",
		"商家实收（元）", "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）", "实收净额（元）"}
}

type billFile struct {
	name    string
	data    []byte
	expires time.Time
}

type billLine struct {
	at     time.Time
	fields []string
}

// billURL answers alipay.data.dataservice.bill.downloadurl.query with a
// link to a bill built now from the fake's trades. s.mu must be held.
func (s *Server) billURL(req request) node {
	b := req.biz
	if b.BillType != "trade" {
		return fail("40004", "isp.bill_not_exist", "账单不存在 (the fake serves trade bills only)")
	}
	var start, end time.Time
	var stamp string
	if t, err := time.ParseInLocation("2006-01-02", b.BillDate, s.loc); err == nil && t.Format("2006-01-02") == b.BillDate {
		start, end, stamp = t, t.AddDate(0, 0, 1), t.Format("20060102")
	} else if t, err := time.ParseInLocation("2006-01", b.BillDate, s.loc); err == nil && t.Format("2006-01") == b.BillDate {
		start, end, stamp = t, t.AddDate(0, 1, 0), t.Format("200601")
	} else {
		return fail("40002", "isv.invalid-arguments", "bill_date 格式错误")
	}
	now := s.now()
	if start.After(now) {
		return fail("40004", "isp.bill_not_exist", "账单不存在")
	}
	data, err := s.buildBill(start, end, now, stamp)
	if err != nil {
		return fail("20000", "isp.unknow-error", "系统繁忙")
	}
	token := randhex.New(16)
	s.bills[token] = billFile{
		name:    s.appID + "_" + stamp + ".csv.zip",
		data:    data,
		expires: now.Add(billLinkLifetime),
	}
	return success(node{"bill_download_url": req.base + billPath + "?token=" + token +
		"&bizType=trade&fileType=csv.zip&bizDates=" + stamp})
}

// buildBill writes the zip: the detail file and the summary file, GBK as
// Alipay writes them. Refunds are rows of their own, negative. Planted
// differences (PlantBillDifference) show in it.
func (s *Server) buildBill(start, end, now time.Time, stamp string) ([]byte, error) {
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(start) && t.Before(end) }
	var lines []billLine
	var payments, refunds int
	var grossFen, refundFen int64
	for _, no := range sortedKeys(s.trades) {
		t := s.trades[no]
		if in(t.PaidAt) && !s.planted(PlantOmit, t.OutTradeNo) {
			fen := t.TotalFen
			if p, ok := s.plant(PlantAmount, t.OutTradeNo); ok {
				fen = p.Fen
			}
			payments++
			grossFen += fen
			amount := fenToYuan(fen)
			lines = append(lines, billLine{t.PaidAt, []string{t.TradeNo, t.OutTradeNo, "交易", t.Subject,
				s.fmtTime(t.CreatedAt), s.fmtTime(t.PaidAt), "", "", "", "", t.buyerLogonID, amount, amount,
				"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", "0.00", "0.00", ""}})
		}
		for _, r := range t.Refunds {
			if !in(r.At) || s.planted(PlantRefundOmit, r.OutRequestNo) {
				continue
			}
			fen := r.Fen
			if p, ok := s.plant(PlantRefundAmount, r.OutRequestNo); ok {
				fen = p.Fen
			}
			refunds++
			refundFen += fen
			amount := "-" + fenToYuan(fen)
			lines = append(lines, billLine{r.At, []string{t.TradeNo, t.OutTradeNo, "退款", t.Subject,
				s.fmtTime(t.CreatedAt), s.fmtTime(r.At), "", "", "", "", t.buyerLogonID, amount, amount,
				"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", r.OutRequestNo, "0.00", "0.00", ""}})
		}
	}
	for _, p := range s.plants {
		if !in(p.At) {
			continue
		}
		tradeNo := "2026" + randhex.New(12)
		if t, ok := s.trades[p.OutTradeNo]; ok {
			tradeNo = t.TradeNo
		}
		switch p.Kind {
		case PlantExtra:
			payments++
			grossFen += p.Fen
			amount := fenToYuan(p.Fen)
			lines = append(lines, billLine{p.At, []string{tradeNo, p.OutTradeNo, "交易", "planted",
				s.fmtTime(p.At), s.fmtTime(p.At), "", "", "", "", "planted", amount, amount,
				"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", "0.00", "0.00", ""}})
		case PlantRefundExtra:
			refunds++
			refundFen += p.Fen
			amount := "-" + fenToYuan(p.Fen)
			lines = append(lines, billLine{p.At, []string{tradeNo, p.OutTradeNo, "退款", "planted",
				s.fmtTime(p.At), s.fmtTime(p.At), "", "", "", "", "planted", amount, amount,
				"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", p.OutRefundNo, "0.00", "0.00", ""}})
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })

	period := "#起始日期：[" + start.Format("2006年01月02日 15:04:05") + "]   终止日期：[" + end.Format("2006年01月02日 15:04:05") + "]"
	exported := "#导出时间：[" + now.In(s.loc).Format("2006年01月02日 15:04:05") + "]"

	var detail bytes.Buffer
	account := s.appID
	for _, p := range s.plants {
		if p.Kind == PlantMerchant {
			account = p.Account
		}
	}
	detail.WriteString("#支付宝业务明细查询\n#账号：[" + account + "]\n" + period + "\n")
	detail.WriteString("#-----------------------------------------业务明细列表----------------------------------------\n")
	cw := csv.NewWriter(&detail)
	_ = cw.Write(billDetailHeader())
	for _, l := range lines {
		_ = cw.Write(l.fields)
	}
	cw.Flush()
	detail.WriteString("#-----------------------------------------业务明细列表结束------------------------------------\n")
	detail.WriteString("#交易合计：" + strconv.Itoa(payments) + "笔，退款合计：" + strconv.Itoa(refunds) + "笔\n" + exported + "\n")

	net := grossFen - refundFen
	netText := fenToYuan(max(net, -net))
	if net < 0 {
		netText = "-" + netText
	}
	var summary bytes.Buffer
	summary.WriteString("#支付宝业务汇总查询\n#账号：[" + account + "]\n" + period + "\n")
	summary.WriteString("#-----------------------------------------业务汇总列表----------------------------------------\n")
	cw = csv.NewWriter(&summary)
	_ = cw.Write(billSummaryHeader())
	_ = cw.Write([]string{"合计", "", strconv.Itoa(payments), strconv.Itoa(refunds), netText, netText,
		"0.00", "0.00", "0.00", "0.00", "0.00", netText})
	cw.Flush()
	summary.WriteString("#-----------------------------------------业务汇总列表结束-----------------------------------\n" + exported + "\n")

	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{s.appID + "_" + stamp + "_业务明细.csv", detail.Bytes()},
		{s.appID + "_" + stamp + "_业务明细(汇总).csv", summary.Bytes()},
	} {
		// Alipay's files and their names are GBK, the names without the
		// zip's UTF-8 flag. GB18030 is GBK for every character GBK has,
		// and also encodes those it lacks (m³ in a subject).
		name, err := simplifiedchinese.GB18030.NewEncoder().String(f.name)
		if err != nil {
			return nil, err
		}
		data, err := simplifiedchinese.GB18030.NewEncoder().Bytes(f.data)
		if err != nil {
			return nil, err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, NonUTF8: true, Modified: now})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// serveBill serves a bill file while its link is valid.
func (s *Server) serveBill(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	s.mu.Lock()
	f, ok := s.bills[token]
	if ok && !s.now().Before(f.expires) {
		delete(s.bills, token)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "bill link unknown or expired", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+f.name+`"`)
	_, _ = w.Write(f.data)
}

// PlantKind is a difference the fake can plant in the bills it serves.
type PlantKind int

// Kinds of planted differences.
const (
	// PlantOmit leaves the trade's payment out of the bill.
	PlantOmit PlantKind = iota + 1
	// PlantAmount shows the trade's payment with Fen instead.
	PlantAmount
	// PlantMerchant writes the bill under Account instead of the app id.
	PlantMerchant
	// PlantExtra adds a payment for OutTradeNo (Fen, at At) the fake never
	// took.
	PlantExtra
	// PlantRefundOmit leaves the refund OutRefundNo out.
	PlantRefundOmit
	// PlantRefundAmount shows the refund OutRefundNo with Fen instead.
	PlantRefundAmount
	// PlantRefundExtra adds a refund OutRefundNo of OutTradeNo (Fen, at
	// At) the fake never made.
	PlantRefundExtra
)

// BillPlant is one planted difference; which fields count depends on Kind.
type BillPlant struct {
	Kind        PlantKind
	OutTradeNo  string
	OutRefundNo string // the refund's out_request_no
	Fen         int64
	At          time.Time
	Account     string
}

// PlantBillDifference makes every bill built from now on show p. The
// trades themselves do not change: queries still tell the truth.
func (s *Server) PlantBillDifference(p BillPlant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plants = append(s.plants, p)
}

func (s *Server) plant(kind PlantKind, key string) (BillPlant, bool) {
	for _, p := range s.plants {
		if p.Kind == kind && (p.OutTradeNo == key || (p.OutRefundNo != "" && p.OutRefundNo == key)) {
			return p, true
		}
	}
	return BillPlant{}, false
}

func (s *Server) planted(kind PlantKind, key string) bool {
	_, ok := s.plant(kind, key)
	return ok
}
