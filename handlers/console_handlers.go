package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"gaspay/console"
	"gaspay/iot"
	"gaspay/recharge"
	"gaspay/staff"
)

// Context keys of the console.
const (
	ctxStaff      = "gaspay.staff"
	ctxStaffToken = "gaspay.stafftoken"
)

// staffCookie carries a console session: HttpOnly, SameSite=Strict.
const staffCookie = "gaspay_staff"

var (
	errForbidden   = &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "您的角色无权执行此操作。"}
	errInvalidNote = badRequest("invalid_note", "备注最多 120 个字。")
)

// actor is the request's staff actor; only under staff.
func actor(c *gin.Context) staff.Actor { return c.MustGet(ctxStaff).(staff.Actor) }

// need admits the request only if the actor's role has permission p.
func (h *handler) need(p staff.Permission) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !actor(c).Role.Allows(p) {
			writeError(c, errForbidden)
			return
		}
		c.Next()
	}
}

// auditTokenUse records a use of the automation token before it acts.
func (h *handler) auditTokenUse(c *gin.Context, a staff.Actor) error {
	ctx := c.Request.Context()
	return h.Staff.Audit(ctx, a, "token.use", c.Request.Method+" "+truncate(c.Request.URL.Path, 56))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

type staffLoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	OTP      string `json:"otp"`
}

// staffLogin checks a member of staff's name, password and one-time code
// and sets the console session cookie; the answer carries the CSRF token
// the page sends with every change.
func (h *handler) staffLogin(c *gin.Context) {
	if o := c.GetHeader("Origin"); o != "" && o != h.PublicURL {
		writeError(c, errBadOrigin)
		return
	}
	var req staffLoginRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if len(req.Name) > 64 || len(req.Password) > 512 || len(req.OTP) > 12 {
		writeError(c, badRequest("invalid_login", "用户名或密码格式不正确。"))
		return
	}
	se, token, err := h.Staff.Login(c.Request.Context(), req.Name, req.Password, req.OTP, c.ClientIP(), c.Writer.Header().Get("X-Request-Id"))
	if err != nil {
		writeError(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: staffCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: h.Production, SameSite: http.SameSiteStrictMode})
	c.JSON(http.StatusOK, gin.H{"csrf_token": se.CSRF, "name": se.Name, "role": se.Role})
}

// staffLogout ends the console session.
func (h *handler) staffLogout(c *gin.Context) {
	if tok, ok := c.Get(ctxStaffToken); ok {
		if err := h.Staff.Logout(c.Request.Context(), tok.(string), actor(c)); err != nil {
			writeError(c, err)
			return
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: staffCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.Production, SameSite: http.SameSiteStrictMode})
	c.Status(http.StatusNoContent)
}

// staffMe says who is logged in, with a fresh copy of the CSRF token (a
// reloaded page has lost it).
func (h *handler) staffMe(c *gin.Context) {
	a := actor(c)
	out := gin.H{"name": a.Name, "role": a.Role, "approval_threshold_fen": h.Console.ApprovalFen()}
	if tok, ok := c.Get(ctxStaffToken); ok {
		se, err := h.Staff.Session(c.Request.Context(), tok.(string))
		if err != nil {
			writeError(c, err)
			return
		}
		out["csrf_token"] = se.CSRF
	}
	c.JSON(http.StatusOK, out)
}

// adminDashboard is the 工作台.
func (h *handler) adminDashboard(c *gin.Context) {
	d, err := h.Console.Dashboard(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	pays := make([]gin.H, len(d.Payments))
	for i, p := range d.Payments {
		pays[i] = gin.H{"channel": p.Channel, "count": p.Count, "total_fen": p.TotalFen}
	}
	pend := make([]gin.H, len(d.PendingCredits))
	for i, p := range d.PendingCredits {
		pend[i] = gin.H{"kind": p.Kind, "age": p.Age, "count": p.Count}
	}
	c.JSON(http.StatusOK, gin.H{"day": d.Day, "payments": pays, "total_fen": d.TotalFen, "total_count": d.TotalCount,
		"pending_credits": pend, "open_alerts": d.OpenAlerts, "pending_approvals": d.PendingApprove,
		"janitor_last_run": d.JanitorLastRun})
}

type accountHitResponse struct {
	ID          int64   `json:"id"`
	UserNumber  string  `json:"user_number"`
	HolderName  string  `json:"holder_name"`
	Phone       string  `json:"phone"`
	Address     string  `json:"address"`
	Kind        string  `json:"kind"`
	Status      string  `json:"status"`
	BalanceFen  int64   `json:"balance_fen"`
	ArrearsFen  int64   `json:"arrears_fen"`
	MeterNumber *string `json:"meter_number"`
	CardSerial  *string `json:"card_serial"`
}

// adminSearch finds accounts by user number, meter number, card serial,
// phone or the start of the holder's name.
func (h *handler) adminSearch(c *gin.Context) {
	q := strings.TrimSpace(c.Query("q"))
	if q == "" || utf8.RuneCountInString(q) > 32 || !utf8.ValidString(q) {
		writeError(c, badRequest("invalid_query", "请输入 1 到 32 个字的查询内容。"))
		return
	}
	hits, err := h.Console.Search(c.Request.Context(), q)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]accountHitResponse, len(hits))
	for i, a := range hits {
		out[i] = accountHitResponse{ID: a.ID, UserNumber: a.UserNumber, HolderName: a.HolderName, Phone: a.Phone, Address: a.Address,
			Kind: string(a.Kind), Status: string(a.Status), BalanceFen: a.BalanceFen, ArrearsFen: a.ArrearsFen,
			MeterNumber: a.MeterNumber, CardSerial: a.CardSerial}
	}
	c.JSON(http.StatusOK, gin.H{"accounts": out})
}

type adminOrderResponse struct {
	orderResponse
	Payment *paymentResponse `json:"payment,omitempty"`
	// Attempts is how many deliveries of the credit were tried.
	Attempts int `json:"delivery_attempts"`
	// TariffVersion is the version of the account's tariff that priced
	// the order (none for bill payments and orders made before it was
	// recorded).
	TariffVersion *int `json:"tariff_version,omitempty"`
}

type paymentResponse struct {
	Provider      string    `json:"provider"`
	ProviderTxnID string    `json:"provider_txn_id"`
	AmountFen     int64     `json:"amount_fen"`
	Source        string    `json:"source"`
	PaidAt        time.Time `json:"paid_at"`
}

func toAdminOrders(views []recharge.OrderView, pays map[int64]console.Payment) []adminOrderResponse {
	out := make([]adminOrderResponse, len(views))
	for i, v := range views {
		out[i] = adminOrderResponse{orderResponse: toOrderResponse(v)}
		if p, ok := pays[v.Order.ID]; ok {
			out[i].Payment = &paymentResponse{Provider: p.Provider, ProviderTxnID: p.ProviderTxnID, AmountFen: int64(p.AmountFen),
				Source: p.Source, PaidAt: p.PaidAt}
		}
		if v.Credit != nil {
			out[i].Attempts = v.Credit.Attempts
		}
		out[i].TariffVersion = v.Order.TariffVersion
	}
	return out
}

// adminCustomer is an account's whole record.
func (h *handler) adminCustomer(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	r, err := h.Console.Customer(c.Request.Context(), id)
	if err != nil {
		writeError(c, err)
		return
	}
	a := r.Account
	cardsOut := make([]gin.H, len(r.Cards))
	for i, cd := range r.Cards {
		cardsOut[i] = gin.H{"card_serial": cd.Serial, "card_type": cd.Type, "status": cd.Status, "last_written_seq": cd.LastWrittenSeq,
			"created_at": cd.CreatedAt, "updated_at": cd.UpdatedAt}
	}
	binds := make([]gin.H, len(r.Bindings))
	for i, b := range r.Bindings {
		binds[i] = gin.H{"binding_id": b.BindingID, "user_id": b.UserID, "app": b.AppKind, "open_id": b.OpenID,
			"is_default": b.IsDefault, "created_at": b.CreatedAt}
	}
	bills := make([]gin.H, len(r.Bills))
	for i, b := range r.Bills {
		bills[i] = gin.H{"period": b.Period, "amount_due_fen": int64(b.AmountDueFen), "amount_paid_fen": int64(b.AmountPaidFen), "due_date": b.DueDate}
	}
	readings := make([]gin.H, len(r.Readings))
	for i, rd := range r.Readings {
		readings[i] = gin.H{"read_at": rd.ReadAt, "reading_centi_m3": rd.ReadingCentiM3}
	}
	events := make([]gin.H, len(r.BoxEvents))
	for i, e := range r.BoxEvents {
		events[i] = gin.H{"box_id": e.BoxID, "session_id": e.SessionID, "kind": e.Kind, "order_no": e.OrderNo,
			"card_serial": e.CardSerial, "detail": e.Detail, "created_at": e.CreatedAt}
	}
	writes := make([]gin.H, len(r.CardWrites))
	for i, w := range r.CardWrites {
		writes[i] = gin.H{"box_id": w.BoxID, "seq": w.Seq, "amount": w.Amount, "issued_at": w.IssuedAt, "active_at": w.ActiveAt,
			"result": w.Result, "resolved_at": w.ResolvedAt, "in_doubt": w.Result == nil}
	}
	msgs := make([]gin.H, len(r.Messages))
	for i, m := range r.Messages {
		msgs[i] = gin.H{"event": m.Event, "app": m.AppKind, "open_id": m.OpenID, "state": m.State, "attempts": m.Attempts,
			"last_error": m.LastError, "created_at": m.CreatedAt, "sent_at": m.SentAt}
	}
	var meter gin.H
	if m := r.Meter; m != nil {
		meter = gin.H{"meter_number": m.MeterNumber, "last_balance_fen": m.LastBalanceFen, "last_reported_at": m.LastReportedAt}
	}
	c.JSON(http.StatusOK, gin.H{
		"account": gin.H{"id": a.ID, "user_number": a.UserNumber, "holder_name": a.HolderName, "address": a.Address, "phone": a.Phone,
			"kind": a.Kind, "status": a.Status, "balance_fen": int64(a.BalanceFen), "arrears_fen": int64(a.ArrearsFen), "purchase_seq": a.PurchaseSeq,
			"ytd_volume_centi_m3": a.YTDVolumeCentiM3, "ytd_volume_cm3": a.YTDVolumeCentiM3, "updated_at": a.UpdatedAt},
		"meter": meter, "cards": cardsOut, "bindings": binds, "bills": bills, "readings": readings,
		"orders": toAdminOrders(r.Orders, r.Payments), "box_events": events, "card_writes": writes,
		"messages": msgs,
	})
}

// adminOrders lists orders by day range, channel, status and account.
func (h *handler) adminOrders(c *gin.Context) {
	var f console.OrderFilter
	bad := func(msg string) { writeError(c, badRequest("invalid_filter", msg)) }
	if v := c.Query("from"); v != "" {
		from, _, err := h.Console.DayBounds(v)
		if err != nil {
			bad("from 必须是 YYYY-MM-DD。")
			return
		}
		f.From = from
	}
	if v := c.Query("to"); v != "" {
		_, to, err := h.Console.DayBounds(v)
		if err != nil {
			bad("to 必须是 YYYY-MM-DD。")
			return
		}
		f.To = to
	}
	if v := c.Query("channel"); v != "" {
		ch, ok := recharge.ParseChannel(v)
		if !ok {
			bad("没有这个渠道。")
			return
		}
		f.Channel = ch
	}
	if v := c.Query("status"); v != "" {
		st := recharge.OrderStatus(v)
		if _, err := st.Value(); err != nil {
			bad("没有这个状态。")
			return
		}
		f.Status = st
	}
	for key, dst := range map[string]*int64{"account_id": &f.AccountID, "before_id": &f.BeforeID} {
		if v := c.Query(key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				bad(key + " 必须是正整数。")
				return
			}
			*dst = n
		}
	}
	views, pays, err := h.Console.Orders(c.Request.Context(), f)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"orders": toAdminOrders(views, pays)})
}

type cardWriteResponse struct {
	BoxID      string     `json:"box_id"`
	Seq        int        `json:"seq"`
	Amount     int64      `json:"amount"`
	IssuedAt   time.Time  `json:"issued_at"`
	Result     *string    `json:"result"`
	ResolvedAt *time.Time `json:"resolved_at"`
}

type staffDeliveryResponse struct {
	State             string     `json:"state"`
	Reason            *string    `json:"reason,omitempty"`
	Seq               int        `json:"seq"`
	Copies            int        `json:"copies"`
	ValidUntil        *time.Time `json:"valid_until"`
	NextAt            time.Time  `json:"next_at"`
	SentAt            *time.Time `json:"sent_at"`
	DeliveredAt       *time.Time `json:"delivered_at"`
	AppliedAt         *time.Time `json:"applied_at"`
	CancelRequestedAt *time.Time `json:"cancel_requested_at"`
	CancelConfirmedAt *time.Time `json:"cancel_confirmed_at"`
}

func toStaffDelivery(d iot.Delivery) staffDeliveryResponse {
	return staffDeliveryResponse{State: string(d.State), Reason: d.Reason, Seq: d.Seq, Copies: d.Copies, ValidUntil: d.ValidUntil,
		NextAt: d.NextAt, SentAt: d.SentAt, DeliveredAt: d.DeliveredAt, AppliedAt: d.AppliedAt,
		CancelRequestedAt: d.CancelRequestedAt, CancelConfirmedAt: d.CancelConfirmedAt}
}

// adminOrderDelivery shows where an order's credit stands: a card
// credit's recovery state with every write issued for it, or an IoT
// credit's delivery.
func (h *handler) adminOrderDelivery(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	d, err := h.Console.Delivery(c.Request.Context(), no)
	if err != nil {
		writeError(c, err)
		return
	}
	out := gin.H{"order_no": no, "in_doubt": d.InDoubt}
	if cr := d.Order.Credit; cr != nil {
		out["kind"], out["credit_status"], out["attempts"] = cr.Kind, cr.Status, cr.Attempts
	}
	if d.Card != "" {
		writes := make([]cardWriteResponse, len(d.Writes))
		for i, w := range d.Writes {
			writes[i] = cardWriteResponse{BoxID: w.BoxID, Seq: w.Seq, Amount: w.Amount, IssuedAt: w.IssuedAt, Result: w.Result, ResolvedAt: w.ResolvedAt}
		}
		out["card"] = gin.H{"recovery": d.Card, "writes": writes}
	}
	if d.IoT != nil {
		out["iot"] = toStaffDelivery(*d.IoT)
	}
	c.JSON(http.StatusOK, out)
}

// adminResendIoT sends an IoT credit's recharge again now, when no copy
// can still reach the meter.
func (h *handler) adminResendIoT(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	note, ok := readNote(c, false)
	if !ok {
		return
	}
	d, err := h.Console.ResendIoT(c.Request.Context(), actor(c), no, note)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toStaffDelivery(d))
}

var txnStates = map[recharge.TxnState]string{recharge.TxnNotFound: "not_found", recharge.TxnNotPaid: "not_paid",
	recharge.TxnPaid: "paid", recharge.TxnClosed: "closed"}

// adminAskProvider asks the order's payment provider about it now.
func (h *handler) adminAskProvider(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	name, t, err := h.Recharge.AskProvider(c.Request.Context(), no)
	switch {
	case errors.Is(err, recharge.ErrNoProvider):
		writeError(c, &apiError{Status: http.StatusConflict, Code: "no_provider", Message: "该订单由合作方收款，请查询合作方对账。"})
		return
	case err != nil && !errors.Is(err, recharge.ErrNotFound):
		writeError(c, &apiError{Status: http.StatusBadGateway, Code: "provider_unavailable", Message: "支付机构没有回答，请稍后再查。"})
		return
	case err != nil:
		writeError(c, err)
		return
	}
	out := gin.H{"provider": name, "state": txnStates[t.State], "txn_id": t.TxnID, "amount_fen": t.AmountFen}
	if !t.PaidAt.IsZero() {
		out["paid_at"] = t.PaidAt
	}
	c.JSON(http.StatusOK, out)
}

func toApproval(a console.Approval) gin.H {
	return gin.H{"id": a.ID, "kind": a.Kind, "order_no": a.OrderNo, "amount_fen": a.AmountFen, "reason": a.Reason,
		"requested_by": a.RequestedBy, "status": a.Status, "decided_by": a.DecidedBy, "decided_at": a.DecidedAt, "created_at": a.CreatedAt}
}

// adminApprovals lists approvals, pending ones unless all=1.
func (h *handler) adminApprovals(c *gin.Context) {
	list, err := h.Console.Approvals(c.Request.Context(), c.Query("all") == "1")
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]gin.H, len(list))
	for i, a := range list {
		out[i] = toApproval(a)
	}
	c.JSON(http.StatusOK, gin.H{"approvals": out})
}

// adminApprove approves a refund someone else requested, and makes it.
func (h *handler) adminApprove(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	out, err := h.Console.Approve(c.Request.Context(), actor(c), id)
	if err != nil {
		writeError(c, err)
		return
	}
	h.writeRefundOutcome(c, out)
}

type noteRequest struct {
	Note string `json:"note"`
}

func readNote(c *gin.Context, required bool) (string, bool) {
	var req noteRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return "", false
	}
	n := utf8.RuneCountInString(strings.TrimSpace(req.Note))
	if n > 120 || (required && n == 0) {
		writeError(c, errInvalidNote)
		return "", false
	}
	return strings.TrimSpace(req.Note), true
}

// adminReject turns a pending refund down.
func (h *handler) adminReject(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	note, ok := readNote(c, false)
	if !ok {
		return
	}
	if err := h.Console.Reject(c.Request.Context(), actor(c), id, note); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "rejected"})
}

// adminResolveAlert resolves an alert with a note.
func (h *handler) adminResolveAlert(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	note, ok := readNote(c, true)
	if !ok {
		return
	}
	a, err := h.Console.ResolveAlert(c.Request.Context(), actor(c), id, note)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, alertResponse{ID: a.ID, Kind: a.Kind, OrderNo: a.OrderNo, Detail: a.Detail, CreatedAt: a.CreatedAt, ResolvedAt: a.ResolvedAt})
}

type accountStatusRequest struct {
	Status string `json:"status"`
	Note   string `json:"note"`
}

// adminAccountStatus suspends (停用) or reactivates (启用) an account.
func (h *handler) adminAccountStatus(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	var req accountStatusRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	st := console.AccountStatus(req.Status)
	if st != console.AccountActive && st != console.AccountSuspended {
		writeError(c, badRequest("invalid_status", "status 只能是 active（启用）或 suspended（停用）。"))
		return
	}
	if n := utf8.RuneCountInString(req.Note); n == 0 || n > 120 {
		writeError(c, errInvalidNote)
		return
	}
	if err := h.Console.SetAccountStatus(c.Request.Context(), actor(c), id, st, req.Note); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": st})
}

type correctionRequest struct {
	Phone   *string `json:"phone"`
	Address *string `json:"address"`
	Note    string  `json:"note"`
}

// adminCorrectAccount corrects an account's phone or address.
func (h *handler) adminCorrectAccount(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	var req correctionRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if req.Phone == nil && req.Address == nil {
		writeError(c, badRequest("nothing_to_change", "请给出新的电话或地址。"))
		return
	}
	if p := req.Phone; p != nil && (len(*p) > 20 || strings.Trim(*p, "0123456789+- ") != "") {
		writeError(c, badRequest("invalid_phone", "电话最多 20 位，只能有数字、空格、+ 和 -。"))
		return
	}
	if a := req.Address; a != nil && (utf8.RuneCountInString(*a) > 255 || strings.TrimSpace(*a) == "") {
		writeError(c, badRequest("invalid_address", "地址必须是 1 到 255 个字。"))
		return
	}
	if n := utf8.RuneCountInString(req.Note); n > 120 {
		writeError(c, errInvalidNote)
		return
	}
	if err := h.Console.CorrectAccount(c.Request.Context(), actor(c), id, console.Correction{Phone: req.Phone, Address: req.Address}, req.Note); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"corrected": true})
}

type cardReplacementRequest struct {
	CardSerial string `json:"card_serial"`
	Note       string `json:"note"`
}

// adminReplaceCard (补卡) reports the current card lost and registers its
// replacement.
func (h *handler) adminReplaceCard(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	var req cardReplacementRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	serial := strings.ToUpper(strings.TrimSpace(req.CardSerial))
	if len(serial) != 16 || strings.Trim(serial, "0123456789ABCDEF") != "" {
		writeError(c, badRequest("invalid_card_serial", "卡号必须是 16 位十六进制数字。"))
		return
	}
	if n := utf8.RuneCountInString(req.Note); n > 120 {
		writeError(c, errInvalidNote)
		return
	}
	card, err := h.Console.ReplaceCard(c.Request.Context(), actor(c), id, serial, req.Note)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"card_serial": card.Serial, "card_type": card.Type, "last_written_seq": card.LastWrittenSeq})
}

// adminUnbind removes a WeChat user's binding of the account.
func (h *handler) adminUnbind(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	bid, err := pathID(c, "bid")
	if err != nil {
		writeError(c, err)
		return
	}
	if err := h.Console.Unbind(c.Request.Context(), actor(c), id, bid, ""); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// adminAudit lists the audit trail, newest first, filtered by actor,
// action, target and day range.
func (h *handler) adminAudit(c *gin.Context) {
	f := console.AuditFilter{Actor: truncate(c.Query("actor"), 40), Action: truncate(c.Query("action"), 40), Target: truncate(c.Query("target"), 64)}
	if v := c.Query("from"); v != "" {
		from, _, err := h.Console.DayBounds(v)
		if err != nil {
			writeError(c, badRequest("invalid_filter", "from 必须是 YYYY-MM-DD。"))
			return
		}
		f.From = from
	}
	if v := c.Query("to"); v != "" {
		_, to, err := h.Console.DayBounds(v)
		if err != nil {
			writeError(c, badRequest("invalid_filter", "to 必须是 YYYY-MM-DD。"))
			return
		}
		f.To = to
	}
	if v := c.Query("before_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(c, badRequest("invalid_filter", "before_id 必须是正整数。"))
			return
		}
		f.BeforeID = n
	}
	list, err := h.Console.Audit(c.Request.Context(), f)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]gin.H, len(list))
	for i, e := range list {
		out[i] = gin.H{"id": e.ID, "at": e.At, "actor": e.Actor, "role": e.Role, "ip": e.IP, "request_id": e.RequestID,
			"action": e.Action, "target": e.Target, "before": rawJSON(e.BeforeJSON), "after": rawJSON(e.AfterJSON), "note": e.Note}
	}
	c.JSON(http.StatusOK, gin.H{"entries": out})
}

// rawJSON passes stored JSON through as JSON; none is null.
func rawJSON(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

// maxImport bounds an uploaded import file.
const maxImport = 64 << 20

// adminImport imports accounts, bills or readings from a CSV body.
func (h *handler) adminImport(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ct := c.ContentType()
		if ct != "text/csv" && ct != "text/plain" && ct != "application/octet-stream" {
			writeError(c, &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "请以 text/csv 上传文件。"})
			return
		}
		body := http.MaxBytesReader(c.Writer, c.Request.Body, maxImport)
		name := c.Query("name")
		var res console.ImportResult
		var err error
		switch kind {
		case "accounts":
			res, err = h.Console.ImportAccounts(c.Request.Context(), actor(c), name, body)
		case "bills":
			res, err = h.Console.ImportBills(c.Request.Context(), actor(c), name, body)
		default:
			res, err = h.Console.ImportReadings(c.Request.Context(), actor(c), name, body)
		}
		var ie console.ImportError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &ie):
			lines := make([]gin.H, len(ie))
			for i, r := range ie {
				lines[i] = gin.H{"line": r.Line, "message": r.Msg}
			}
			c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"code": "import_invalid",
				"message": "文件有错误，没有导入任何内容。", "errors": lines})
			return
		case errors.As(err, &mbe):
			writeError(c, errBodyTooLarge)
			return
		case err != nil:
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, toImport(res.Import))
	}
}

func toImport(im console.Import) gin.H {
	return gin.H{"import_id": im.ID, "kind": im.Kind, "file_name": im.FileName, "actor": im.Actor, "status": im.Status,
		"rows": im.TotalRows, "applied_rows": im.AppliedRows, "created_at": im.CreatedAt}
}

// adminImports lists recent imports.
func (h *handler) adminImports(c *gin.Context) {
	list, err := h.Console.Imports(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]gin.H, len(list))
	for i, im := range list {
		out[i] = toImport(im)
	}
	c.JSON(http.StatusOK, gin.H{"imports": out})
}

// adminPage serves the console's page.
func (h *handler) adminPage(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "same-origin")
	c.Header("Cache-Control", "no-cache")
	h.adminPages.ServeHTTP(c.Writer, c.Request)
}

// adminDailyReport is the day's settlement (日结), as JSON or, with
// format=csv, as a CSV file.
func (h *handler) adminDailyReport(c *gin.Context) {
	day := c.DefaultQuery("date", h.Console.Today())
	r, err := h.Console.Daily(c.Request.Context(), day)
	if errors.Is(err, console.ErrInvalid) {
		writeError(c, badRequest("invalid_date", "date 必须是 YYYY-MM-DD。"))
		return
	}
	if err != nil {
		writeError(c, err)
		return
	}
	if c.Query("format") == "csv" {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="daily-`+r.Day+`.csv"`)
		c.Status(http.StatusOK)
		if err := r.WriteCSV(c.Writer); err != nil {
			logFrom(c).WarnContext(c.Request.Context(), "report csv", "err", err.Error())
		}
		return
	}
	channels := make([]gin.H, len(r.Channels))
	for i, ch := range r.Channels {
		channels[i] = gin.H{"channel": ch.Channel, "count": ch.Count, "total_fen": ch.TotalFen}
	}
	partners := make([]gin.H, len(r.Partners))
	for i, p := range r.Partners {
		partners[i] = gin.H{"partner_id": p.PartnerID, "count": p.Count, "total_fen": p.TotalFen}
	}
	refunds := make([]gin.H, len(r.Refunds))
	for i, s := range r.Refunds {
		refunds[i] = gin.H{"status": s.Status, "count": s.Count, "total_fen": s.TotalFen}
	}
	c.JSON(http.StatusOK, gin.H{"date": r.Day, "channels": channels, "total_fen": r.TotalFen, "partners": partners,
		"refunds": refunds, "reversals": gin.H{"count": r.Reversals.Count, "total_fen": r.Reversals.TotalFen}})
}

type tierJSON struct {
	// UpperCentiM3 is where the tier ends in the year's volume (0.01 m3);
	// null for the last, unbounded tier.
	UpperCentiM3  *int64 `json:"upper_centi_m3"`
	PriceFenPerM3 int64  `json:"price_fen_per_m3"`
}

func toTiers(in []tierJSON) ([]recharge.Tier, error) {
	if len(in) == 0 || len(in) > 10 {
		return nil, badRequest("invalid_tiers", "阶梯必须有 1 到 10 档。")
	}
	out := make([]recharge.Tier, len(in))
	for i, t := range in {
		if t.PriceFenPerM3 <= 0 || t.PriceFenPerM3 > 100_000 || (t.UpperCentiM3 == nil) != (i == len(in)-1) ||
			(t.UpperCentiM3 != nil && (*t.UpperCentiM3 <= 0 || *t.UpperCentiM3 > maxQuantity)) {
			return nil, badRequest("invalid_tiers", "每档单价为正（分/m³），上限逐档递增，最后一档上限为 null。")
		}
		out[i] = recharge.NewTier(t.UpperCentiM3, t.PriceFenPerM3)
	}
	if err := recharge.CheckTiers(out); err != nil {
		return nil, badRequest("invalid_tiers", "每档单价为正（分/m³），上限逐档递增，最后一档上限为 null。")
	}
	return out, nil
}

// adminTariffs lists the tariffs with their versions: the one in force and
// those scheduled.
func (h *handler) adminTariffs(c *gin.Context) {
	list, err := h.Console.Tariffs(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]gin.H, len(list))
	for i, t := range list {
		vs := make([]gin.H, len(t.Versions))
		for j, v := range t.Versions {
			tiers := make([]tierJSON, len(v.Tiers))
			for k, tt := range v.Tiers {
				tiers[k] = tierJSON{UpperCentiM3: tt.UpperCentiM3, PriceFenPerM3: tt.PriceFenPerM3}
			}
			vs[j] = gin.H{"version": v.Version, "effective_from": v.EffectiveFrom, "created_by": v.CreatedBy, "tiers": tiers,
				"in_force": v.Version == t.InForce, "scheduled": v.Version > t.InForce}
		}
		out[i] = gin.H{"code": t.Tariff.Code, "name": t.Tariff.Name, "in_force": t.InForce, "versions": vs}
	}
	c.JSON(http.StatusOK, gin.H{"tariffs": out})
}

type tariffRequest struct {
	Code  string     `json:"code"`
	Name  string     `json:"name"`
	Tiers []tierJSON `json:"tiers"`
}

// adminAddTariff adds a customer category with its first tiers.
func (h *handler) adminAddTariff(c *gin.Context) {
	var req tariffRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	tiers, err := toTiers(req.Tiers)
	if err != nil {
		writeError(c, err)
		return
	}
	if err := h.Console.AddTariff(c.Request.Context(), actor(c), req.Code, req.Name, tiers); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"code": req.Code})
}

type tariffVersionRequest struct {
	EffectiveFrom string     `json:"effective_from"`
	Tiers         []tierJSON `json:"tiers"`
}

// adminScheduleTariff schedules a new version of a tariff from a future day.
func (h *handler) adminScheduleTariff(c *gin.Context) {
	var req tariffVersionRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	tiers, err := toTiers(req.Tiers)
	if err != nil {
		writeError(c, err)
		return
	}
	v, err := h.Console.ScheduleTariff(c.Request.Context(), actor(c), c.Param("code"), req.EffectiveFrom, tiers)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"version": v.Version, "effective_from": v.EffectiveFrom})
}

// adminPartners lists the collection partners, without their keys.
func (h *handler) adminPartners(c *gin.Context) {
	list, err := h.Console.Partners(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]gin.H, len(list))
	for i, p := range list {
		out[i] = gin.H{"id": p.PartnerID, "name": p.Name, "active": p.Active, "previous_key_valid_until": p.PreviousUntil,
			"updated_at": p.UpdatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"partners": out})
}

type partnerRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// adminAddPartner adds a partner and answers its key, once.
func (h *handler) adminAddPartner(c *gin.Context) {
	var req partnerRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	key, err := h.Console.AddPartner(c.Request.Context(), actor(c), req.ID, req.Name)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, gin.H{"id": req.ID, "key": key})
}

// adminPartnerActive disables or re-enables a partner.
func (h *handler) adminPartnerActive(active bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Param("id")
		if err := h.Console.SetPartnerActive(c.Request.Context(), actor(c), id, active); err != nil {
			writeError(c, err)
			return
		}
		h.Partners.Forget(id)
		c.JSON(http.StatusOK, gin.H{"id": id, "active": active})
	}
}

type rotateRequest struct {
	GraceHours *int `json:"grace_hours"`
}

// adminRotatePartner gives a partner a new key (answered once); the old
// one stays valid for grace_hours (default 24, at most 168).
func (h *handler) adminRotatePartner(c *gin.Context) {
	var req rotateRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	grace := 24 * time.Hour
	if req.GraceHours != nil {
		if *req.GraceHours < 0 || *req.GraceHours > 168 {
			writeError(c, badRequest("invalid_grace", "grace_hours 必须在 0 到 168 之间。"))
			return
		}
		grace = time.Duration(*req.GraceHours) * time.Hour
	}
	id := c.Param("id")
	key, until, err := h.Console.RotatePartnerKey(c.Request.Context(), actor(c), id, grace)
	if err != nil {
		writeError(c, err)
		return
	}
	h.Partners.Forget(id)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"id": id, "key": key, "previous_key_valid_until": until})
}

// adminStaff lists the staff: names, roles, whether active and whether
// they have a second factor.
func (h *handler) adminStaff(c *gin.Context) {
	list, err := h.Staff.List(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]gin.H, len(list))
	for i, st := range list {
		out[i] = gin.H{"name": st.Name, "role": st.Role, "active": st.Active, "totp": st.TOTPSecret != nil, "created_at": st.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"staff": out})
}

type staffAddRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
	TOTP     bool   `json:"totp"`
}

var (
	errStaffInvalid = badRequest("invalid_staff", "用户名为 2 到 32 位小写字母、数字、点、横线或下划线（字母开头），角色为 viewer、operator、finance 或 admin。")
	errWeakPassword = badRequest("weak_password", "密码须为 12 到 128 个字符。")
	errStaffExists  = &apiError{Status: http.StatusConflict, Code: "staff_exists", Message: "这个用户名已经存在。"}
	errNoSuchStaff  = &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "没有这位员工。"}
)

func staffError(err error) error {
	switch {
	case errors.Is(err, staff.ErrInvalid):
		return errStaffInvalid
	case errors.Is(err, staff.ErrWeakPassword):
		return errWeakPassword
	case errors.Is(err, staff.ErrNameTaken):
		return errStaffExists
	case errors.Is(err, staff.ErrNotFound):
		return errNoSuchStaff
	}
	return err
}

// adminAddStaff adds a member of staff; a TOTP secret is answered once.
func (h *handler) adminAddStaff(c *gin.Context) {
	var req staffAddRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	role, ok := staff.ParseRole(req.Role)
	if !ok {
		writeError(c, errStaffInvalid)
		return
	}
	added, err := h.Staff.Add(c.Request.Context(), actor(c), req.Name, role, req.Password, req.TOTP)
	if err != nil {
		writeError(c, staffError(err))
		return
	}
	out := gin.H{"name": req.Name, "role": role}
	if added.TOTPSecret != "" {
		c.Header("Cache-Control", "no-store")
		out["totp_secret"], out["totp_uri"] = added.TOTPSecret, added.TOTPURI
	}
	c.JSON(http.StatusCreated, out)
}

// adminDisableStaff disables a member of staff and ends their sessions.
func (h *handler) adminDisableStaff(c *gin.Context) {
	name := c.Param("name")
	if name == actor(c).Name {
		writeError(c, &apiError{Status: http.StatusConflict, Code: "own_account", Message: "不能停用自己的账号。"})
		return
	}
	if err := h.Staff.Disable(c.Request.Context(), actor(c), name); err != nil {
		writeError(c, staffError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": name, "active": false})
}

type passwordRequest struct {
	Password string `json:"password"`
}

// adminResetPassword gives a member of staff a new password and ends their
// sessions.
func (h *handler) adminResetPassword(c *gin.Context) {
	var req passwordRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	name := c.Param("name")
	if err := h.Staff.ResetPassword(c.Request.Context(), actor(c), name, req.Password); err != nil {
		writeError(c, staffError(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": name, "active": true})
}
