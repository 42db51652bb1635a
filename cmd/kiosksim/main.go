// Command kiosksim is a self-service kiosk (自助售气终端) driven against a
// running gaspay server: its card reader (a box model with an IC card),
// its screen (printed), its scanner (a payment code of the sandbox
// providers) and its receipt printer (stdout).
//
//	go run ./cmd/kiosksim -id K-0001 -key-file k.key              # a whole purchase, WeChat code
//	go run ./cmd/kiosksim ... -pay alipay -volume 1000             # 10 m3, Alipay code
//	go run ./cmd/kiosksim ... -fault timeout   # the customer never enters the password: reversed at 60 s
//	go run ./cmd/kiosksim ... -fault network   # the network drops after the scan: the kiosk asks again
//	go run ./cmd/kiosksim ... -fault syserror  # the provider answers "system error": the query finds it paid
//	go run ./cmd/kiosksim ... -fault pull      # the card is pulled mid-write: card not written
//	go run ./cmd/kiosksim ... -pay none        # read the card; a paid purchase waiting for it is written free
//	go run ./cmd/kiosksim ... -fault paper     # the printer is out of paper: reprinted by order number
//
// Register the kiosk first: gaspay kiosk add --id K-0001 --key-file k.key
// --box-id 4B00000000000001. The reader's HELLO counter and the card are
// kept in a state file (data/kiosksim.json by default).
//
// The last line is "order NO: paid|closed|reversed, card written|card not
// written" (or "card SERIAL: nothing waiting" with -pay none), and the exit
// status is 0 exactly when that is what the fault should produce.
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
		fmt.Fprintln(os.Stderr, "kiosksim:", err)
		os.Exit(1)
	}
}
