package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/customer"
	"gaspay/partner"
	"gaspay/recharge"
)

const ctxPartner = "gaspay.partner"

var (
	errPartnerAuth     = &apiError{Status: http.StatusUnauthorized, Code: "partner_unauthenticated", Message: "The request's partner, timestamp, nonce or signature is not valid."}
	errAccountNotFound = &apiError{Status: http.StatusNotFound, Code: "account_not_found", Message: "No account has this user number.", EQCode: "EQ0004"}
	errSerialNotFound  = &apiError{Status: http.StatusNotFound, Code: "payment_not_found", Message: "No payment of yours has this serial."}
	serialPattern      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,31}$`)
)

// partnerAuth admits a signed partner request (see package partner). The
// body is read here, once, for the signature, and handed on.
func (h *handler) partnerAuth(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		writeError(c, errBodyTooLarge)
		return
	}
	p, err := h.Partners.Authenticate(c.Request.Context(), partner.Request{
		PartnerID: c.GetHeader("X-Partner-Id"), Timestamp: c.GetHeader("X-Timestamp"), Nonce: c.GetHeader("X-Nonce"),
		Signature: c.GetHeader("X-Signature"), Method: c.Request.Method, Path: c.Request.RequestURI, Body: body,
	})
	if err != nil && !partner.IsAuthFailure(err) {
		// Storage out of reach is not a bad signature: the partner retries.
		writeError(c, err)
		return
	}
	if err != nil {
		logFrom(c).WarnContext(c.Request.Context(), "partner request refused", slog.String("partner", p.PartnerID),
			slog.String("ip", c.ClientIP()), slog.String("err", err.Error()))
		if errors.Is(err, partner.ErrUnknownPartner) || p.PartnerID == "" {
			writeError(c, errPartnerAuth)
			return
		}
		c.Set(ctxPartner, p)
		h.partnerFail(c, errPartnerAuth, nil)
		c.Abort()
		return
	}
	c.Set(ctxPartner, p)
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	c.Next()
}

func partnerOf(c *gin.Context) partner.Partner { return c.MustGet(ctxPartner).(partner.Partner) }

// partnerReply answers a partner, signed.
func (h *handler) partnerReply(c *gin.Context, status int, contentType string, body []byte) {
	s := h.Partners.SignAnswer(partnerOf(c), status, body)
	c.Header("X-Timestamp", s.Timestamp)
	c.Header("X-Nonce", s.Nonce)
	c.Header("X-Signature", s.Signature)
	c.Data(status, contentType, body)
}

func (h *handler) partnerJSON(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.partnerFail(c, err, nil)
		return
	}
	h.partnerReply(c, status, "application/json; charset=utf-8", b)
}

// partnerFail answers an error, signed; notFound is what recharge's
// ErrNotFound means for this endpoint.
func (h *handler) partnerFail(c *gin.Context, err error, notFound *apiError) {
	ae := toAPIError(err)
	if notFound != nil && errors.Is(err, recharge.ErrNotFound) {
		ae = notFound
	}
	if ae.Status >= 500 {
		logFrom(c).ErrorContext(c.Request.Context(), "partner request failed", slog.String("err", err.Error()))
	}
	b, _ := json.Marshal(ae)
	h.partnerReply(c, ae.Status, "application/json; charset=utf-8", b)
}

type partnerQueryRequest struct {
	UserNumber string `json:"user_number"`
}

type partnerAccountResponse struct {
	UserNumber   string    `json:"user_number"`
	Name         string    `json:"name"`
	Kind         string    `json:"kind"`
	BalanceFen   int64     `json:"balance_fen"`
	ArrearsFen   int64     `json:"arrears_fen"`
	MaxAmountFen int64     `json:"max_amount_fen"`
	Payable      bool      `json:"payable"`
	Reason       *apiError `json:"reason,omitempty"`
	Notice       *apiError `json:"notice,omitempty"`
}

var errCardChannelNotice = &apiError{Code: "card_channel", Message: "An IC-card account: the payment is loaded onto the card at a box or kiosk before it reaches the meter.", EQCode: "EQ0027"}

// partnerQuery looks an account up by user number.
func (h *handler) partnerQuery(c *gin.Context) {
	var req partnerQueryRequest
	if err := decodeJSON(c, &req); err != nil {
		h.partnerFail(c, err, nil)
		return
	}
	if !customer.ValidDigits(req.UserNumber, customer.MaxUserNumber) {
		h.partnerFail(c, badRequest("invalid_user_number", "user_number must be 1 to 12 digits."), nil)
		return
	}
	a, err := h.Recharge.PartnerQuery(c.Request.Context(), req.UserNumber)
	if err != nil {
		h.partnerFail(c, err, errAccountNotFound)
		return
	}
	out := partnerAccountResponse{UserNumber: a.Account.UserNumber, Name: customer.MaskName(a.Account.HolderName),
		Kind: string(a.Account.Kind), BalanceFen: int64(a.Account.BalanceFen), ArrearsFen: a.ArrearsFen,
		MaxAmountFen: a.MaxAmountFen, Payable: a.Blocked == nil}
	if a.Blocked != nil {
		out.Reason = toAPIError(a.Blocked)
	}
	if a.CardChannel {
		out.Notice = errCardChannelNotice
	}
	h.partnerJSON(c, http.StatusOK, out)
}

type partnerPayRequest struct {
	Serial     string `json:"serial"`
	UserNumber string `json:"user_number"`
	AmountFen  int64  `json:"amount_fen"`
}

type partnerPaymentResponse struct {
	Serial     string          `json:"serial"`
	OrderNo    string          `json:"order_no"`
	UserNumber string          `json:"user_number"`
	AmountFen  int64           `json:"amount_fen"`
	Status     string          `json:"status"` // paid or reversed
	PaidAt     *time.Time      `json:"paid_at"`
	ReversedAt *time.Time      `json:"reversed_at,omitempty"`
	Credit     *creditResponse `json:"credit,omitempty"`
	Replayed   bool            `json:"replayed,omitempty"`
}

func (h *handler) toPartnerPayment(serial, userNumber string, v recharge.OrderView) partnerPaymentResponse {
	o := toOrderResponse(v)
	out := partnerPaymentResponse{Serial: serial, OrderNo: o.OrderNo, UserNumber: userNumber, AmountFen: o.PayableFen,
		Status: o.Status, PaidAt: o.PaidAt, Credit: o.Credit}
	if v.Order.Status == recharge.OrderReversed {
		out.ReversedAt = v.Order.ClosedAt
	}
	return out
}

// partnerPay records a payment the partner collected. The same serial with
// the same request answers the payment already made.
func (h *handler) partnerPay(c *gin.Context) {
	var req partnerPayRequest
	if err := decodeJSON(c, &req); err != nil {
		h.partnerFail(c, err, nil)
		return
	}
	switch {
	case !serialPattern.MatchString(req.Serial):
		h.partnerFail(c, badRequest("invalid_serial", "serial must be 1 to 31 letters, digits, - or _."), nil)
		return
	case !customer.ValidDigits(req.UserNumber, customer.MaxUserNumber):
		h.partnerFail(c, badRequest("invalid_user_number", "user_number must be 1 to 12 digits."), nil)
		return
	case req.AmountFen <= 0 || req.AmountFen > maxQuantity:
		h.partnerFail(c, badRequest("invalid_amount", "amount_fen must be a positive whole number of fen."), nil)
		return
	}
	v, replayed, err := h.Recharge.PartnerPay(c.Request.Context(), recharge.PartnerPayment{
		PartnerID: partnerOf(c).PartnerID, Serial: req.Serial, UserNumber: req.UserNumber, AmountFen: req.AmountFen})
	if err != nil {
		h.partnerFail(c, err, errAccountNotFound)
		return
	}
	out := h.toPartnerPayment(req.Serial, req.UserNumber, v)
	out.Replayed = replayed
	h.partnerJSON(c, http.StatusOK, out)
}

type partnerSerialRequest struct {
	Serial string `json:"serial"`
}

func (h *handler) partnerSerial(c *gin.Context, fn func(partnerID, serial string) (recharge.OrderView, error)) {
	var req partnerSerialRequest
	if err := decodeJSON(c, &req); err != nil {
		h.partnerFail(c, err, nil)
		return
	}
	if !serialPattern.MatchString(req.Serial) {
		h.partnerFail(c, badRequest("invalid_serial", "serial must be 1 to 31 letters, digits, - or _."), nil)
		return
	}
	v, err := fn(partnerOf(c).PartnerID, req.Serial)
	if err != nil {
		h.partnerFail(c, err, errSerialNotFound)
		return
	}
	userNumber, err := h.Customers.UserNumberOf(c.Request.Context(), v.Order.AccountID)
	if err != nil {
		h.partnerFail(c, err, nil)
		return
	}
	h.partnerJSON(c, http.StatusOK, h.toPartnerPayment(req.Serial, userNumber, v))
}

// partnerReverse reverses (冲正) a payment of today whose credit has not
// been delivered; again, it answers the same reversal.
func (h *handler) partnerReverse(c *gin.Context) {
	h.partnerSerial(c, func(id, serial string) (recharge.OrderView, error) {
		return h.Recharge.PartnerReverse(c.Request.Context(), id, serial)
	})
}

// partnerStatus tells a partner whose call timed out what became of it.
func (h *handler) partnerStatus(c *gin.Context) {
	h.partnerSerial(c, func(id, serial string) (recharge.OrderView, error) {
		return h.Recharge.PartnerStatus(c.Request.Context(), id, serial)
	})
}

// partnerReconciliation serves the partner's file of a day.
func (h *handler) partnerReconciliation(c *gin.Context) {
	loc := h.Recharge.Location()
	day, err := time.ParseInLocation(time.DateOnly, c.Query("date"), loc)
	if err != nil || day.After(time.Now().In(loc)) {
		h.partnerFail(c, badRequest("invalid_date", "date must be a day, YYYY-MM-DD, not in the future."), nil)
		return
	}
	lines, err := h.Recharge.PartnerDay(c.Request.Context(), partnerOf(c).PartnerID, day)
	if err != nil {
		h.partnerFail(c, err, nil)
		return
	}
	var buf bytes.Buffer
	if err := partner.WriteFile(&buf, lines, loc); err != nil {
		h.partnerFail(c, err, nil)
		return
	}
	h.partnerReply(c, http.StatusOK, "text/plain; charset=utf-8", buf.Bytes())
}
