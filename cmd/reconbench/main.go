// Command reconbench measures one day's reconciliation of a long WeChat Pay
// bill: the time it takes and the peak memory of the process that does it.
//
// The parent process seeds an empty database with N paid orders of one day
// and a fake WeChat Pay (in its own memory) with the same N payments, three
// of them with another amount in the bill (and, with -omit, one left out of
// it, so that the run also searches gaspay's side line by line), then
// starts itself again as the child that reconciles: downloads the gzipped
// bill, checks its SHA1, and matches it against the database. The child
// reports its elapsed time and its peak resident memory (VmHWM), so that
// the fake's copy of the bill counts for nothing.
//
//	mysql -uroot -e 'CREATE DATABASE gaspay_reconbench'
//	GASPAY_MYSQL_DSN='root@tcp(127.0.0.1:3306)/gaspay_reconbench' go run ./cmd/reconbench -lines 200000
//
// Without GASPAY_MYSQL_DSN it runs on an SQLite file in a temporary
// directory.
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
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "reconbench:", err)
		os.Exit(1)
	}
}
