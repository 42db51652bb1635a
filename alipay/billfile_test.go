package alipay_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"gaspay/alipay"
)

const goldenDetails = `#支付宝业务明细查询
#账号：[20881234567890120156]
#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]
#-----------------------------------------业务明细列表----------------------------------------
支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注
2026112022001400000000000001	,G20261120A1	,交易	,燃气费 阿依古丽·买买提 031120002	,2026-11-20 09:15:00	,2026-11-20 09:15:30	,	,	,	,	,阿依古丽·买买提(ayg***@163.com)	,86.40	,86.40	,0.00	,0.00	,0.00	,0.00	,0.00	,	,0.00	,0.00	,	,-0.52	,0.00	,
2026112022001400000000000002,G20261120A2,交易,"燃气费 秦淮, 031140086",2026-11-20 10:00:00,2026-11-20 10:00:05,,,,,秦淮(138******00),100,100.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.60,0.00,
2026112022001400000000000001,G20261120A1,退款,燃气费 阿依古丽·买买提 031120002,2026-11-20 09:15:00,2026-11-20 17:40:00,,,,,阿依古丽·买买提(ayg***@163.com),-86.40,-86.40,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,RG20261120A1,0.52,0.00,
#-----------------------------------------业务明细列表结束------------------------------------
#交易合计：2笔，退款合计：1笔
#导出时间：[2026年11月21日 09:02:11]
`

const goldenSummary = `#支付宝业务汇总查询
#账号：[20881234567890120156]
#-----------------------------------------业务汇总列表----------------------------------------
门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）
合计,,2,1,100.00,100.00,0.00,0.00,0.00,-0.60,0.00,99.40
#-----------------------------------------业务汇总列表结束-----------------------------------
`

// gbkZip writes the two files as Alipay does: GBK contents, GBK names
// without the UTF-8 flag.
func gbkZip(t testing.TB, details, summary string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, text := range map[string]string{
		"20881234567890120156_20261120_业务明细.csv":     details,
		"20881234567890120156_20261120_业务明细(汇总).csv": summary,
	} {
		gname, err := simplifiedchinese.GBK.NewEncoder().String(name)
		if err != nil {
			t.Fatal(err)
		}
		data, err := simplifiedchinese.GBK.NewEncoder().String(text)
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: gname, Method: zip.Deflate, NonUTF8: true})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseGBKBillWithNames(t *testing.T) {
	data := gbkZip(t, goldenDetails, goldenSummary)
	var rows []alipay.BillRow
	sum, err := alipay.ParseBillZip(bytes.NewReader(data), int64(len(data)), func(r alipay.BillRow) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Account != "20881234567890120156" || sum.Payments != 2 || sum.Refunds != 1 || sum.NetFen != 10000 || sum.FeeFen != -60 {
		t.Errorf("summary %+v", sum)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	if r := rows[0]; r.Subject != "燃气费 阿依古丽·买买提 031120002" || r.OutTradeNo != "G20261120A1" || r.AmountFen != 8640 || r.FeeFen != -52 ||
		r.Account != "20881234567890120156" || r.IsRefund() || r.FinishedAt.Format("15:04:05") != "09:15:30" {
		t.Errorf("row 0 %+v", r)
	}
	if r := rows[1]; r.Subject != "燃气费 秦淮, 031140086" || r.AmountFen != 10000 {
		t.Errorf("row 1 %+v", r)
	}
	if r := rows[2]; !r.IsRefund() || r.AmountFen != -8640 || r.RefundNo != "RG20261120A1" {
		t.Errorf("row 2 %+v", r)
	}

	for name, bad := range map[string][2]string{
		"summary disagrees": {goldenDetails, strings.Replace(goldenSummary, "合计,,2,1,100.00", "合计,,2,1,100.01", 1)},
		"footer disagrees":  {strings.Replace(goldenDetails, "#交易合计：2笔", "#交易合计：3笔", 1), goldenSummary},
		"bad amount":        {strings.Replace(goldenDetails, ",100,100.00,", ",1e2,100.00,", 1), goldenSummary},
		"no summary file":   {goldenDetails, ""},
	} {
		t.Run(name, func(t *testing.T) {
			data := gbkZip(t, bad[0], bad[1])
			_, err := alipay.ParseBillZip(bytes.NewReader(data), int64(len(data)), func(alipay.BillRow) error { return nil })
			if !errors.Is(err, alipay.ErrBillFormat) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func FuzzParseBillDetails(f *testing.F) {
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String(goldenDetails)
	f.Add([]byte(gbk))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		sum, err := alipay.ParseBillDetails(bytes.NewReader(data), func(alipay.BillRow) error { n++; return nil })
		if err == nil && sum.Payments+sum.Refunds != n {
			t.Fatalf("%d rows, summary %+v", n, sum)
		}
	})
}
