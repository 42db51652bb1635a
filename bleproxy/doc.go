// Package bleproxy implements version 1 of the protocol between the gaspay
// server and the Bluetooth recharge box (spec/box-protocol.md): the frame
// codec, key derivation, the HELLO/SESSION handshake, AES-GCM sealed frames
// with their per-direction counters, the typed bodies, the 64-byte IC card
// image with its MAC, and the relay (relay.go), the server's end of box
// sessions carried by phones. It also holds two models used by the box
// simulator and by tests: a Box, which plays the box's side of the protocol
// with injectable faults, and a Meter, which loads a card image exactly once.
//
// The relay keeps the protocol's promises: a HELLO opens a session only if
// its counter beats the highest one stored durably for the box; sealed
// frames are accepted only in order; the same frame bytes sent again get
// the same answer. It reaches storage and the business only through three
// interfaces it defines: KV (sessions under a lock, Redis through rediskv
// in production), HelloLedger (the highest HELLO counter per box, in the
// database) and Handler (what a message means: the card rules of package
// cards, which also serve the kiosks' readers).
//
// Apart from the relay's calls through those interfaces the package does no
// I/O: no clocks it was not given, no globals, no logging. Every function
// either returns a value or a wrapped sentinel error that callers can test
// with errors.Is.
//
// What the package deliberately is not:
//
//   - It does not know accounts, orders or credits: "Rules the server
//     keeps" of the spec are the Handler's (cards), and the HTTP routes the
//     phone calls are handlers' (box_handlers.go).
//   - It is not the BLE transport. Chunking frames into GATT writes is the
//     phone's business; the server only sees whole frames.
//   - It does not decide whether a card or box is acceptable to the
//     business: a verified MAC says the bytes are genuine, not that the card
//     is the account's current one or that the box is not blocked.
//
// Server side, in the order the relay uses it:
//
//	master, err := bleproxy.ParseMasterKey(secretHex)   // once, at start-up
//	hello, err := bleproxy.ParseFrame(wire)              // HELLO relayed by the phone
//	nonce, err := bleproxy.NewNonce(nil)
//	hs, err := bleproxy.ServerHandshake(master, hello, storedHelloCounter, nonce)
//	// compare-and-set hs.Hello.Counter, store hs.Session, answer hs.Reply
//	sess := hs.Session
//	f, err := sess.SealMessage(bleproxy.ReadCardBody{}) // READ_CARD
//	msg, err := sess.OpenMessage(cardFrame)              // CARD
//	img, kcard, err := bleproxy.OpenCardImage(master, msg.(bleproxy.CardBody).Image)
//
// Choices the spec leaves open are written down in docs/box-protocol-notes.md.
//
// Secrets (MasterKey, Key) print as "[redacted]" through fmt, slog and
// encoding/json; their bytes come out only when asked for explicitly (k[:],
// Key.Bytes, Session.MarshalBinary).
package bleproxy
