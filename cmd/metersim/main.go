// Command metersim plays NB-IoT gas meters against the sandbox meter
// platform of a running gaspay server (its /sandbox/ctwing device side),
// speaking the meter protocol of docs/meter-protocol.md with keys derived
// from the sandbox meter master key.
//
//	go run ./cmd/metersim -url http://127.0.0.1:8080 demo 20231100001
//	        # a whole IoT recharge: log in, bind, pay 100.00 yuan in the sandbox,
//	        # press the meter's button, see the balance change and the message arrive
//	go run ./cmd/metersim press 20231100001    # the 5-second button: report now, take cached commands
//	go run ./cmd/metersim report 20231100001   # the daily scheduled report
//	go run ./cmd/metersim use 20231100001 500  # draw 5.00 m3 (3.00 yuan/m3); the valve closes at zero
//
// Faults, with press: -fault lose-ack (the meter applies but its
// acknowledgement is lost: the platform hands the command again),
// -fault twice (the command arrives twice), -fault offline (the meter
// wakes after the command's validity: it answers expired and the server
// resends), -fault tamper (the command is altered on the way: refused),
// -fault reject (the meter refuses the recharge: its balance ceiling).
//
// Each meter's counter, last applied purchase, balance and valve are kept in
// a state file (default data/metersim.json), so runs continue.
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "metersim:", err)
		os.Exit(1)
	}
}
