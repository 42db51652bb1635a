package kiosk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gaspay/customer"
	"gaspay/internal/beijing"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/units"
)

// ErrNoReceipt: only a paid purchase has a receipt.
var ErrNoReceipt = errors.New("kiosk: no receipt for an order that is not paid")

// Receipt is a paid kiosk purchase as its printed slip (凭条) shows it.
type Receipt struct {
	OrderNo       string          `json:"order_no"`
	KioskID       string          `json:"kiosk_id"`
	PaidAt        time.Time       `json:"paid_at"`
	UserNumber    string          `json:"user_number"`
	Holder        string          `json:"holder"`
	CardSerial    string          `json:"card_serial"` // last four digits only
	CardType      string          `json:"card_type"`
	VolumeCentiM3 units.CentiM3   `json:"volume_centi_m3"`
	Lines         []recharge.Line `json:"lines"`
	GrossFen      int64           `json:"gross_fen"`
	DeductionFen  int64           `json:"deduction_fen"`
	LeftoverFen   int64           `json:"leftover_fen"`
	PayableFen    int64           `json:"payable_fen"`
	Payment       string          `json:"payment"` // 微信支付, 支付宝
	TxnID         string          `json:"txn_id"`
	Written       bool            `json:"written"`
	Reprint       bool            `json:"reprint"`
}

// Receipt builds the receipt of one of the kiosk's paid orders; reprint
// marks a copy printed again.
// Errors: recharge.ErrNotFound (also another kiosk's order), ErrNoReceipt.
func (s *Service) Receipt(ctx context.Context, k models.Kiosk, no string, reprint bool) (Receipt, error) {
	co, err := s.OrderOf(ctx, k, no)
	if err != nil {
		return Receipt{}, err
	}
	o := co.Order
	if co.Outcome() != "paid" || o.PaidAt == nil {
		return Receipt{}, ErrNoReceipt
	}
	a, err := s.store.Account(ctx, o.AccountID)
	if err != nil {
		return Receipt{}, err
	}
	pay, err := s.store.PaymentOf(ctx, o.ID)
	if err != nil {
		return Receipt{}, err
	}
	r := Receipt{OrderNo: o.OrderNo, KioskID: k.KioskID, PaidAt: o.PaidAt.UTC(), UserNumber: a.UserNumber,
		Holder: customer.MaskName(a.HolderName), VolumeCentiM3: o.VolumeCentiM3, Lines: co.Lines, GrossFen: int64(o.GrossFen),
		DeductionFen: int64(o.DeductionFen), LeftoverFen: int64(o.LeftoverFen), PayableFen: int64(o.PayableFen), TxnID: pay.ProviderTxnID,
		Written: co.Credit != nil && co.Credit.Status == models.CreditDelivered, Reprint: reprint}
	if r.Lines == nil {
		r.Lines = []recharge.Line{}
	}
	r.Payment = "微信支付"
	if o.Provider == recharge.ProviderAlipay {
		r.Payment = "支付宝"
	}
	if c, err := s.store.CurrentCard(ctx, a.ID); err == nil {
		r.CardSerial = c.Serial[max(0, len(c.Serial)-4):]
		r.CardType = "金额卡"
		if c.Type == models.CardVolume {
			r.CardType = "气量卡"
		}
	}
	return r, nil
}

// Width is the printer's line: 58 mm paper, 32 columns of ASCII; a Chinese
// character takes two.
const Width = 32

// Text lays the receipt out for a 58 mm thermal printer: 32 columns, each
// Chinese character two of them, every line at most Width wide.
func (r Receipt) Text() string {
	var b strings.Builder
	rule := strings.Repeat("-", Width)
	center := func(s string) {
		pad := max(0, (Width-cols(s))/2)
		b.WriteString(strings.Repeat(" ", pad) + s + "\n")
	}
	row := func(label, value string) {
		if cols(label)+cols(value)+1 > Width {
			b.WriteString(label + "\n")
			b.WriteString(strings.Repeat(" ", max(0, Width-cols(value))) + value + "\n")
			return
		}
		b.WriteString(label + strings.Repeat(" ", Width-cols(label)-cols(value)) + value + "\n")
	}
	center("自助购气凭条")
	if r.Reprint {
		center("（补打）")
	}
	b.WriteString(rule + "\n")
	row("终端号", r.KioskID)
	row("时间", r.PaidAt.In(beijing.Location()).Format("2006-01-02 15:04:05"))
	row("订单号", r.OrderNo)
	row("用户号", r.UserNumber)
	row("户名", r.Holder)
	if r.CardSerial != "" {
		row("卡号", "****"+r.CardSerial)
		row("卡型", r.CardType)
	}
	b.WriteString(rule + "\n")
	for _, l := range r.Lines {
		row(fmt.Sprintf("第%d阶梯 %s元/方", l.Tier, yuan(l.PriceFenPerM3)), l.VolumeCentiM3.M3()+"方")
	}
	row("购气量", r.VolumeCentiM3.M3()+"方")
	row("购气金额", yuan(r.GrossFen)+"元")
	row("账户余额抵扣", yuan(r.DeductionFen)+"元")
	if r.LeftoverFen > 0 {
		row("转入账户余额", yuan(r.LeftoverFen)+"元")
	}
	row("实付金额", yuan(r.PayableFen)+"元")
	row("支付方式", r.Payment)
	row("交易号", r.TxnID)
	b.WriteString(rule + "\n")
	if r.Written {
		row("写卡", "成功")
		b.WriteString("请将卡插入燃气表。\n")
	} else {
		row("写卡", "未完成")
		b.WriteString("购气已保存，请勿重复购气；\n重新插卡即可免费写卡。\n")
	}
	b.WriteString(rule + "\n")
	center("请妥善保管此凭条")
	return b.String()
}

// cols is how many printer columns s takes.
func cols(s string) int {
	n := 0
	for _, r := range s {
		if r < 0x2E80 {
			n++
		} else {
			n += 2
		}
	}
	return n
}

func yuan(fen int64) string { return units.Fen(fen).Yuan() }
