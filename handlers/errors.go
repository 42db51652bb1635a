package handlers

import (
	"errors"
	"fmt"
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
	"gaspay/iot"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/reconcile"
	"gaspay/rediskv"
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
	errNoRoute           = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "页面或接口不存在。"}
	errNoMethod          = &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "不支持此请求方式。"}
	errMissingToken      = &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "请先登录。"}
	errBadOrigin         = &apiError{Status: http.StatusForbidden, Code: "bad_origin", Message: "请从本服务的页面操作。"}
	errInvalidID         = badRequest("invalid_id", "编号无效。")
	errBodyTooLarge      = &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "提交的内容过大。"}
	errNotJSON           = &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "请求格式不正确，请以 JSON 提交。"}
	errInvalidUTF8       = badRequest("invalid_utf8", "提交的内容含有无效字符。")
	errUpstream          = &apiError{Status: http.StatusBadGateway, Code: "upstream_unavailable", Message: "微信服务暂时没有响应，请稍后再试。"}
	errUnavailable       = &apiError{Status: http.StatusServiceUnavailable, Code: "service_unavailable", Message: "服务暂时不可用，请稍后再试。"}
	errNotReady          = &apiError{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "服务暂时不可用，请稍后再试。"}
	errInternal          = &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "系统繁忙，请稍后再试。"}
	errUnknownBoxSession = &apiError{Status: http.StatusNotFound, Code: "box_session_not_found", Message: "与充值宝的连接已结束，请重新连接充值宝。"}
	errNotConfigured     = &apiError{Status: http.StatusServiceUnavailable, Code: "not_configured", Message: "暂不支持此登录方式。"}
)

// domainErrors maps the domain's sentinel errors to answers, in one place.
var domainErrors = []struct {
	err error
	api *apiError
}{
	{auth.ErrInvalidSession, &apiError{Status: http.StatusUnauthorized, Code: "session_expired", Message: "登录已过期，请重新登录。"}},
	{auth.ErrInvalidCode, badRequest("invalid_code", "登录凭证无效或已使用，请重新登录。")},
	{auth.ErrSnapshotUser, &apiError{Status: http.StatusForbidden, Code: "snapshot_user", Message: "请在微信中打开完整页面后登录。"}},
	{auth.ErrBadState, badRequest("invalid_state", "登录链接已过期或在其他浏览器中打开，请重新登录。")},
	{auth.ErrBadNext, badRequest("invalid_next", "登录后要返回的页面不在允许范围内。")},
	{auth.ErrNotConfigured, errNotConfigured},
	{customer.ErrNoMatch, &apiError{Status: http.StatusNotFound, Code: "no_match", Message: "没有与该号码和户主姓名相符的账户，请对照缴费票据核对后再试。"}},
	{customer.ErrTooManyAttempts, &apiError{Status: http.StatusTooManyRequests, Code: "too_many_attempts", Message: "失败次数过多，请稍后再试。"}},
	{customer.ErrMeterBindLimit, &apiError{Status: http.StatusTooManyRequests, Code: "meter_bind_limit", Message: "今天用表号绑定的账户已达上限，请明天再试，或用用户号和户主姓名绑定。"}},
	{customer.ErrBindingLimit, &apiError{Status: http.StatusConflict, Code: "binding_limit", Message: "绑定的账户已达上限，请先解绑一个账户。"}},
	{customer.ErrNotFound, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "在您绑定的账户中未找到。"}},
	{customer.ErrInvalid, badRequest("invalid_request", "请求无效。")},

	// Payments. EQ codes: WeChat's public utility protocol.
	{recharge.ErrNotFound, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "在您的账户和订单中未找到。"}},
	{recharge.ErrInvalid, badRequest("invalid_request", "请求无效。")},
	{recharge.ErrAccountInactive, &apiError{Status: http.StatusConflict, Code: "account_inactive", Message: "该账户暂不能缴费，请联系燃气公司营业厅。"}},
	{recharge.ErrOverLimit, &apiError{Status: http.StatusUnprocessableEntity, Code: "over_limit", Message: "超出单次购买上限，请按页面提示的限额输入。", EQCode: "EQ0025"}}, // EQ0025
	{recharge.ErrTooLittle, &apiError{Status: http.StatusUnprocessableEntity, Code: "amount_too_small", Message: "金额太小，不足以购买 0.01 立方米燃气。"}},
	{recharge.ErrVolumeForBill, badRequest("volume_not_allowed", "普表用户请按金额缴费。")},
	{recharge.ErrNoCard, &apiError{Status: http.StatusConflict, Code: "no_card", Message: "该账户没有在用的燃气卡，请联系燃气公司营业厅。"}},
	{recharge.ErrCardChannel, &apiError{Status: http.StatusConflict, Code: "card_channel_required", Message: "IC卡表需要写卡充值：请使用微信小程序配合蓝牙充值宝，或到自助售气终端、营业厅购气。", EQCode: "EQ0027"}}, // EQ0027
	{recharge.ErrChannelMismatch, badRequest("channel_mismatch", "支付方式与您登录的微信应用不一致。")},
	{recharge.ErrCreditPending, &apiError{Status: http.StatusConflict, Code: "credit_pending", Message: "上次购买的气量尚未到表，请等它到表后再购买。", EQCode: "EQ0026"}},       // EQ0026
	{recharge.ErrPreviousPaid, &apiError{Status: http.StatusConflict, Code: "previous_order_paid", Message: "您上一笔付款已成功，正在到表途中；本次没有扣款。", EQCode: "EQ0024"}}, // EQ0024
	{recharge.ErrOrderInProgress, &apiError{Status: http.StatusConflict, Code: "order_in_progress", Message: "该账户有一笔付款正在发起，请一分钟后再试。", EQCode: "EQ0024"}},   // EQ0024
	{recharge.ErrKeyReused, &apiError{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused", Message: "该 Idempotency-Key 已用于另一笔请求。"}},
	{recharge.ErrRequestInProgress, &apiError{Status: http.StatusConflict, Code: "request_in_progress", Message: "相同的请求正在处理中，请稍候。"}},
	{recharge.ErrProviderUnavailable, &apiError{Status: http.StatusBadGateway, Code: "payment_unavailable", Message: "支付服务没有响应，未扣款，请重试。"}},
	{recharge.ErrProviderRefused, &apiError{Status: http.StatusBadGateway, Code: "payment_refused", Message: "支付服务拒绝了这笔付款，未扣款。"}},
	{recharge.ErrNotRefundable, &apiError{Status: http.StatusConflict, Code: "not_refundable", Message: "只有已支付的订单才能退款。"}},
	{recharge.ErrDelivered, &apiError{Status: http.StatusConflict, Code: "credit_delivered", Message: "燃气已到表，此订单不能在此退款。"}},
	// The recharge box. Order matters: the first match wins.
	{bleproxy.ErrUnknownSession, errUnknownBoxSession},
	{bleproxy.ErrSessionReplaced, &apiError{Status: http.StatusConflict, Code: "box_session_replaced", Message: "充值宝已开始新的连接，这次连接已失效，请重新连接充值宝。"}},
	{bleproxy.ErrSessionBusy, &apiError{Status: http.StatusConflict, Code: "box_session_busy", Message: "上一条指令仍在处理中，请稍候。"}},
	{bleproxy.ErrReplay, &apiError{Status: http.StatusConflict, Code: "frame_replayed", Message: "该指令已使用过；如反复出现，请重新连接充值宝。"}},
	{bleproxy.ErrCounter, &apiError{Status: http.StatusConflict, Code: "frame_out_of_order", Message: "指令顺序错误，请重新连接充值宝。"}},
	{bleproxy.ErrBadMAC, &apiError{Status: http.StatusUnauthorized, Code: "frame_rejected", Message: "充值宝的数据校验失败，请重新连接充值宝。"}},
	{bleproxy.ErrWrongBox, &apiError{Status: http.StatusBadRequest, Code: "frame_rejected", Message: "该数据来自另一台充值宝。"}},
	{bleproxy.ErrUnexpectedType, &apiError{Status: http.StatusBadRequest, Code: "frame_rejected", Message: "此时不应收到该数据。"}},
	{bleproxy.ErrBadNonce, badRequest("invalid_frame", "数据格式错误。")},
	{bleproxy.ErrShortFrame, badRequest("invalid_frame", "数据格式错误。")},
	{bleproxy.ErrFrameTooLarge, badRequest("invalid_frame", "数据格式错误。")},
	{bleproxy.ErrBadMagic, badRequest("invalid_frame", "数据格式错误。")},
	{bleproxy.ErrBadVersion, badRequest("invalid_frame", "充值宝的协议版本不受支持。")},
	{bleproxy.ErrBadLength, badRequest("invalid_frame", "数据格式错误。")},
	{bleproxy.ErrUnknownType, badRequest("invalid_frame", "数据格式错误。")},
	{bleproxy.ErrBadBody, badRequest("invalid_frame", "数据格式错误。")},
	{cards.ErrBoxBlocked, &apiError{Status: http.StatusForbidden, Code: "box_blocked", Message: "该充值宝已被停用，请联系燃气公司营业厅。"}},
	{cards.ErrReadFirst, &apiError{Status: http.StatusConflict, Code: "read_card_first", Message: "请先读卡，再写卡。"}},
	{cards.ErrNotForCard, &apiError{Status: http.StatusConflict, Code: "order_not_for_card", Message: "充值宝中的卡没有待写入的该订单购气。"}},
	{cards.ErrCardPending, &apiError{Status: http.StatusConflict, Code: "credit_not_loaded", Message: "卡内还有燃气表未读入的气量：请先插卡上表。"}},
	{recharge.ErrSerialReused, &apiError{Status: http.StatusConflict, Code: "serial_reused", Message: "该流水号已用于另一笔付款。"}},
	{recharge.ErrReverseTooLate, &apiError{Status: http.StatusConflict, Code: "reverse_too_late", Message: "只能冲正当天的付款。"}},
	{iot.ErrDeliveryOver, &apiError{Status: http.StatusConflict, Code: "delivery_over", Message: "这笔充值已到账或已取消。"}},
	{recharge.ErrDeliveryInDoubt, &apiError{Status: http.StatusConflict, Code: "delivery_in_doubt", Message: "写卡或下发结果未知，请先读卡或等待燃气表通讯。"}},
	{reconcile.ErrUnknownProvider, &apiError{Status: http.StatusBadRequest, Code: "invalid_provider", Message: "provider 须为 wechat 或 alipay。"}},
	{reconcile.ErrBadDate, &apiError{Status: http.StatusBadRequest, Code: "invalid_date", Message: "date 须为已开始的日期，格式 YYYY-MM-DD（北京时间）。"}},
	{reconcile.ErrBusy, &apiError{Status: http.StatusConflict, Code: "reconciliation_running", Message: "该日正在对账，请稍后查看结果。"}},
	{reconcile.ErrBillNotReady, &apiError{Status: http.StatusConflict, Code: "bill_not_ready", Message: "支付机构尚未生成该日账单（次日10点后可下载），系统将自动重试。"}},
	{reconcile.ErrBillRefused, &apiError{Status: http.StatusBadGateway, Code: "bill_refused", Message: "账单校验未通过，未予采用，请稍后重试。"}},
	{reconcile.ErrProviderUnavailable, &apiError{Status: http.StatusBadGateway, Code: "provider_unavailable", Message: "支付机构暂无响应，请稍后重试。"}},
	{reconcile.ErrNotFound, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "没有该对账记录或差异。"}},
	{reconcile.ErrNotOpen, &apiError{Status: http.StatusConflict, Code: "not_open", Message: "只能处理未解决的差异。"}},
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
	{console.ErrNoIoT, &apiError{Status: http.StatusConflict, Code: "not_iot", Message: "该订单不是物联网表充值。"}},
	{iot.ErrNotResendable, &apiError{Status: http.StatusConflict, Code: "not_resendable", Message: "充值指令仍可能送达燃气表，或已被拒收、正在取消，现在不能重发。"}},
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
	c.Set(ctxErrorCode, ae.Code)
	if dep := dependencyDown(err); dep != "" {
		// Not our bug and not the client's: a dependency is down. Say
		// when to come back; log it as what it is, for the alerting that
		// watches dependencies.
		c.Header("Retry-After", strconv.Itoa(int(unavailableRetry/time.Second)))
		logFrom(c).ErrorContext(c.Request.Context(), "dependency unavailable",
			slog.String("dependency", dep), slog.String("err", err.Error()))
		c.Set(ctxErrorCode, errUnavailable.Code)
		c.AbortWithStatusJSON(errUnavailable.Status, errUnavailable)
		return
	}
	var ra interface{ RetryAfterDuration() time.Duration }
	if errors.As(err, &ra) {
		c.Header("Retry-After", strconv.Itoa(int((ra.RetryAfterDuration()+time.Second-1)/time.Second)))
	}
	var at *customer.AttemptsError
	if errors.As(err, &at) {
		wait := *ae
		wait.Message = fmt.Sprintf("失败次数过多，请 %d 分钟后再试。", waitMinutes(at.RetryAfter))
		ae = &wait
	}
	if ae.Status >= 500 {
		logFrom(c).ErrorContext(c.Request.Context(), "request failed",
			slog.String("code", ae.Code), slog.String("err", err.Error()))
	}
	c.AbortWithStatusJSON(ae.Status, ae)
}

// unavailableRetry is the Retry-After of a 503: long enough for a Redis
// failover or restart, short enough that a customer's retry finds it back.
const unavailableRetry = 5 * time.Second

// dependencyDown names the dependency err says is out of reach ("redis",
// "database"), or "".
func dependencyDown(err error) string {
	if errors.Is(err, rediskv.ErrUnavailable) {
		return "redis"
	}
	if models.Unavailable(err) {
		return "database"
	}
	return ""
}

// waitMinutes is a wait as a person reads it: whole minutes, rounded up,
// at least one.
func waitMinutes(d time.Duration) int {
	m := int((d + time.Minute - 1) / time.Minute)
	return max(m, 1)
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
