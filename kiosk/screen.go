package kiosk

import (
	"gaspay/cards"
)

// Screen is what the kiosk's screen says after a card read or a write, in
// Chinese. A write that did not complete never sends the customer to buy
// again: the purchase is kept and written at no charge at the next read of
// the card, at any kiosk or recharge box.
func Screen(v cards.CardView) string {
	r := v.Refusal
	if r == nil {
		r = v.Reason
	}
	if r != nil {
		switch r.Code {
		case "no_card":
			return "请插入IC卡。"
		case "card_unreadable":
			return "读卡失败，请擦净卡片后重新插入；仍不能读取请到燃气公司营业厅办理。"
		case "card_invalid", "card_unknown", "card_mismatch":
			return "此卡无法识别，请到燃气公司营业厅办理。"
		case "card_lost":
			return "此卡已挂失或已换卡，不能使用，请使用您的新卡。"
		case "card_stale":
			return "此卡不是您最近购气写入的卡，请使用最新的卡。"
		case "account_inactive":
			return "该户暂不能购气，请联系燃气公司营业厅。"
		case "credit_not_loaded":
			return "卡中还有未插表的气量，请先将卡插入燃气表，再来购气。"
		case "credit_pending":
			return "您有一笔已付款的购气还未写卡，现在免费写卡，请勿拔卡。"
		case "write_incomplete":
			return "写卡未完成，您的购气已保存，请勿再次购气：重新插卡即可免费写卡（任一自助终端或蓝牙充值宝均可）。"
		case "insert_into_meter":
			return "写卡成功，请拔出IC卡并插入燃气表。如需凭条，请点击“打印收据”。"
		case "purchase_refunded":
			return r.Message
		case "unexpected_write_result", "unexpected_frame", "box_error":
			return "读写器异常，请重新插卡；已付款的购气不会丢失。"
		}
		return "暂时无法处理，请重新插卡或联系燃气公司营业厅。"
	}
	if v.Delivered != nil {
		return "写卡成功，请拔出IC卡并插入燃气表。"
	}
	if v.Event == "write_issued" {
		return "正在写卡，请勿拔出IC卡……"
	}
	if v.PurchaseAllowed {
		return "请输入购气金额或气量。"
	}
	return "请稍候……"
}

// OutcomeScreen is what the screen says about an order's payment.
func OutcomeScreen(outcome string, written bool) string {
	switch outcome {
	case "paid":
		if written {
			return "购气成功，请拔出IC卡。如需凭条，请点击“打印收据”。"
		}
		return "支付成功，正在写卡，请勿拔出IC卡……"
	case "reversed":
		return "支付超时，本次购气已取消，款项已撤销，请取走您的IC卡。"
	case "closed":
		return "支付未成功，本次购气已取消，未扣款。请取走您的IC卡。"
	}
	return "请在手机上确认支付（请在60秒内完成）……"
}
