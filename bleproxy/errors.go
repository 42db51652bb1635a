package bleproxy

import "errors"

// Sentinel errors. Functions wrap them with context (fmt.Errorf("%w: ...")),
// so test with errors.Is, never by comparing messages.
var (
	// ErrShortFrame: fewer bytes than a frame header (18).
	ErrShortFrame = errors.New("bleproxy: frame shorter than its header")
	// ErrFrameTooLarge: a frame, or a frame being built, over MaxFrameSize.
	ErrFrameTooLarge = errors.New("bleproxy: frame too large")
	// ErrBadMagic: the frame does not start with "GB".
	ErrBadMagic = errors.New("bleproxy: bad frame magic")
	// ErrBadVersion: the frame's protocol version is not 1.
	ErrBadVersion = errors.New("bleproxy: unsupported protocol version")
	// ErrBadLength: the header's body length differs from the bytes that follow.
	ErrBadLength = errors.New("bleproxy: body length does not match header")
	// ErrUnknownType: a frame type that version 1 does not define.
	ErrUnknownType = errors.New("bleproxy: unknown frame type")
	// ErrUnexpectedType: a known frame type where it is not allowed: the
	// wrong direction, plain where sealed is required or the reverse, or not
	// expected in the current state.
	ErrUnexpectedType = errors.New("bleproxy: unexpected frame type")
	// ErrWrongBox: a frame whose box id is not the session's or the box's.
	ErrWrongBox = errors.New("bleproxy: frame for another box")
	// ErrBadMAC: a HELLO or SESSION mac, or a sealed frame's GCM tag, does
	// not verify. The frame may have been tampered with, belong to another
	// session, or have been built with another key.
	ErrBadMAC = errors.New("bleproxy: authentication failed")
	// ErrCounter: a counter that is not the next one expected. Errors that
	// match ErrReplay or ErrCounterGap also match ErrCounter.
	ErrCounter = errors.New("bleproxy: unexpected counter")
	// ErrReplay: a counter at or below the last one accepted (a replayed or
	// reordered frame, or a HELLO counter not above the stored one).
	ErrReplay error = &counterError{"bleproxy: replayed counter"}
	// ErrCounterGap: a counter beyond the next one (a frame was lost or
	// dropped; the session cannot continue in that direction).
	ErrCounterGap error = &counterError{"bleproxy: counter skipped ahead"}
	// ErrCounterExhausted: a counter cannot advance past 2^32-1.
	ErrCounterExhausted error = &counterError{"bleproxy: counter exhausted"}
	// ErrBadBody: a body that is malformed for its frame type (length,
	// status, UTF-8...). From Session.OpenMessage it means the frame was
	// authentic and has been consumed.
	ErrBadBody = errors.New("bleproxy: malformed body")
	// ErrBadCardImage: a card image whose fields are invalid.
	ErrBadCardImage = errors.New("bleproxy: malformed card image")
	// ErrBadCardMAC: a card image whose MAC does not verify under K_card:
	// the card was not written by us, or is damaged.
	ErrBadCardMAC = errors.New("bleproxy: card image mac does not verify")
	// ErrCardPending: a new purchase was asked of a card whose latest
	// purchase has not been loaded into the meter yet; the customer must
	// insert the card into the meter first.
	ErrCardPending = errors.New("bleproxy: card still carries credit the meter has not taken")
	// ErrBadKey: key material of the wrong size or form. The message never
	// contains the material.
	ErrBadKey = errors.New("bleproxy: bad key")
	// ErrBadNonce: a server nonce that is all zeros, i.e. never filled in.
	ErrBadNonce = errors.New("bleproxy: bad nonce")
	// ErrBadID: a box id, card serial or write id that is not the right
	// number of hex digits.
	ErrBadID = errors.New("bleproxy: bad identifier")
	// ErrBadSession: a Session value that is not usable (zero role, bad
	// binary encoding).
	ErrBadSession = errors.New("bleproxy: bad session")
	// ErrNoSession: the Box has no established session.
	ErrNoSession = errors.New("bleproxy: no session")
	// ErrReplyLost: the Box completed an operation and sealed its reply, but
	// an injected fault lost it (FaultLoseReply).
	ErrReplyLost = errors.New("bleproxy: reply lost")
	// ErrWrongCard: the Meter was given a card that is not paired with it.
	ErrWrongCard = errors.New("bleproxy: card not paired with this meter")
	// ErrNotPending: the Meter was given a card whose state is not "credit
	// pending load": there is nothing to load.
	ErrNotPending = errors.New("bleproxy: card has no pending credit")
	// ErrSequence: the Meter was given a purchase that is not the next one
	// (an image already loaded, or a purchase skipped).
	ErrSequence = errors.New("bleproxy: purchase is not the next sequence")
	// ErrMeterOverflow: loading the credit would overflow the meter.
	ErrMeterOverflow = errors.New("bleproxy: credit would overflow the meter")
)

// counterError lets the specific counter errors also match ErrCounter, so a
// caller can treat "any counter problem" alike and still tell them apart.
type counterError struct{ msg string }

func (e *counterError) Error() string { return e.msg }

func (e *counterError) Is(target error) bool { return target == ErrCounter }
