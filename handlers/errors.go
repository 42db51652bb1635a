package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/auth"
	"gaspay/bleproxy"
	"gaspay/cards"
	"gaspay/console"
	"gaspay/customer"
	"gaspay/recharge"
	"gaspay/staff"
	"gaspay/wechat"
)

// apiError is an answer the client is meant to read.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// EQCode is the code of WeChat's public utility protocol with the same
	// meaning, which collection partners' systems already know.
	EQCode string `json:"eq_code,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, message string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: message}
}

// Errors of the HTTP layer itself.
var (
	errNoRoute           = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "No such page or API."}
	errNoMethod          = &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "This method is not allowed here."}
	errMissingToken      = &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "Log in first."}
	errBadOrigin         = &apiError{Status: http.StatusForbidden, Code: "bad_origin", Message: "This request must come from gaspay's own pages."}
	errInvalidID         = badRequest("invalid_id", "The id in the path must be a positive whole number.")
	errBodyTooLarge      = &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "The request body is too large."}
	errNotJSON           = &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "Send the body as application/json."}
	errInvalidUTF8       = badRequest("invalid_utf8", "The request body is not valid UTF-8.")
	errUpstream          = &apiError{Status: http.StatusBadGateway, Code: "upstream_unavailable", Message: "WeChat did not answer in time; please try again."}
	errNotReady          = &apiError{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "The server cannot reach its storage."}
	errInternal          = &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "Something went wrong on our side; please try again later."}
	errUnknownBoxSession = &apiError{Status: http.StatusNotFound, Code: "box_session_not_found", Message: "This box session has ended; connect to the box again."}
	errNotConfigured     = &apiError{Status: http.StatusServiceUnavailable, Code: "not_configured", Message: "This login is not available."}
)

// domainErrors maps the domain's sentinel errors to answers, in one place.
var domainErrors = []struct {
	err error
	api *apiError
}{
	{auth.ErrInvalidSession, &apiError{Status: http.StatusUnauthorized, Code: "session_expired", Message: "Your login has expired; log in again."}},
	{auth.ErrInvalidCode, badRequest("invalid_code", "The login code is invalid or was already used; log in again.")},
	{auth.ErrSnapshotUser, &apiError{Status: http.StatusForbidden, Code: "snapshot_user", Message: "Open the full page in WeChat to log in."}},
	{auth.ErrBadState, badRequest("invalid_state", "The login link has expired or was opened in another browser; start again.")},
	{auth.ErrBadNext, badRequest("invalid_next", "The page to return to is not allowed.")},
	{auth.ErrNotConfigured, errNotConfigured},
	{customer.ErrNoMatch, &apiError{Status: http.StatusNotFound, Code: "no_match", Message: "No account matches this number and holder name. Check both against your gas bill."}},
	{customer.ErrTooManyAttempts, &apiError{Status: http.StatusTooManyRequests, Code: "too_many_attempts", Message: "Too many failed attempts; please wait and try again."}},
	{customer.ErrBindingLimit, &apiError{Status: http.StatusConflict, Code: "binding_limit", Message: "You have bound the most accounts allowed; unbind one first."}},
	{customer.ErrNotFound, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "Not found among your accounts."}},
	{customer.ErrInvalid, badRequest("invalid_request", "The request is not valid.")},

	// Payments. EQ codes: WeChat's public utility protocol.
	{recharge.ErrNotFound, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "Not found among your accounts and orders."}},
	{recharge.ErrInvalid, badRequest("invalid_request", "The request is not valid.")},
	{recharge.ErrAccountInactive, &apiError{Status: http.StatusConflict, Code: "account_inactive", Message: "This account cannot pay at present; please contact the service hall."}},
	{recharge.ErrOverLimit, &apiError{Status: http.StatusUnprocessableEntity, Code: "over_limit", Message: "That is more than one purchase may buy; see the limits in the quote.", EQCode: "EQ0025"}}, // EQ0025
	{recharge.ErrTooLittle, &apiError{Status: http.StatusUnprocessableEntity, Code: "amount_too_small", Message: "That amount does not buy 0.01 m³ of gas."}},
	{recharge.ErrVolumeForBill, badRequest("volume_not_allowed", "Ordinary accounts pay an amount, not a volume.")},
	{recharge.ErrNoCard, &apiError{Status: http.StatusConflict, Code: "no_card", Message: "This account has no gas card in use; please contact the service hall."}},
	{recharge.ErrCardChannel, &apiError{Status: http.StatusConflict, Code: "card_channel_required", Message: "IC-card meters are recharged with the card: use the mini-program with the recharge box, or a kiosk.", EQCode: "EQ0027"}}, // EQ0027
	{recharge.ErrChannelMismatch, badRequest("channel_mismatch", "The channel must be the WeChat app you logged in with.")},
	{recharge.ErrCreditPending, &apiError{Status: http.StatusConflict, Code: "credit_pending", Message: "Your last purchase has not reached the meter yet; load it first, then buy again.", EQCode: "EQ0026"}},         // EQ0026
	{recharge.ErrPreviousPaid, &apiError{Status: http.StatusConflict, Code: "previous_order_paid", Message: "Your previous payment went through; its gas is on its way. No new payment was taken.", EQCode: "EQ0024"}}, // EQ0024
	{recharge.ErrOrderInProgress, &apiError{Status: http.StatusConflict, Code: "order_in_progress", Message: "A payment for this account is being started; try again in a minute.", EQCode: "EQ0024"}},                 // EQ0024
	{recharge.ErrProviderUnavailable, &apiError{Status: http.StatusBadGateway, Code: "payment_unavailable", Message: "The payment service did not answer; nothing was charged. Please try again."}},
	{recharge.ErrProviderRefused, &apiError{Status: http.StatusBadGateway, Code: "payment_refused", Message: "The payment service refused this payment; nothing was charged."}},
	{recharge.ErrNotRefundable, &apiError{Status: http.StatusConflict, Code: "not_refundable", Message: "Only a paid order can be refunded."}},
	{recharge.ErrDelivered, &apiError{Status: http.StatusConflict, Code: "credit_delivered", Message: "The gas reached the meter; this order cannot be refunded here."}},
	// The recharge box. Order matters: the first match wins.
	{bleproxy.ErrUnknownSession, errUnknownBoxSession},
	{bleproxy.ErrSessionBusy, &apiError{Status: http.StatusConflict, Code: "box_session_busy", Message: "The previous frame of this session is still being handled; send one frame at a time."}},
	{bleproxy.ErrReplay, &apiError{Status: http.StatusConflict, Code: "frame_replayed", Message: "This frame was already used; reconnect to the box if it keeps happening."}},
	{bleproxy.ErrCounter, &apiError{Status: http.StatusConflict, Code: "frame_out_of_order", Message: "This frame is out of order; reconnect to the box."}},
	{bleproxy.ErrBadMAC, &apiError{Status: http.StatusUnauthorized, Code: "frame_rejected", Message: "The box's frame could not be authenticated; reconnect to the box."}},
	{bleproxy.ErrWrongBox, &apiError{Status: http.StatusBadRequest, Code: "frame_rejected", Message: "This frame belongs to another box."}},
	{bleproxy.ErrUnexpectedType, &apiError{Status: http.StatusBadRequest, Code: "frame_rejected", Message: "This frame is not expected here."}},
	{bleproxy.ErrBadNonce, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrShortFrame, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrFrameTooLarge, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrBadMagic, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrBadVersion, badRequest("invalid_frame", "The frame is of a protocol version this server does not speak.")},
	{bleproxy.ErrBadLength, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrUnknownType, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrBadBody, badRequest("invalid_frame", "The frame is malformed.")},
	{cards.ErrBoxBlocked, &apiError{Status: http.StatusForbidden, Code: "box_blocked", Message: "This recharge box has been blocked; please contact the service hall."}},
	{cards.ErrReadFirst, &apiError{Status: http.StatusConflict, Code: "read_card_first", Message: "Read the card first, then write it."}},
	{cards.ErrNotForCard, &apiError{Status: http.StatusConflict, Code: "order_not_for_card", Message: "No paid purchase of this order waits for the card in the box."}},
	{cards.ErrCardPending, &apiError{Status: http.StatusConflict, Code: "credit_not_loaded", Message: "This card still carries gas the meter has not taken: insert it into the meter first."}},
	{recharge.ErrSerialReused, &apiError{Status: http.StatusConflict, Code: "serial_reused", Message: "This serial was used for another payment."}},
	{recharge.ErrReverseTooLate, &apiError{Status: http.StatusConflict, Code: "reverse_too_late", Message: "Only a payment of today can be reversed."}},
	{recharge.ErrDeliveryInDoubt, &apiError{Status: http.StatusConflict, Code: "delivery_in_doubt", Message: "A delivery was attempted and its outcome is unknown; read the card or wait for the meter first."}},
	// The staff console.
	{staff.ErrBadCredentials, &apiError{Status: http.StatusUnauthorized, Code: "bad_credentials", Message: "用户名或密码不正确。"}},
	{staff.ErrOTPRequired, &apiError{Status: http.StatusUnauthorized, Code: "otp_required", Message: "请输入动态验证码（每个验证码只能用一次）。"}},
	{staff.ErrTOTPSetupRequired, &apiError{Status: http.StatusForbidden, Code: "totp_setup_required", Message: "生产环境的管理员必须先设置动态验证码。"}},
	{staff.ErrTooManyAttempts, &apiError{Status: http.StatusTooManyRequests, Code: "too_many_attempts", Message: "登录失败次数太多，请稍后再试。"}},
	{staff.ErrInvalidSession, &apiError{Status: http.StatusUnauthorized, Code: "session_expired", Message: "登录已过期，请重新登录。"}},
	{staff.ErrBadCSRF, &apiError{Status: http.StatusForbidden, Code: "csrf_required", Message: "请求缺少有效的 X-CSRF-Token，请刷新页面。"}},
	{console.ErrNotFound, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "没有找到。"}},
	{console.ErrInvalid, badRequest("invalid_request", "请求不正确。")},
	{console.ErrOwnApproval, &apiError{Status: http.StatusForbidden, Code: "own_request", Message: "不能审批自己提交的申请，请由另一位财务或管理员审批。"}},
	{console.ErrAlreadyDecided, &apiError{Status: http.StatusConflict, Code: "already_decided", Message: "该申请已经处理过了。"}},
	{console.ErrApprovalPending, &apiError{Status: http.StatusConflict, Code: "approval_pending", Message: "该订单已有等待审批的退款申请。"}},
	{console.ErrSerialTaken, &apiError{Status: http.StatusConflict, Code: "card_serial_taken", Message: "这张卡号已经登记过。"}},
	{console.ErrTariffDate, &apiError{Status: http.StatusConflict, Code: "tariff_date", Message: "新价格必须从今天以后、且晚于已排定的最后一个版本的日期起执行。"}},
	{console.ErrDuplicateTariff, &apiError{Status: http.StatusConflict, Code: "tariff_exists", Message: "这个价格类别已经存在。"}},
	{console.ErrPartnerExists, &apiError{Status: http.StatusConflict, Code: "partner_exists", Message: "这个合作方编号已经存在。"}},
	{console.ErrNoCard, &apiError{Status: http.StatusConflict, Code: "no_card", Message: "该账户没有在用的卡。"}},
}

// toAPIError is the answer err gets: errors meant for the client as they
// are, domain errors through the table, anything else "internal".
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return mapDomain(err)
}

// writeError answers err; a 5xx is logged with its cause.
func writeError(c *gin.Context, err error) {
	ae := toAPIError(err)
	var ra *customer.AttemptsError
	if errors.As(err, &ra) {
		c.Header("Retry-After", strconv.Itoa(int((ra.RetryAfter+time.Second-1)/time.Second)))
	}
	if ae.Status >= 500 {
		logFrom(c).ErrorContext(c.Request.Context(), "request failed",
			slog.String("code", ae.Code), slog.String("err", err.Error()))
	}
	c.AbortWithStatusJSON(ae.Status, ae)
}

func mapDomain(err error) *apiError {
	for _, m := range domainErrors {
		if errors.Is(err, m.err) {
			return m.api
		}
	}
	var we *wechat.APIError
	if errors.As(err, &we) || errors.Is(err, wechat.ErrUnavailable) {
		return errUpstream
	}
	return errInternal
}
