package iot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gaspay/iot/ctwing"
)

// CommandState is where a platform says a command is.
type CommandState string

// Command states, the platform's words mapped to ours.
const (
	CmdSaved     CommandState = "saved"     // cached, waiting for the device to wake
	CmdSent      CommandState = "sent"      // handed to the device, not acknowledged
	CmdDelivered CommandState = "delivered" // the device acknowledged it
	CmdCompleted CommandState = "completed" // the device answered it
	CmdFailed    CommandState = "failed"
	CmdExpired   CommandState = "expired" // its TTL passed undelivered
	CmdCancelled CommandState = "cancelled"
)

// Waiting reports whether the platform may still hand the command to the
// device.
func (s CommandState) Waiting() bool { return s == CmdSaved || s == CmdSent }

// Reached reports whether the device acknowledged the command.
func (s CommandState) Reached() bool { return s == CmdDelivered || s == CmdCompleted }

// Errors of a platform; test them with errors.Is.
var (
	// ErrUnknownOutcome: the platform's answer was lost; the command may
	// be cached.
	ErrUnknownOutcome = errors.New("iot: platform outcome unknown")
	// ErrPlatformRefused: the platform answered and refused.
	ErrPlatformRefused = errors.New("iot: platform refused")
)

// PushKind is what a platform push says.
type PushKind int

// Push kinds.
const (
	PushReport PushKind = iota + 1
	PushCommandResponse
	PushOnline
	PushOffline
)

// Push is a platform push, untrusted: a report's payload is believed only
// once the meter's key authenticates it, a command response only once
// Query confirms it.
type Push struct {
	Kind      PushKind
	DeviceID  string
	Payload   []byte // PushReport
	CommandID string // PushCommandResponse
	At        time.Time
}

// Platform is the meter platform port: the domain's whole view of CTWing
// (or OneNET, OceanConnect, …).
type Platform interface {
	// Send caches a command for the device for ttl; ref names our delivery
	// in the platform's records. It returns the platform's command id.
	// Errors: ErrUnknownOutcome, ErrPlatformRefused.
	Send(ctx context.Context, deviceID string, payload []byte, ttl time.Duration, ref string) (string, error)
	// Query asks where a command is.
	Query(ctx context.Context, deviceID, commandID string) (CommandState, error)
	// Cancel asks the platform to drop a command it has not delivered.
	// Errors: ErrPlatformRefused when it cannot (delivered, expired).
	Cancel(ctx context.Context, deviceID, commandID string) error
	// ParsePush reads a push body.
	ParsePush(body []byte) (Push, error)
}

// CTWing adapts the CTWing AEP client to the port.
type CTWing struct{ C *ctwing.Client }

var ctwingStates = map[string]CommandState{
	ctwing.StatusSaved: CmdSaved, ctwing.StatusSent: CmdSent, ctwing.StatusDelivered: CmdDelivered,
	ctwing.StatusCompleted: CmdCompleted, ctwing.StatusFailed: CmdFailed, ctwing.StatusExpired: CmdExpired,
	ctwing.StatusCancelled: CmdCancelled,
}

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ctwing.ErrRefused):
		return fmt.Errorf("%w: %w", ErrPlatformRefused, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
}

// Send implements Platform.
func (p CTWing) Send(ctx context.Context, deviceID string, payload []byte, ttl time.Duration, ref string) (string, error) {
	c, err := p.C.CreateCommand(ctx, deviceID, payload, ttl, ref)
	if err != nil {
		return "", mapErr(err)
	}
	if c.CommandID == "" {
		return "", fmt.Errorf("%w: no commandId", ErrUnknownOutcome)
	}
	return c.CommandID, nil
}

// Query implements Platform.
func (p CTWing) Query(ctx context.Context, deviceID, commandID string) (CommandState, error) {
	c, err := p.C.QueryCommand(ctx, deviceID, commandID)
	if err != nil {
		return "", mapErr(err)
	}
	st, ok := ctwingStates[c.CommandStatus]
	if !ok {
		return "", fmt.Errorf("%w: command status %q", ErrUnknownOutcome, c.CommandStatus)
	}
	return st, nil
}

// Cancel implements Platform.
func (p CTWing) Cancel(ctx context.Context, deviceID, commandID string) error {
	return mapErr(p.C.CancelCommand(ctx, deviceID, commandID))
}

// ParsePush implements Platform.
func (p CTWing) ParsePush(body []byte) (Push, error) {
	raw, payload, err := ctwing.ParsePush(body)
	if err != nil {
		return Push{}, err
	}
	out := Push{DeviceID: raw.DeviceID, At: time.UnixMilli(raw.Timestamp).UTC()}
	switch raw.MessageType {
	case ctwing.MessageDataReport:
		out.Kind, out.Payload = PushReport, payload
	case ctwing.MessageCommandResponse:
		if _, err := strconv.ParseInt(raw.TaskID.String(), 10, 64); err != nil && raw.TaskID == "" {
			return Push{}, errors.New("iot: command response without a task id")
		}
		out.Kind, out.CommandID = PushCommandResponse, raw.TaskID.String()
	case ctwing.MessageOnlineOffline:
		out.Kind = PushOffline
		if *raw.EventType == 1 {
			out.Kind = PushOnline
		}
	}
	return out, nil
}
