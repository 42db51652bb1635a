package kiosk

import (
	"strings"
	"testing"
	"time"

	"gaspay/recharge"
)

func TestReceiptLayout(t *testing.T) {
	base := Receipt{OrderNo: "GP20261127123456789012", KioskID: "KIOSK-HALL-0001-ENTRANCE-LEFT-01", PaidAt: time.Date(2026, 11, 27, 4, 16, 33, 0, time.UTC),
		UserNumber: "031140086", Holder: "阿*********", CardSerial: "5678", CardType: "气量卡", VolumeCentiM3: 40000,
		Lines:    []recharge.Line{{Tier: 1, PriceFenPerM3: 300, VolumeCentiM3: 31000, AmountFen: 93000}, {Tier: 2, PriceFenPerM3: 330, VolumeCentiM3: 9000, AmountFen: 29700}},
		GrossFen: 122700, DeductionFen: 30, LeftoverFen: 0, PayableFen: 122670, Payment: "微信支付", TxnID: "4200001234202611271234567890", Written: true}
	tests := []struct {
		name string
		r    func(Receipt) Receipt
		want []string
		not  []string
	}{
		{"written", func(r Receipt) Receipt { return r }, []string{"自助购气凭条", "2026-11-27 12:16:33", "1227.00元", "0.30元", "1226.70元", "第2阶梯 3.30元/方", "写卡", "成功", "****5678"}, []string{"补打", "未完成"}},
		{"not written, reprinted", func(r Receipt) Receipt { r.Written, r.Reprint = false, true; return r }, []string{"（补打）", "未完成", "免费写卡", "请勿重复购气"}, []string{"成功"}},
		{"leftover to the balance", func(r Receipt) Receipt { r.LeftoverFen = 1; return r }, []string{"转入账户余额", "0.01元"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.r(base).Text()
			for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
				if c := cols(line); c > Width {
					t.Errorf("line %q is %d columns", line, c)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in\n%s", w, text)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(text, w) {
					t.Errorf("unexpected %q in\n%s", w, text)
				}
			}
		})
	}
	if cols("账户余额抵扣0.30") != 16 || cols("ab") != 2 {
		t.Fatal("column widths")
	}
}
