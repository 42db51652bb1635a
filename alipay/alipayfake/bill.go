package alipayfake

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"net/http"
	"sort"
	"strconv"
	"time"
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
	token := randomHex(16)
	s.bills[token] = billFile{
		name:    s.appID + "_" + stamp + ".csv.zip",
		data:    data,
		expires: now.Add(billLinkLifetime),
	}
	return success(node{"bill_download_url": req.base + billPath + "?token=" + token +
		"&bizType=trade&fileType=csv.zip&bizDates=" + stamp})
}

// buildBill writes the zip: the detail file and the summary file, UTF-8
// where Alipay writes GBK. Refunds are rows of their own, negative.
func (s *Server) buildBill(start, end, now time.Time, stamp string) ([]byte, error) {
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(start) && t.Before(end) }
	var lines []billLine
	var payments, refunds int
	var grossFen, refundFen int64
	for _, no := range sortedKeys(s.trades) {
		t := s.trades[no]
		if in(t.PaidAt) {
			payments++
			grossFen += t.TotalFen
			amount := fenToYuan(t.TotalFen)
			lines = append(lines, billLine{t.PaidAt, []string{t.TradeNo, t.OutTradeNo, "交易", t.Subject,
				s.fmtTime(t.CreatedAt), s.fmtTime(t.PaidAt), "", "", "", "", t.buyerLogonID, amount, amount,
				"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", "0.00", "0.00", ""}})
		}
		for _, r := range t.Refunds {
			if !in(r.At) {
				continue
			}
			refunds++
			refundFen += r.Fen
			amount := "-" + fenToYuan(r.Fen)
			lines = append(lines, billLine{r.At, []string{t.TradeNo, t.OutTradeNo, "退款", t.Subject,
				s.fmtTime(t.CreatedAt), s.fmtTime(r.At), "", "", "", "", t.buyerLogonID, amount, amount,
				"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", r.OutRequestNo, "0.00", "0.00", ""}})
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })

	period := "#起始日期：[" + start.Format("2006年01月02日 15:04:05") + "]   终止日期：[" + end.Format("2006年01月02日 15:04:05") + "]"
	exported := "#导出时间：[" + now.In(s.loc).Format("2006年01月02日 15:04:05") + "]"

	var detail bytes.Buffer
	detail.WriteString("#支付宝业务明细查询\n#账号：[" + s.appID + "]\n" + period + "\n")
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
	summary.WriteString("#支付宝业务汇总查询\n#账号：[" + s.appID + "]\n" + period + "\n")
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
		w, err := zw.Create(f.name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
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
