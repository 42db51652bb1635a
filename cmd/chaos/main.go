// Command chaos is gaspay's fault-injection suite. It starts its own
// MariaDB (port 3307, datadir under -dir) and Redis (6380), the providers
// (fake WeChat, WeChat Pay, Alipay) in a process of their own, and N
// gaspay replicas behind a round-robin proxy in the driver. It drives
// purchases on every channel (WeChat mini-program and official account,
// Alipay WAP and mini-program, collection partners, IC cards through
// recharge boxes, IoT meters) and staff refunds,
// while killing replicas with SIGKILL and restarting Redis and MariaDB.
// Afterwards it checks the ledger's invariants in SQL and prints each with
// its count; any non-zero count fails the run.
//
//	go run ./cmd/chaos -short     # CI: 2 replicas, a few hundred purchases, a handful of faults
//	go run ./cmd/chaos -purchases 3000 -kills 40 -redis-restarts 6 -mysql-restarts 4
//
// It never touches the machine's shared MariaDB or Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "providers" {
		if err := runProviders(os.Args[2], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "chaos providers:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

// options of a run.
type options struct {
	dir            string
	replicas       int
	purchases      int
	workers        int
	boxWorkers     int
	kills          int
	redisRestarts  int
	mysqlRestarts  int
	faultEvery     time.Duration
	settle         time.Duration
	keep           bool
	abandonPercent int
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	var o options
	short := fs.Bool("short", false, "the CI form: 2 replicas, 400 purchases, 6 kills, 1 Redis and 1 MariaDB restart")
	fs.StringVar(&o.dir, "dir", "/tmp/gaspay-chaos", "working directory (MariaDB datadir, logs, binaries)")
	fs.IntVar(&o.replicas, "replicas", 3, "gaspay replicas")
	fs.IntVar(&o.purchases, "purchases", 2000, "purchases to attempt")
	fs.IntVar(&o.workers, "workers", 12, "concurrent customers and partners")
	fs.IntVar(&o.boxWorkers, "boxes", 4, "concurrent recharge boxes, each with an IC card and its meter")
	fs.IntVar(&o.kills, "kills", 30, "replica SIGKILLs")
	fs.IntVar(&o.redisRestarts, "redis-restarts", 5, "Redis restarts (its data lost)")
	fs.IntVar(&o.mysqlRestarts, "mysql-restarts", 3, "MariaDB SIGKILLs and restarts")
	fs.DurationVar(&o.faultEvery, "fault-every", 1500*time.Millisecond, "mean time between faults")
	fs.DurationVar(&o.settle, "settle", 60*time.Second, "longest wait for the janitor and providers to settle")
	fs.BoolVar(&o.keep, "keep", false, "leave the servers running at the end")
	fs.IntVar(&o.abandonPercent, "abandon", 10, "percent of orders left unpaid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *short {
		o.replicas, o.purchases, o.workers, o.kills, o.redisRestarts, o.mysqlRestarts = 2, 400, 8, 6, 1, 1
		o.faultEvery, o.settle, o.boxWorkers = 700*time.Millisecond, 40*time.Second, 2
	}
	if o.replicas < 1 || o.purchases < 1 || o.workers < 1 {
		return errors.New("-replicas, -purchases and -workers must be positive")
	}
	if o.boxWorkers > cardAccounts {
		return fmt.Errorf("at most %d boxes", cardAccounts)
	}
	start := time.Now()
	w, err := newWorld(ctx, o, stdout)
	if err != nil {
		return err
	}
	if !o.keep {
		defer w.close()
	}
	rep, err := w.drive(ctx)
	if err != nil {
		return err
	}
	failed, err := w.check(ctx, rep, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run took %s\n", time.Since(start).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d invariants broken", failed)
	}
	return nil
}
