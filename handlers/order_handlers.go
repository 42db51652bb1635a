package handlers

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/recharge"
	"gaspay/units"
)

// purchaseFields is what a request buys: exactly one of a volume, in 0.01
// m3, and an amount, in fen. volume_cm3 is volume_centi_m3's old name,
// accepted for one release (deprecated; README "Deprecated"); a request
// that gives both names must give the same number.
type purchaseFields struct {
	VolumeCentiM3 *int64 `json:"volume_centi_m3,omitempty"`
	VolumeCm3     *int64 `json:"volume_cm3,omitempty"`
	AmountFen     *int64 `json:"amount_fen,omitempty"`
}

type quoteRequest struct {
	AccountID int64 `json:"account_id"`
	purchaseFields
}

// maxQuantity bounds a volume (0.01 m3) or an amount (fen) before any
// arithmetic: ten million yuan or m3 is far past every limit.
const maxQuantity = 1_000_000_000

// toPurchase is the one converter from a request's purchase to the
// domain's: the only place that checks "a volume or an amount, not both".
func toPurchase(p purchaseFields) (recharge.Purchase, error) {
	vol := p.VolumeCentiM3
	if vol == nil {
		vol = p.VolumeCm3
	} else if p.VolumeCm3 != nil && *p.VolumeCm3 != *vol {
		return recharge.Purchase{}, badRequest("volume_conflict", "volume_centi_m3 与旧字段 volume_cm3 的气量不一致，请只填写 volume_centi_m3。")
	}
	switch {
	case (vol == nil) == (p.AmountFen == nil):
		return recharge.Purchase{}, badRequest("volume_or_amount", "请输入购买金额或气量（二选一）。")
	case vol != nil && (*vol <= 0 || *vol > maxQuantity):
		return recharge.Purchase{}, badRequest("invalid_volume", "气量应为大于 0 的数，最小单位 0.01 立方米。")
	case p.AmountFen != nil && (*p.AmountFen <= 0 || *p.AmountFen > maxQuantity):
		return recharge.Purchase{}, badRequest("invalid_amount", "金额应大于 0，最小单位 0.01 元。")
	case vol != nil:
		return recharge.ByVolume(units.CentiM3(*vol))
	default:
		return recharge.ByAmount(units.Fen(*p.AmountFen))
	}
}

// toQuoteRequest validates a purchase at the boundary.
func toQuoteRequest(req quoteRequest, userID int64) (recharge.QuoteRequest, error) {
	out := recharge.QuoteRequest{UserID: userID, AccountID: req.AccountID}
	if req.AccountID <= 0 {
		return out, badRequest("invalid_account_id", "请选择您绑定的账户。")
	}
	var err error
	out.Purchase, err = toPurchase(req.purchaseFields)
	return out, err
}

// limitsResponse: max_volume_cm3 is max_volume_centi_m3's old name, still
// written for the last release's clients (deprecated).
type limitsResponse struct {
	MaxAmountFen     int64         `json:"max_amount_fen"`
	MaxVolumeCentiM3 units.CentiM3 `json:"max_volume_centi_m3,omitempty"`
	MaxVolumeCm3     units.CentiM3 `json:"max_volume_cm3,omitempty"`
}

// quoteResponse: volume_cm3 and ytd_volume_cm3 are the old names of
// volume_centi_m3 and ytd_volume_centi_m3, still written for the last
// release's clients (deprecated). credit_unit is "fen" or "centi_m3".
type quoteResponse struct {
	AccountID        int64           `json:"account_id"`
	Purpose          string          `json:"purpose"`
	VolumeCentiM3    units.CentiM3   `json:"volume_centi_m3"`
	VolumeCm3        units.CentiM3   `json:"volume_cm3"`
	Lines            []recharge.Line `json:"lines"`
	GrossFen         int64           `json:"gross_fen"`
	DeductionFen     int64           `json:"deduction_fen"`
	LeftoverFen      int64           `json:"leftover_fen"`
	PayableFen       int64           `json:"payable_fen"`
	CreditUnit       string          `json:"credit_unit"`
	CreditAmount     int64           `json:"credit_amount"`
	BalanceFen       int64           `json:"balance_fen"`
	ArrearsFen       int64           `json:"arrears_fen"`
	YTDVolumeCentiM3 units.CentiM3   `json:"ytd_volume_centi_m3"`
	YTDVolumeCm3     units.CentiM3   `json:"ytd_volume_cm3"`
	Limits           limitsResponse  `json:"limits"`
	ValidUntil       time.Time       `json:"valid_until"`
	// TariffVersion is the version of the tariff that priced the quote.
	TariffVersion int `json:"tariff_version,omitempty"`
}

func toQuoteResponse(q recharge.Quote) quoteResponse {
	lines := q.Lines
	if lines == nil {
		lines = []recharge.Line{}
	}
	return quoteResponse{AccountID: q.AccountID, Purpose: string(q.Purpose), VolumeCentiM3: q.Volume, VolumeCm3: q.Volume, Lines: lines,
		GrossFen: int64(q.GrossFen), DeductionFen: int64(q.DeductionFen), LeftoverFen: int64(q.LeftoverFen), PayableFen: int64(q.PayableFen),
		CreditUnit: q.Credit.Unit(), CreditAmount: q.Credit.Count(), BalanceFen: int64(q.BalanceFen), ArrearsFen: int64(q.ArrearsFen),
		YTDVolumeCentiM3: q.YTDVolume, YTDVolumeCm3: q.YTDVolume,
		Limits:     limitsResponse{MaxAmountFen: int64(q.MaxAmount), MaxVolumeCentiM3: q.MaxVolume, MaxVolumeCm3: q.MaxVolume},
		ValidUntil: q.ValidUntil, TariffVersion: q.TariffVersion}
}

// createQuote prices a purchase on the account's tariff.
func (h *handler) createQuote(c *gin.Context) {
	var req quoteRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	qr, err := toQuoteRequest(req, session(c).UserID)
	if err != nil {
		writeError(c, err)
		return
	}
	q, err := h.Recharge.Quote(c.Request.Context(), qr)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toQuoteResponse(q))
}

type orderRequest struct {
	quoteRequest
	Channel string `json:"channel"`
	// BuyerOpenID is the Alipay mini-program buyer's open id (alipay_mp).
	BuyerOpenID string `json:"buyer_open_id,omitempty"`
}

var buyerOpenID = regexp.MustCompile(`^[A-Za-z0-9_-]{6,64}$`)

type creditResponse struct {
	Kind         string     `json:"kind"`
	Status       string     `json:"status"`
	Seq          *int       `json:"seq"`
	Unit         string     `json:"unit"`
	Amount       int64      `json:"amount"`
	SettledFen   int64      `json:"settled_fen,omitempty"`
	ToBalanceFen int64      `json:"to_balance_fen,omitempty"`
	DeliveredAt  *time.Time `json:"delivered_at,omitempty"`
}

type refundResponse struct {
	RefundNo    string     `json:"refund_no"`
	Status      string     `json:"status"`
	AmountFen   int64      `json:"amount_fen"`
	Reason      string     `json:"reason"`
	SucceededAt *time.Time `json:"succeeded_at,omitempty"`
}

type orderResponse struct {
	OrderNo   string `json:"order_no"`
	AccountID int64  `json:"account_id"`
	Channel   string `json:"channel"`
	Purpose   string `json:"purpose"`
	Status    string `json:"status"`
	// VolumeCm3 is VolumeCentiM3's old name (deprecated).
	VolumeCentiM3 units.CentiM3   `json:"volume_centi_m3"`
	VolumeCm3     units.CentiM3   `json:"volume_cm3"`
	Lines         []recharge.Line `json:"lines"`
	GrossFen      int64           `json:"gross_fen"`
	DeductionFen  int64           `json:"deduction_fen"`
	LeftoverFen   int64           `json:"leftover_fen"`
	PayableFen    int64           `json:"payable_fen"`
	CreatedAt     time.Time       `json:"created_at"`
	ExpiresAt     time.Time       `json:"expires_at"`
	PaidAt        *time.Time      `json:"paid_at,omitempty"`
	ClosedAt      *time.Time      `json:"closed_at,omitempty"`
	Credit        *creditResponse `json:"credit,omitempty"`
	Refund        *refundResponse `json:"refund,omitempty"`
}

func toOrderResponse(v recharge.OrderView) orderResponse {
	o := v.Order
	lines := v.Lines
	if lines == nil {
		lines = []recharge.Line{}
	}
	out := orderResponse{OrderNo: o.OrderNo, AccountID: o.AccountID, Channel: string(o.Channel), Purpose: string(o.Purpose),
		Status: string(o.Status), VolumeCentiM3: o.VolumeCentiM3, VolumeCm3: o.VolumeCentiM3, Lines: lines, GrossFen: int64(o.GrossFen), DeductionFen: int64(o.DeductionFen),
		LeftoverFen: int64(o.LeftoverFen), PayableFen: int64(o.PayableFen), CreatedAt: o.CreatedAt, ExpiresAt: o.ExpiresAt,
		PaidAt: o.PaidAt, ClosedAt: o.ClosedAt}
	if cr := v.Credit; cr != nil {
		out.Credit = &creditResponse{Kind: string(cr.Kind), Status: string(cr.Status), Seq: cr.Seq, Unit: cr.Quantity().Unit(),
			Amount: cr.Quantity().Count(), SettledFen: int64(cr.SettledFen), ToBalanceFen: int64(cr.ToBalanceFen), DeliveredAt: cr.DeliveredAt}
	}
	if r := v.Refund; r != nil {
		out.Refund = &refundResponse{RefundNo: r.RefundNo, Status: string(r.Status), AmountFen: int64(r.AmountFen),
			Reason: r.Reason, SucceededAt: r.SucceededAt}
	}
	return out
}

type createOrderResponse struct {
	Order   orderResponse `json:"order"`
	Payment any           `json:"payment"`
}

// createOrder recomputes the quote, creates the order and opens it with
// WeChat Pay; the answer carries the parameters wx.requestPayment (or
// WeixinJSBridge) needs. Idempotent by the Idempotency-Key header.
func (h *handler) createOrder(c *gin.Context) {
	var req orderRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	s := session(c)
	qr, err := toQuoteRequest(req.quoteRequest, s.UserID)
	if err != nil {
		writeError(c, err)
		return
	}
	ch, ok := recharge.ParseChannel(req.Channel)
	if !ok || ch == recharge.ChannelPartner {
		writeError(c, badRequest("invalid_channel", "不支持该支付方式。"))
		return
	}
	oreq := recharge.OrderRequest{QuoteRequest: qr, Channel: ch, AppID: s.AppID, OpenID: s.OpenID}
	switch {
	case ch == recharge.ChannelAlipayMP && !buyerOpenID.MatchString(req.BuyerOpenID):
		writeError(c, badRequest("invalid_buyer", "缺少有效的支付宝买家标识。"))
		return
	case ch == recharge.ChannelAlipayMP:
		oreq.AppID, oreq.OpenID = "", req.BuyerOpenID
	case req.BuyerOpenID != "":
		writeError(c, badRequest("invalid_buyer", "只有支付宝小程序支付需要买家标识。"))
		return
	case ch == recharge.ChannelAlipayWAP:
		oreq.AppID, oreq.OpenID = "", ""
	}
	if oreq.Idem, err = idemKey(c, "user:"+strconv.FormatInt(s.UserID, 10), req); err != nil {
		writeError(c, err)
		return
	}
	// Each order opens a trade at a provider and, for a stranger, could
	// supersede another's unpaid order: a user creates only so many. A
	// repeat is not counted.
	oreq.Admit = func(ctx context.Context) error { return take(ctx, h.OrderLimit, errOrderRate, userSubject(s.UserID)) }
	v, params, err := h.Recharge.CreateOrder(c.Request.Context(), oreq)
	if err != nil {
		h.countRefusal(c, "order_rate", err)
		writeError(c, err)
		return
	}
	answerIdempotent(c, v.Replayed, createOrderResponse{Order: toOrderResponse(v), Payment: params})
}

// validOrderNo accepts what an order number can look like.
func validOrderNo(s string) bool {
	if len(s) < 6 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9') && !(r >= 'A' && r <= 'Z') && !(r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}

var errInvalidOrderNo = badRequest("invalid_order_no", "订单号无效。")

// getOrder shows one order of the caller's accounts, with its payment and
// delivery state.
func (h *handler) getOrder(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	v, err := h.Recharge.Order(c.Request.Context(), session(c).UserID, no)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toOrderResponse(v))
}

// listOrders is an account's payment history (缴费记录), newest first.
func (h *handler) listOrders(c *gin.Context) {
	id, err := strconv.ParseInt(c.Query("account_id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(c, badRequest("invalid_account_id", "请选择您绑定的账户。"))
		return
	}
	list, err := h.Recharge.Orders(c.Request.Context(), session(c).UserID, id, 50)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]orderResponse, len(list))
	for i, v := range list {
		out[i] = toOrderResponse(v)
	}
	c.JSON(http.StatusOK, gin.H{"orders": out})
}
