package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// maxBody bounds every JSON request; none of ours needs more.
const maxBody = 64 << 10

// decodeJSON reads the request's JSON body into dst strictly: one object,
// no unknown fields, valid UTF-8, at most maxBody bytes.
//
// This stands in for gin's ShouldBindJSON, which can refuse unknown fields
// only through a package-wide switch and lets invalid UTF-8 through (Go's
// decoder silently replaces it with U+FFFD, which would then reach the
// database).
func decodeJSON(c *gin.Context, dst any) error {
	if c.ContentType() != "application/json" {
		return errNotJSON
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge
		}
		return badRequest("invalid_json", "无法读取提交的内容。")
	}
	if !utf8.Valid(body) {
		return errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return badRequest("invalid_json", jsonProblem(err))
	}
	if dec.More() {
		return badRequest("invalid_json", "提交的内容格式不正确。")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("invalid_json", "提交的内容格式不正确。")
	}
	return nil
}

// jsonProblem explains a decoding error without echoing the body, in the
// customer's words: a field is named by its JSON name only, never by the Go
// type that holds it (a decoder reports an embedded struct's field as
// "quoteRequest.amount_fen").
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("提交的内容不是有效的 JSON（第 %d 字节处）。", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("字段 %s 的类型不正确。", jsonFieldName(te.Field))
	case errors.Is(err, io.EOF):
		return "提交的内容为空。"
	}
	const unknown = "json: unknown field "
	if msg := err.Error(); len(msg) > len(unknown) && msg[:len(unknown)] == unknown {
		name := msg[len(unknown):]
		if len(name) > 66 {
			name = name[:66] + "…"
		}
		return "不认识的字段 " + name + "。"
	}
	return "提交的内容不是有效的 JSON。"
}

// jsonFieldName is the last element of a decoder's field path: the name
// the client sent. Our requests have no nested objects, so the elements
// before it can only be Go struct names.
func jsonFieldName(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if path == "" {
		return "（未知）"
	}
	return path
}

// pathID reads a positive integer path parameter.
func pathID(c *gin.Context, name string) (int64, error) {
	s := c.Param(name)
	if len(s) == 0 || len(s) > 15 {
		return 0, errInvalidID
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errInvalidID
	}
	return n, nil
}
