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
	"gaspay/customer"
	"gaspay/recharge"
	"gaspay/wechat"
)

// apiError is an answer the client is meant to read.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, message string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: message}
}

// Errors of the HTTP layer itself.
var (
	errNoRoute           = &apiError{http.StatusNotFound, "not_found", "No such page or API."}
	errNoMethod          = &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "This method is not allowed here."}
	errMissingToken      = &apiError{http.StatusUnauthorized, "unauthenticated", "Log in first."}
	errBadOrigin         = &apiError{http.StatusForbidden, "bad_origin", "This request must come from gaspay's own pages."}
	errInvalidID         = badRequest("invalid_id", "The id in the path must be a positive whole number.")
	errBodyTooLarge      = &apiError{http.StatusRequestEntityTooLarge, "body_too_large", "The request body is too large."}
	errNotJSON           = &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json."}
	errInvalidUTF8       = badRequest("invalid_utf8", "The request body is not valid UTF-8.")
	errUpstream          = &apiError{http.StatusBadGateway, "upstream_unavailable", "WeChat did not answer in time; please try again."}
	errNotReady          = &apiError{http.StatusServiceUnavailable, "not_ready", "The server cannot reach its storage."}
	errInternal          = &apiError{http.StatusInternalServerError, "internal", "Something went wrong on our side; please try again later."}
	errUnknownBoxSession = &apiError{http.StatusNotFound, "box_session_not_found", "This box session has ended; connect to the box again."}
	errNotConfigured     = &apiError{http.StatusServiceUnavailable, "not_configured", "This login is not available."}
)

// domainErrors maps the domain's sentinel errors to answers, in one place.
var domainErrors = []struct {
	err error
	api *apiError
}{
	{auth.ErrInvalidSession, &apiError{http.StatusUnauthorized, "session_expired", "Your login has expired; log in again."}},
	{auth.ErrInvalidCode, badRequest("invalid_code", "The login code is invalid or was already used; log in again.")},
	{auth.ErrSnapshotUser, &apiError{http.StatusForbidden, "snapshot_user", "Open the full page in WeChat to log in."}},
	{auth.ErrBadState, badRequest("invalid_state", "The login link has expired or was opened in another browser; start again.")},
	{auth.ErrBadNext, badRequest("invalid_next", "The page to return to is not allowed.")},
	{auth.ErrNotConfigured, errNotConfigured},
	{customer.ErrNoMatch, &apiError{http.StatusNotFound, "no_match", "No account matches this number and holder name. Check both against your gas bill."}},
	{customer.ErrTooManyAttempts, &apiError{http.StatusTooManyRequests, "too_many_attempts", "Too many failed attempts; please wait and try again."}},
	{customer.ErrBindingLimit, &apiError{http.StatusConflict, "binding_limit", "You have bound the most accounts allowed; unbind one first."}},
	{customer.ErrNotFound, &apiError{http.StatusNotFound, "not_found", "Not found among your accounts."}},
	{customer.ErrInvalid, badRequest("invalid_request", "The request is not valid.")},

	// Payments. EQ codes: WeChat's public utility protocol.
	{recharge.ErrNotFound, &apiError{http.StatusNotFound, "not_found", "Not found among your accounts and orders."}},
	{recharge.ErrInvalid, badRequest("invalid_request", "The request is not valid.")},
	{recharge.ErrAccountInactive, &apiError{http.StatusConflict, "account_inactive", "This account cannot pay at present; please contact the service hall."}},
	{recharge.ErrOverLimit, &apiError{http.StatusUnprocessableEntity, "over_limit", "That is more than one purchase may buy; see the limits in the quote."}}, // EQ0025
	{recharge.ErrTooLittle, &apiError{http.StatusUnprocessableEntity, "amount_too_small", "That amount does not buy 0.01 m³ of gas."}},
	{recharge.ErrVolumeForBill, badRequest("volume_not_allowed", "Ordinary accounts pay an amount, not a volume.")},
	{recharge.ErrNoCard, &apiError{http.StatusConflict, "no_card", "This account has no gas card in use; please contact the service hall."}},
	{recharge.ErrCardChannel, &apiError{http.StatusConflict, "card_channel_required", "IC-card meters are recharged with the card: use the mini-program with the recharge box, or a kiosk."}}, // EQ0027
	{recharge.ErrChannelMismatch, badRequest("channel_mismatch", "The channel must be the WeChat app you logged in with.")},
	{recharge.ErrCreditPending, &apiError{http.StatusConflict, "credit_pending", "Your last purchase has not reached the meter yet; load it first, then buy again."}},         // EQ0026
	{recharge.ErrPreviousPaid, &apiError{http.StatusConflict, "previous_order_paid", "Your previous payment went through; its gas is on its way. No new payment was taken."}}, // EQ0024
	{recharge.ErrOrderInProgress, &apiError{http.StatusConflict, "order_in_progress", "A payment for this account is being started; try again in a minute."}},                 // EQ0024
	{recharge.ErrProviderUnavailable, &apiError{http.StatusBadGateway, "payment_unavailable", "The payment service did not answer; nothing was charged. Please try again."}},
	{recharge.ErrProviderRefused, &apiError{http.StatusBadGateway, "payment_refused", "The payment service refused this payment; nothing was charged."}},
	{recharge.ErrNotRefundable, &apiError{http.StatusConflict, "not_refundable", "Only a paid order can be refunded."}},
	{recharge.ErrDelivered, &apiError{http.StatusConflict, "credit_delivered", "The gas reached the meter; this order cannot be refunded here."}},
	// The recharge box. Order matters: the first match wins.
	{bleproxy.ErrUnknownSession, errUnknownBoxSession},
	{bleproxy.ErrSessionBusy, &apiError{http.StatusConflict, "box_session_busy", "The previous frame of this session is still being handled; send one frame at a time."}},
	{bleproxy.ErrReplay, &apiError{http.StatusConflict, "frame_replayed", "This frame was already used; reconnect to the box if it keeps happening."}},
	{bleproxy.ErrCounter, &apiError{http.StatusConflict, "frame_out_of_order", "This frame is out of order; reconnect to the box."}},
	{bleproxy.ErrBadMAC, &apiError{http.StatusUnauthorized, "frame_rejected", "The box's frame could not be authenticated; reconnect to the box."}},
	{bleproxy.ErrWrongBox, &apiError{http.StatusBadRequest, "frame_rejected", "This frame belongs to another box."}},
	{bleproxy.ErrUnexpectedType, &apiError{http.StatusBadRequest, "frame_rejected", "This frame is not expected here."}},
	{bleproxy.ErrBadNonce, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrShortFrame, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrFrameTooLarge, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrBadMagic, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrBadVersion, badRequest("invalid_frame", "The frame is of a protocol version this server does not speak.")},
	{bleproxy.ErrBadLength, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrUnknownType, badRequest("invalid_frame", "The frame is malformed.")},
	{bleproxy.ErrBadBody, badRequest("invalid_frame", "The frame is malformed.")},
	{cards.ErrBoxBlocked, &apiError{http.StatusForbidden, "box_blocked", "This recharge box has been blocked; please contact the service hall."}},
	{cards.ErrReadFirst, &apiError{http.StatusConflict, "read_card_first", "Read the card first, then write it."}},
	{cards.ErrNotForCard, &apiError{http.StatusConflict, "order_not_for_card", "No paid purchase of this order waits for the card in the box."}},
	{cards.ErrCardPending, &apiError{http.StatusConflict, "credit_not_loaded", "This card still carries gas the meter has not taken: insert it into the meter first."}},
	{recharge.ErrDeliveryInDoubt, &apiError{http.StatusConflict, "delivery_in_doubt", "A delivery was attempted and its outcome is unknown; read the card or wait for the meter first."}},
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
