// Package handlers is gaspay's HTTP surface: every route in one function
// (New), request and response types apart from the models, validation at the
// boundary, and one error mapper (writeError) that turns domain errors into
// {"code", "message"} answers. A 500 says "internal" and nothing else; its
// cause goes to the log with the request id.
package handlers
