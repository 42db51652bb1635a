package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/bleproxy"
	"gaspay/cards"
	"gaspay/kiosk"
	"gaspay/partner"
	"gaspay/recharge"
)

const ctxKiosk = "gaspay.kiosk"

var errKioskAuth = &apiError{Status: http.StatusUnauthorized, Code: "kiosk_unauthenticated", Message: "终端认证失败，请联系燃气公司。"}

// kioskErrors are the kiosk flow's own errors; the rest go through
// domainErrors.
var kioskErrors = []struct {
	err error
	api *apiError
}{
	{recharge.ErrBadAuthCode, &apiError{Status: http.StatusUnprocessableEntity, Code: "auth_code_not_accepted", Message: "付款码无效，请打开微信或支付宝付款码重新扫码。"}},
	{cards.ErrNoCardRead, &apiError{Status: http.StatusConflict, Code: "read_card_first", Message: "请先插入IC卡并读卡。"}},
	{kiosk.ErrWrongBox, &apiError{Status: http.StatusForbidden, Code: "wrong_box", Message: "读写器与本终端不符，请联系燃气公司。"}},
	{kiosk.ErrCardNotLoaded, &apiError{Status: http.StatusConflict, Code: "credit_not_loaded", Message: "卡中还有未插表的气量，请先将卡插入燃气表，再来购气。"}},
	{kiosk.ErrNoReceipt, &apiError{Status: http.StatusConflict, Code: "no_receipt", Message: "该订单未支付成功，没有凭条。"}},
}

// kioskScreen is what a kiosk's screen says for an error code, where the
// kiosk's customer is better told otherwise than the general answer (the
// card in the reader, not the phone).
var kioskScreen = map[string]string{
	"kiosk_unauthenticated":  "终端认证失败，请联系燃气公司。",
	"auth_code_not_accepted": "付款码无效，请打开微信或支付宝付款码重新扫码。",
	"invalid_auth_code":      "付款码无效，请打开微信或支付宝付款码重新扫码。",
	"read_card_first":        "请先插入IC卡并读卡。",
	"wrong_box":              "读写器与本终端不符，请联系燃气公司。",
	"credit_not_loaded":      "卡中还有未插表的气量，请先将卡插入燃气表，再来购气。",
	"no_receipt":             "该订单未支付成功，没有凭条。",
	"credit_pending":         "您有一笔已付款的购气还未写卡，请先免费写卡。",
	"order_in_progress":      "您有一笔支付正在处理中，请稍候一分钟再试。",
	"previous_order_paid":    "您上一笔支付已成功，请先写卡，无需再次购气。",
	"over_limit":             "超过单次最大购气量或金额，请减少后重试。",
	"amount_too_small":       "金额太少，不足0.01方气。",
	"account_inactive":       "该户暂不能购气，请联系燃气公司营业厅。",
	"no_card":                "该户没有在用的IC卡，请到营业厅办理。",
	"not_found":              "没有找到这笔订单。",
	"order_not_for_card":     "没有等待写入这张卡的已付款购气。",
	"box_session_not_found":  "读卡已超时，请重新插卡。",
	"box_session_replaced":   "读写器已重新连接，请重新插卡。",
	"box_session_busy":       "正在处理，请稍候。",
	"payment_unavailable":    "支付服务暂时无法连接，未扣款，请稍后重试。",
	"payment_refused":        "支付未成功，未扣款。",
	"request_in_progress":    "正在处理，请稍候。",
	"internal":               "系统繁忙，请稍后重试；已付款的购气不会丢失。",
}

// kioskWriter holds a kiosk's answer back until it is signed.
type kioskWriter struct {
	gin.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *kioskWriter) WriteHeader(code int)              { w.status = code }
func (w *kioskWriter) WriteHeaderNow()                   {}
func (w *kioskWriter) Write(b []byte) (int, error)       { return w.buf.Write(b) }
func (w *kioskWriter) WriteString(s string) (int, error) { return w.buf.WriteString(s) }
func (w *kioskWriter) Written() bool                     { return w.status != 0 || w.buf.Len() > 0 }
func (w *kioskWriter) Size() int                         { return w.buf.Len() }
func (w *kioskWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// kioskAuth admits a signed kiosk request (signed exactly as a partner's,
// with X-Kiosk-Id), records the kiosk's contact, and signs whatever the
// route answers, its errors too, which carry the screen's Chinese words.
func (h *handler) kioskAuth(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		writeError(c, errBodyTooLarge)
		return
	}
	k, err := h.Kiosks.Authenticate(c.Request.Context(), partner.Request{
		PartnerID: c.GetHeader("X-Kiosk-Id"), Timestamp: c.GetHeader("X-Timestamp"), Nonce: c.GetHeader("X-Nonce"),
		Signature: c.GetHeader("X-Signature"), Method: c.Request.Method, Path: c.Request.RequestURI, Body: body,
	}, c.ClientIP())
	if err != nil && (errors.Is(err, kiosk.ErrUnknownKiosk) || k.KioskID == "") {
		logFrom(c).WarnContext(c.Request.Context(), "kiosk request refused", slog.String("ip", c.ClientIP()), slog.String("err", err.Error()))
		writeError(c, errKioskAuth)
		return
	}
	orig := c.Writer
	w := &kioskWriter{ResponseWriter: orig}
	c.Writer = w
	// A panic below is answered by the recover middleware, unsigned.
	defer func() { c.Writer = orig }()
	c.Set(ctxKiosk, k)
	if err != nil {
		logFrom(c).WarnContext(c.Request.Context(), "kiosk request refused", slog.String("kiosk", k.KioskID),
			slog.String("ip", c.ClientIP()), slog.String("err", err.Error()))
		writeError(c, errKioskAuth)
	} else {
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		c.Next()
	}
	c.Writer = orig
	status, out := w.Status(), w.buf.Bytes()
	if status >= 400 {
		var ae apiError
		if json.Unmarshal(out, &ae) == nil {
			if zh, ok := kioskScreen[ae.Code]; ok {
				ae.Message = zh
				out, _ = json.Marshal(ae)
			}
		}
	}
	s := h.Kiosks.SignAnswer(k, status, out)
	orig.Header().Set("X-Timestamp", s.Timestamp)
	orig.Header().Set("X-Nonce", s.Nonce)
	orig.Header().Set("X-Signature", s.Signature)
	// A route may have declared the length of the answer before its
	// words were put in Chinese.
	orig.Header().Del("Content-Length")
	orig.WriteHeader(status)
	orig.Write(out)
}

func kioskOf(c *gin.Context) kiosk.Kiosk { return c.MustGet(ctxKiosk).(kiosk.Kiosk) }

func kioskError(c *gin.Context, err error) {
	for _, m := range kioskErrors {
		if errors.Is(err, m.err) {
			writeError(c, m.api)
			return
		}
	}
	writeError(c, err)
}

type kioskBoxAnswer struct {
	SessionID string      `json:"session_id,omitempty"`
	Frames    []string    `json:"frames"`
	View      *kiosk.View `json:"view,omitempty"`
}

func (h *handler) kioskAnswer(c *gin.Context, status int, id string, a bleproxy.Answer) {
	v, err := h.Kiosk.ViewOf(c.Request.Context(), a.View)
	if err != nil {
		kioskError(c, err)
		return
	}
	out := toBoxAnswer(id, a)
	c.JSON(status, kioskBoxAnswer{SessionID: id, Frames: out.Frames, View: v})
}

// openKioskSession opens a session of the kiosk's own card reader from its
// HELLO: the answer carries SESSION and READ_CARD.
func (h *handler) openKioskSession(c *gin.Context) {
	var req openBoxRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	hello, err := decodeFrame(req.Hello)
	if err != nil {
		writeError(c, err)
		return
	}
	id, ans, err := h.Kiosk.Open(c.Request.Context(), kioskOf(c), hello)
	if err != nil {
		kioskError(c, err)
		return
	}
	h.kioskAnswer(c, http.StatusCreated, id, ans)
}

// relayKioskFrame relays a frame of the kiosk's card reader.
func (h *handler) relayKioskFrame(c *gin.Context) {
	id, frame, ok := frameOf(c)
	if !ok {
		return
	}
	ans, err := h.Kiosk.Frame(c.Request.Context(), kioskOf(c), id, frame)
	if err != nil {
		kioskError(c, err)
		return
	}
	h.kioskAnswer(c, http.StatusOK, "", ans)
}

// readKioskCard asks the kiosk's reader to read the card again.
func (h *handler) readKioskCard(c *gin.Context) {
	id, err := boxSession(c)
	if err != nil {
		writeError(c, err)
		return
	}
	ans, err := h.Kiosk.Read(c.Request.Context(), kioskOf(c), id)
	if err != nil {
		kioskError(c, err)
		return
	}
	h.kioskAnswer(c, http.StatusOK, "", ans)
}

// writeKioskCard answers the WRITE_CARD of a paid purchase for the card
// just read: the kiosk's own, or one waiting for the card from anywhere.
func (h *handler) writeKioskCard(c *gin.Context) {
	id, err := boxSession(c)
	if err != nil {
		writeError(c, err)
		return
	}
	var req writeRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if !validOrderNo(req.OrderNo) {
		writeError(c, errInvalidOrderNo)
		return
	}
	ans, err := h.Kiosk.Write(c.Request.Context(), kioskOf(c), id, req.OrderNo)
	if err != nil {
		kioskError(c, err)
		return
	}
	h.kioskAnswer(c, http.StatusOK, "", ans)
}

// kioskPurchaseRequest is a purchase for the card just read in a session.
// The volume is volume_centi_m3 (0.01 m³); volume_cm3, its old name, is
// accepted too (purchaseFields).
type kioskPurchaseRequest struct {
	SessionID string `json:"session_id"`
	purchaseFields
	AuthCode string `json:"auth_code,omitempty"`
}

func toKioskPurchase(req kioskPurchaseRequest) (kiosk.Purchase, error) {
	if !boxSessionID.MatchString(req.SessionID) {
		return kiosk.Purchase{}, errUnknownBoxSession
	}
	buy, err := toPurchase(req.purchaseFields)
	if err != nil {
		return kiosk.Purchase{}, err
	}
	return kiosk.Purchase{SessionID: req.SessionID, Buy: buy}, nil
}

// kioskQuote prices a purchase for the card just read, as its card type
// counts: the breakdown the kiosk's confirmation screen shows.
func (h *handler) kioskQuote(c *gin.Context) {
	var req kioskPurchaseRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if req.AuthCode != "" {
		writeError(c, badRequest("invalid_request", "询价不需要付款码。"))
		return
	}
	p, err := toKioskPurchase(req)
	if err != nil {
		writeError(c, err)
		return
	}
	q, err := h.Kiosk.Quote(c.Request.Context(), kioskOf(c), p)
	if err != nil {
		kioskError(c, err)
		return
	}
	c.JSON(http.StatusOK, toQuoteResponse(q))
}

type kioskOrderResponse struct {
	Order orderResponse `json:"order"`
	// Outcome is paying, paid, closed or reversed.
	Outcome    string    `json:"outcome"`
	CodeState  string    `json:"code_state"`
	Provider   string    `json:"provider"`
	DeadlineAt time.Time `json:"deadline_at"`
	Screen     string    `json:"screen"`
}

func toKioskOrder(o recharge.CodeOrder) kioskOrderResponse {
	written := o.Credit != nil && o.Credit.Status == recharge.CreditDelivered
	return kioskOrderResponse{Order: toOrderResponse(o.OrderView), Outcome: o.Outcome(), CodeState: string(o.Code.State),
		Provider: o.Code.Provider, DeadlineAt: o.Code.DeadlineAt.UTC(), Screen: kiosk.OutcomeScreen(o.Outcome(), written)}
}

// kioskCreateOrder places the purchase for the card just read and charges
// the scanned payment code. Idempotent by Idempotency-Key: a kiosk whose
// network dropped after the scan sends the same request again and learns
// the order.
func (h *handler) kioskCreateOrder(c *gin.Context) {
	var req kioskPurchaseRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	p, err := toKioskPurchase(req)
	if err != nil {
		writeError(c, err)
		return
	}
	if len(req.AuthCode) < 16 || len(req.AuthCode) > 24 || !allDigits(req.AuthCode) {
		writeError(c, badRequest("invalid_auth_code", "付款码无效，请打开微信或支付宝付款码重新扫码。"))
		return
	}
	k := kioskOf(c)
	idem, err := idemKey(c, "kiosk:"+k.KioskID, req)
	if err != nil {
		writeError(c, err)
		return
	}
	o, err := h.Kiosk.Order(c.Request.Context(), k, p, req.AuthCode, idem)
	if err != nil {
		for _, m := range kioskErrors {
			if errors.Is(err, m.err) {
				err = m.api
				break
			}
		}
		writeError(c, err)
		return
	}
	answerIdempotent(c, o.Replayed, toKioskOrder(o))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// kioskGetOrder shows one of the kiosk's orders; the kiosk polls it while
// the customer confirms, and a step of the closed loop that is due is
// taken on the way.
func (h *handler) kioskGetOrder(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	o, err := h.Kiosk.OrderOf(c.Request.Context(), kioskOf(c), no)
	if err != nil {
		kioskError(c, err)
		return
	}
	c.JSON(http.StatusOK, toKioskOrder(o))
}

// kioskReceipt answers a paid purchase's receipt: its data and the 58 mm
// printer's text. ?reprint=1 marks a copy printed again.
func (h *handler) kioskReceipt(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	r, err := h.Kiosk.Receipt(c.Request.Context(), kioskOf(c), no, c.Query("reprint") == "1")
	if err != nil {
		kioskError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"receipt": r, "text": r.Text(), "width": kiosk.Width})
}

type adminKioskResponse struct {
	KioskID    string     `json:"kiosk_id"`
	BoxID      string     `json:"box_id"`
	Active     bool       `json:"active"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	LastIP     *string    `json:"last_ip"`
	CreatedAt  time.Time  `json:"created_at"`
}

// adminKiosks lists the kiosks and each one's last contact, for staff.
func (h *handler) adminKiosks(c *gin.Context) {
	list, err := h.Kiosks.List(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]adminKioskResponse, len(list))
	for i, k := range list {
		out[i] = adminKioskResponse{KioskID: k.KioskID, BoxID: k.BoxID, Active: k.Active, LastSeenAt: k.LastSeenAt,
			LastIP: k.LastIP, CreatedAt: k.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"kiosks": out})
}
