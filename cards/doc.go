// Package cards is IC-card purchases through the Bluetooth recharge box:
// what a card read means for its account, the card write that delivers a
// paid purchase, the recovery of writes that failed or whose result never
// came, and the record of every session, refusal and delivery.
//
// It is the Handler of bleproxy's relay, which keeps the protocol (keys,
// counters, sessions); this package keeps the rules of spec/box-protocol.md
// "Rules the server keeps": a card is accepted only if its MAC verifies and
// it is the current card of an account the reader has bound; a stale or
// lost card is refused; nothing is written over a card whose credit the
// meter has not taken; a write is a compare-and-swap against the image
// just read, with the account's last written sequence + 1; a purchase found
// already on the card is delivered, never written twice; and a write that
// fails or is never answered leaves the purchase paid and pending, offered
// again at the next read through any box, at no charge.
package cards
