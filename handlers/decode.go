package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
		return badRequest("invalid_json", "The request body could not be read.")
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
		return badRequest("invalid_json", "The body must be one JSON object.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("invalid_json", "The body must be one JSON object.")
	}
	return nil
}

// jsonProblem explains a decoding error without echoing the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("The body is not valid JSON (at byte %d).", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("Field %q has the wrong type.", te.Field)
	case errors.Is(err, io.EOF):
		return "The body is empty."
	}
	const unknown = "json: unknown field "
	if msg := err.Error(); len(msg) > len(unknown) && msg[:len(unknown)] == unknown {
		name := msg[len(unknown):]
		if len(name) > 66 {
			name = name[:66] + "…"
		}
		return "Unknown field " + name + "."
	}
	return "The body is not valid JSON."
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
