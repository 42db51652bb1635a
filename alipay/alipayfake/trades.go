package alipayfake

import (
	"time"
)

// Every method here runs with s.mu held and returns the node to answer.

// Alipay's limit on total_amount: 0.01 to 100,000,000.00 yuan.
const maxFen = 100_000_000 * 100

func (s *Server) fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.loc).Format(timeLayout)
}

// newTradeArgs checks what every trade-creating call needs.
func (s *Server) newTradeArgs(b biz) (fen int64, expireAt time.Time, n node) {
	if b.OutTradeNo == "" || len(b.OutTradeNo) > 64 {
		return 0, time.Time{}, fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: out_trade_no")
	}
	if b.Subject == "" || len(b.Subject) > 256 {
		return 0, time.Time{}, fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: subject")
	}
	fen, err := yuanToFen(b.TotalAmount)
	if err != nil || fen <= 0 || fen > maxFen {
		return 0, time.Time{}, fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: total_amount")
	}
	if b.TimeExpire != "" {
		var err error
		expireAt, err = time.ParseInLocation(timeLayout, b.TimeExpire, s.loc)
		if err != nil {
			// wap.pay once documented minutes only.
			expireAt, err = time.ParseInLocation("2006-01-02 15:04", b.TimeExpire, s.loc)
		}
		if err != nil {
			return 0, time.Time{}, fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: time_expire")
		}
	}
	return fen, expireAt, nil
}

// waitingTrade returns the waiting trade for b, creating it, or a node
// refusing: paid or closed already, or the same number with other content.
func (s *Server) waitingTrade(req request, fen int64, expireAt time.Time) (*trade, node) {
	b := req.biz
	if s.cancelled[b.OutTradeNo] {
		return nil, fail("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
	}
	t, ok := s.lookup(b.OutTradeNo, "")
	if !ok {
		t = s.newTrade(req.method, b.OutTradeNo, b.Subject, fen)
		t.ExpireAt = expireAt
		t.NotifyURL, t.ReturnURL = req.notifyURL, req.returnURL
		s.expire(t)
		return t, nil
	}
	switch t.Status {
	case StatusSuccess, StatusFinished:
		return nil, fail("40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
	case StatusClosed:
		return nil, fail("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
	}
	if t.TotalFen != fen || t.Subject != b.Subject {
		return nil, fail("40004", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
	}
	if req.notifyURL != "" {
		t.NotifyURL = req.notifyURL
	}
	if req.returnURL != "" {
		t.ReturnURL = req.returnURL
	}
	return t, nil
}

func (s *Server) wapPay(req request) node {
	if req.biz.ProductCode != "QUICK_WAP_WAY" {
		return fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: product_code")
	}
	fen, expireAt, n := s.newTradeArgs(req.biz)
	if n != nil {
		return n
	}
	t, n := s.waitingTrade(req, fen, expireAt)
	if n != nil {
		return n
	}
	if t.Status != StatusWaitBuyerPay {
		return fail("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
	}
	return success(node{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo,
		"total_amount": fenToYuan(t.TotalFen), "subject": t.Subject})
}

func (s *Server) create(req request) node {
	b := req.biz
	if b.BuyerOpenID == "" && b.BuyerID == "" {
		return fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: buyer_open_id")
	}
	fen, expireAt, n := s.newTradeArgs(b)
	if n != nil {
		return n
	}
	t, n := s.waitingTrade(req, fen, expireAt)
	if n != nil {
		return n
	}
	if b.BuyerOpenID != "" {
		t.BuyerOpenID = b.BuyerOpenID
	}
	return success(node{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo})
}

func (s *Server) precreate(req request) node {
	fen, expireAt, n := s.newTradeArgs(req.biz)
	if n != nil {
		return n
	}
	t, n := s.waitingTrade(req, fen, expireAt)
	if n != nil {
		return n
	}
	// The QR code opens the fake's cashier, so a phone can pay in sandbox.
	return success(node{"out_trade_no": t.OutTradeNo,
		"qr_code": req.base + cashierPath + "?out_trade_no=" + t.OutTradeNo})
}

func (s *Server) pay(req request) node {
	b := req.biz
	if b.Scene != "bar_code" && b.Scene != "security_code" {
		return fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: scene")
	}
	if b.AuthCode == "" {
		return fail("40004", "ACQ.PAYMENT_AUTH_CODE_INVALID", "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款")
	}
	fen, _, n := s.newTradeArgs(b)
	if n != nil {
		return n
	}
	behavior, set := s.behaviors[b.AuthCode]
	if !set {
		behavior = CodeBehaviorOf(b.AuthCode)
	}
	if behavior.FailSubCode != "" {
		return fail("40004", behavior.FailSubCode, behavior.FailSubMsg)
	}
	existed := s.trades[b.OutTradeNo] != nil
	t, n := s.waitingTrade(req, fen, time.Time{})
	if n != nil {
		return n
	}
	if behavior.BuyerOpenID != "" {
		t.BuyerOpenID = behavior.BuyerOpenID
	}
	waiting := behavior.WaitQueries > 0 || behavior.NeverPay || behavior.PayAfter > 0 || behavior.RaceCancel
	if existed && (t.waitQueries > 0 || t.neverPay || !t.payAt.IsZero() || t.raceCancel) {
		waiting = t.Status == StatusWaitBuyerPay // a repeated call while the buyer confirms
	} else if waiting {
		t.waitQueries, t.neverPay, t.raceCancel = behavior.WaitQueries, behavior.NeverPay, behavior.RaceCancel
		if behavior.PayAfter > 0 {
			t.payAt = s.now().Add(behavior.PayAfter)
		}
	}
	if waiting {
		return node{"code": "10003", "msg": codeMsg("10003"), "out_trade_no": t.OutTradeNo,
			"trade_no": t.TradeNo, "total_amount": fenToYuan(t.TotalFen), "buyer_logon_id": "138******00"}
	}
	if t.Status == StatusWaitBuyerPay {
		s.markPaid(t, behavior.BuyerOpenID)
	}
	if behavior.SystemErrorPaid {
		return fail("20000", "ACQ.SYSTEM_ERROR", "系统异常，请使用相同的参数再次调用")
	}
	return success(s.paidFields(t, node{"gmt_payment": s.fmtTime(t.PaidAt)}))
}

// paidFields adds what Alipay reports about a paid trade.
func (s *Server) paidFields(t *trade, n node) node {
	amount := fenToYuan(t.TotalFen)
	n["trade_no"] = t.TradeNo
	n["out_trade_no"] = t.OutTradeNo
	n["buyer_logon_id"] = t.buyerLogonID
	n["buyer_open_id"] = t.BuyerOpenID
	n["total_amount"] = amount
	n["receipt_amount"] = amount
	n["buyer_pay_amount"] = amount
	n["invoice_amount"] = amount
	n["point_amount"] = "0.00"
	n["fund_bill_list"] = []map[string]string{{"fund_channel": "ALIPAYACCOUNT", "amount": amount}}
	return n
}

func (s *Server) query(req request) node {
	b := req.biz
	if b.OutTradeNo == "" && b.TradeNo == "" {
		return fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: out_trade_no")
	}
	t, ok := s.lookup(b.OutTradeNo, b.TradeNo)
	if !ok {
		return fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	if t.Status == StatusWaitBuyerPay && t.waitQueries > 0 {
		if t.waitQueries--; t.waitQueries == 0 {
			s.markPaid(t, "")
		}
	}
	if t.Status == StatusWaitBuyerPay && !t.payAt.IsZero() && !s.now().Before(t.payAt) {
		s.markPaid(t, "")
	}
	n := node{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo, "trade_status": t.Status,
		"total_amount": fenToYuan(t.TotalFen), "subject": t.Subject}
	if t.BuyerOpenID != "" {
		n["buyer_open_id"] = t.BuyerOpenID
	}
	if !t.PaidAt.IsZero() {
		s.paidFields(t, n)
		n["send_pay_date"] = s.fmtTime(t.PaidAt)
	}
	return success(n)
}

func (s *Server) close(req request) node {
	b := req.biz
	t, ok := s.lookup(b.OutTradeNo, b.TradeNo)
	if !ok {
		return fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	switch t.Status {
	case StatusWaitBuyerPay:
		t.Status = StatusClosed
		t.waitQueries, t.neverPay = 0, false
	case StatusClosed:
		// Already closed: done, as far as the caller is concerned.
	default:
		return fail("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	return success(node{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo})
}

func (s *Server) cancel(req request) node {
	b := req.biz
	t, ok := s.lookup(b.OutTradeNo, b.TradeNo)
	if !ok {
		if b.OutTradeNo == "" {
			return fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
		}
		// The pay request may still be on its way: remember the number
		// so that it can never be paid.
		s.cancelled[b.OutTradeNo] = true
		return success(node{"out_trade_no": b.OutTradeNo, "retry_flag": "N", "action": "close"})
	}
	if t.Status == StatusWaitBuyerPay && t.raceCancel {
		// The buyer confirms as the cancel arrives: Alipay asks the
		// merchant to cancel again.
		t.raceCancel = false
		s.markPaid(t, "")
		n := fail("20000", "ACQ.SYSTEM_ERROR", "系统异常，请重试撤销")
		n["retry_flag"] = "Y"
		return n
	}
	switch t.Status {
	case StatusWaitBuyerPay:
		t.Status, t.CancelAction = StatusClosed, "close"
		t.waitQueries, t.neverPay, t.payAt = 0, false, time.Time{}
	case StatusSuccess:
		if left := t.TotalFen - t.RefundedFen; left > 0 {
			t.Refunds = append(t.Refunds, Refund{OutRequestNo: t.OutTradeNo, Fen: left, At: s.now()})
			t.RefundedFen = t.TotalFen
		}
		t.Status, t.CancelAction = StatusClosed, "refund"
	case StatusClosed:
		if t.CancelAction == "" {
			t.CancelAction = "close"
		}
	default:
		return fail("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	return success(node{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo,
		"retry_flag": "N", "action": t.CancelAction})
}

func (s *Server) refund(req request) node {
	b := req.biz
	t, ok := s.lookup(b.OutTradeNo, b.TradeNo)
	if !ok {
		return fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	fen, err := yuanToFen(b.RefundAmount)
	if err != nil || fen <= 0 {
		return fail("40004", "ACQ.INVALID_PARAMETER", "参数无效: refund_amount")
	}
	reqNo := b.OutRequestNo
	if reqNo == "" {
		reqNo = t.OutTradeNo // Alipay's default: one full refund per trade
	}
	for _, r := range t.Refunds {
		if r.OutRequestNo != reqNo {
			continue
		}
		if r.Fen != fen {
			return fail("40004", "ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致")
		}
		// A repeat: the same answer, but no money moves.
		return success(s.refundFields(t, r, "N"))
	}
	switch t.Status {
	case StatusSuccess:
	case StatusFinished:
		return fail("40004", "ACQ.TRADE_HAS_FINISHED", "交易已完结")
	default:
		return fail("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	if fen > t.TotalFen-t.RefundedFen {
		return fail("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
	}
	r := Refund{OutRequestNo: reqNo, Fen: fen, At: s.now()}
	t.Refunds = append(t.Refunds, r)
	t.RefundedFen += fen
	if t.RefundedFen == t.TotalFen {
		t.Status = StatusClosed
	}
	return success(s.refundFields(t, r, "Y"))
}

func (s *Server) refundFields(t *trade, r Refund, fundChange string) node {
	return node{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo,
		"buyer_logon_id": t.buyerLogonID, "buyer_open_id": t.BuyerOpenID,
		"fund_change": fundChange, "refund_fee": fenToYuan(t.RefundedFen),
		"send_back_fee": fenToYuan(r.Fen), "gmt_refund_pay": s.fmtTime(r.At)}
}

func (s *Server) refundQuery(req request) node {
	b := req.biz
	t, ok := s.lookup(b.OutTradeNo, b.TradeNo)
	if !ok {
		return fail("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	reqNo := b.OutRequestNo
	if reqNo == "" {
		reqNo = t.OutTradeNo
	}
	n := node{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo, "out_request_no": reqNo}
	for _, r := range t.Refunds {
		if r.OutRequestNo == reqNo {
			n["refund_status"] = "REFUND_SUCCESS"
			n["refund_amount"] = fenToYuan(r.Fen)
			n["total_amount"] = fenToYuan(t.TotalFen)
			n["gmt_refund_pay"] = s.fmtTime(r.At)
			break
		}
	}
	// No refund_status: "not received, or failed", in Alipay's words.
	return success(n)
}
