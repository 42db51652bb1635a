// Command boxsim is a recharge box, an IC card and a gas meter, driven
// against a running gaspay server the way the mini-program drives a real
// box: it logs in through the sandbox, binds the card's account, opens a
// box session, reads the card, buys and pays (sandbox WeChat Pay), writes
// the card, and inserts it into the meter.
//
//	go run ./cmd/boxsim                       # a complete purchase of 100 m3
//	go run ./cmd/boxsim -fault lose           # the write's answer is lost; a new session recovers it
//	go run ./cmd/boxsim -fault pull           # the card is pulled mid-write; run again to write it free
//	go run ./cmd/boxsim -fault hold -admin-token T
//	                                          # the phone keeps the WRITE_CARD back: no refund while
//	                                          # the box's session lives, then the late write delivers
//	go run ./cmd/boxsim -fault hold-new-session -admin-token T
//	                                          # the box reconnects first: refund, and the held frame
//	                                          # reaches nothing
//	go run ./cmd/boxsim -fault wrong-key      # a box the server cannot authenticate
//	go run ./cmd/boxsim -fault tamper         # a card image altered without the card key
//
// The box's HELLO counter, the card and the meter are kept in a state file
// (default data/boxsim.json, beside the server's embedded database), so runs
// continue where the last one stopped.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "boxsim:", err)
		os.Exit(1)
	}
}
