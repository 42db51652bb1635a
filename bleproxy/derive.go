package bleproxy

// DeriveLabeled returns HMAC16(M, label || id): the key derivation of the
// box protocol offered to the other protocols that share its primitives
// (the NB-IoT meter protocol of docs/meter-protocol.md derives its
// per-meter keys with it, under a master key of its own). It panics if m is
// the zero MasterKey.
func DeriveLabeled(m MasterKey, label string, id []byte) Key {
	return hmac16(m.bytes(), []byte(label), id)
}
