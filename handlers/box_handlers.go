package handlers

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/bleproxy"
	"gaspay/cards"
)

// A frame is at most 512 bytes: 684 in base64.
const maxFrameB64 = 700

var errBadFrameEncoding = badRequest("invalid_frame", "数据格式错误。")

func decodeFrame(s string) ([]byte, error) {
	if len(s) == 0 || len(s) > maxFrameB64 {
		return nil, errBadFrameEncoding
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errBadFrameEncoding
	}
	return b, nil
}

type boxAnswer struct {
	SessionID string   `json:"session_id,omitempty"`
	Frames    []string `json:"frames"`
	View      any      `json:"view,omitempty"`
}

func toBoxAnswer(id string, a bleproxy.Answer) boxAnswer {
	out := boxAnswer{SessionID: id, Frames: make([]string, len(a.Frames))}
	for i, f := range a.Frames {
		out.Frames[i] = base64.StdEncoding.EncodeToString(f)
	}
	if len(a.View) > 0 {
		out.View = a.View
	}
	return out
}

type openBoxRequest struct {
	Hello string `json:"hello"`
}

// openBoxSession opens a box session from the box's HELLO: the answer
// carries the SESSION frame and READ_CARD, for the phone to write to the
// box in order.
func (h *handler) openBoxSession(c *gin.Context) {
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
	// Every HELLO, genuine or not, costs a row in the box record: a user
	// opens only so many sessions, and a box only so many for users it
	// has not opened one for before (its owner is not locked out by
	// strangers sending HELLOs with its id). A frame too short to name its
	// box is left to Open to refuse.
	ctx := c.Request.Context()
	uid := session(c).UserID
	if err := h.limit(c, h.BoxOpenLimit, "box_open_user", errBoxOpenRate, userSubject(uid)); err != nil {
		writeError(c, err)
		return
	}
	box := ""
	if f, err := bleproxy.ParseFrame(hello); err == nil && h.BoxUsers != nil {
		box = strings.ToUpper(f.BoxID.String())
		known, err := h.BoxUsers.Has(ctx, box, userSubject(uid))
		if err != nil {
			writeError(c, err)
			return
		}
		if !known {
			if err := h.limit(c, h.BoxOpenLimit, "box_open_box", errBoxOpenRate, "box:"+box); err != nil {
				writeError(c, err)
				return
			}
		}
	}
	id, ans, err := h.Cards.Open(ctx, uid, hello)
	if err != nil {
		writeError(c, err)
		return
	}
	if box != "" {
		if err := h.BoxUsers.Add(ctx, box, userSubject(uid)); err != nil {
			logFrom(c).WarnContext(ctx, "box user not remembered", slog.String("err", err.Error()))
		}
	}
	c.JSON(http.StatusCreated, toBoxAnswer(id, ans))
}

var boxSessionID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func boxSession(c *gin.Context) (string, error) {
	id := c.Param("id")
	if !boxSessionID.MatchString(id) {
		return "", errUnknownBoxSession
	}
	return id, nil
}

type frameRequest struct {
	Frame string `json:"frame"`
}

// frameOf parses a relayed frame's request, the box's and the kiosk's
// alike: the session id in the path and the frame in the body. On a bad
// request it has answered, and reports false.
func frameOf(c *gin.Context) (string, []byte, bool) {
	id, err := boxSession(c)
	if err != nil {
		writeError(c, err)
		return "", nil, false
	}
	var req frameRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return "", nil, false
	}
	frame, err := decodeFrame(req.Frame)
	if err != nil {
		writeError(c, err)
		return "", nil, false
	}
	return id, frame, true
}

// relayBoxFrame takes a frame the box sent and answers the server's next
// frames and what happened.
func (h *handler) relayBoxFrame(c *gin.Context) {
	id, frame, ok := frameOf(c)
	if !ok {
		return
	}
	ans, err := h.Cards.Frame(c.Request.Context(), session(c).UserID, id, frame)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toBoxAnswer("", ans))
}

// readBoxCard asks the box to read its card again.
func (h *handler) readBoxCard(c *gin.Context) {
	id, err := boxSession(c)
	if err != nil {
		writeError(c, err)
		return
	}
	ans, err := h.Cards.Read(c.Request.Context(), session(c).UserID, id)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toBoxAnswer("", ans))
}

type writeRequest struct {
	OrderNo string `json:"order_no"`
}

// writeBoxCard answers the WRITE_CARD that delivers a paid purchase to the
// card just read.
func (h *handler) writeBoxCard(c *gin.Context) {
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
	ans, err := h.Cards.Write(c.Request.Context(), session(c).UserID, id, req.OrderNo)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toBoxAnswer("", ans))
}

type boxEventResponse struct {
	ID         int64     `json:"id"`
	BoxID      string    `json:"box_id"`
	SessionID  string    `json:"session_id,omitempty"`
	UserID     *int64    `json:"user_id,omitempty"`
	Kind       string    `json:"kind"`
	OrderNo    *string   `json:"order_no,omitempty"`
	CardSerial *string   `json:"card_serial,omitempty"`
	Detail     string    `json:"detail"`
	CreatedAt  time.Time `json:"created_at"`
}

var hexFilter = regexp.MustCompile(`^[0-9A-Fa-f]{16}$`)

// adminBoxEvents lists the boxes' record, filtered by box, session, order
// or card.
func (h *handler) adminBoxEvents(c *gin.Context) {
	f := cards.EventFilter{BoxID: strings.ToUpper(c.Query("box_id")), SessionID: c.Query("session_id"),
		OrderNo: c.Query("order_no"), CardSerial: strings.ToUpper(c.Query("card_serial"))}
	if (f.BoxID != "" && !hexFilter.MatchString(f.BoxID)) || (f.CardSerial != "" && !hexFilter.MatchString(f.CardSerial)) ||
		(f.SessionID != "" && !boxSessionID.MatchString(f.SessionID)) || (f.OrderNo != "" && !validOrderNo(f.OrderNo)) {
		writeError(c, badRequest("invalid_filter", "box_id and card_serial are 16 hex digits, session_id 32, order_no an order number."))
		return
	}
	h.Cards.Recorder().Flush(c.Request.Context())
	list, err := h.Cards.Events(c.Request.Context(), f, 200)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]boxEventResponse, len(list))
	for i, e := range list {
		out[i] = boxEventResponse{ID: e.ID, BoxID: e.BoxID, SessionID: e.SessionID, UserID: e.UserID, Kind: e.Kind,
			OrderNo: e.OrderNo, CardSerial: e.CardSerial, Detail: e.Detail, CreatedAt: e.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"events": out})
}
