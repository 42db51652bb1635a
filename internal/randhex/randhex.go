// Package randhex makes random identifiers, nonces and keys as hex: the one
// owner of "n bytes from crypto/rand, hex-encoded". It imports nothing of
// gaspay's, so the provider packages and their fakes may use it too.
package randhex

import (
	"crypto/rand"
	"encoding/hex"
)

// New is n random bytes as 2n lower-case hex digits. crypto/rand.Read does
// not fail on supported platforms (since Go 1.24 it crashes the program
// instead of returning an error), so neither does New.
func New(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
