// Command paybench measures the payment path of a whole gaspay server:
// orders per second (each with its WeChat Pay prepay round trip to the
// sandbox's fake, real RSA signatures both ways) and notifications per
// second (each verified, decrypted and taken exactly once), against the
// RSA-signing bound measured in the same run.
//
// It assembles the server in-process on a loopback listener, with the
// storage GASPAY_MYSQL_DSN and GASPAY_REDIS_URL name (embedded defaults
// otherwise) and the sandbox WeChat and WeChat Pay, seeds its own accounts
// and customers, and drives it over HTTP like clients would.
// Notifications are signed ahead of time, as WeChat Pay signs them on its
// own machines, so that only the server's work is measured.
//
//	GASPAY_MYSQL_DSN='root@tcp(127.0.0.1:3306)/gaspay_bench' \
//	GASPAY_REDIS_URL='redis://127.0.0.1:6379/2' \
//	go run ./cmd/paybench -orders 8000 -c 16
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
		fmt.Fprintln(os.Stderr, "paybench:", err)
		os.Exit(1)
	}
}
