// Command loadgen drives a running gaspay server over HTTP, as many
// customers at once, and reports throughput and latency percentiles. It
// needs the server's sandbox WeChat (for "test:<name>" logins) and its demo
// accounts; storage may be anything, and BENCHMARKS.md runs it on MariaDB
// and Redis.
//
//	loadgen -url http://127.0.0.1:8080 -scenario accounts -c 32 -d 20s
//
// Scenarios:
//
//	accounts  GET /api/accounts/:id with a session token (after logging in
//	          and binding a demo account for every simulated customer)
//	login     POST /api/mp/login with a fresh sandbox code each time
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

	"gaspay/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server origin")
	scenario := fs.String("scenario", "accounts", "accounts or login")
	conc := fs.Int("c", 32, "concurrent customers")
	dur := fs.Duration("d", 20*time.Second, "duration of the measured run")
	warm := fs.Duration("warmup", 3*time.Second, "unmeasured warm-up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := newClient(*base, *conc)
	var work func(ctx context.Context, worker int) error
	switch *scenario {
	case "accounts":
		w, err := accountsScenario(ctx, c, *conc)
		if err != nil {
			return err
		}
		work = w
	case "login":
		work = loginScenario(c)
	default:
		return errors.New("unknown scenario " + *scenario)
	}
	if *warm > 0 {
		loadtest.For(ctx, *conc, *warm, work)
	}
	st := loadtest.For(ctx, *conc, *dur, work)
	fmt.Fprintf(stdout, "scenario %s, %d concurrent, %s\n%s\n", *scenario, *conc, *dur, st)
	if st.Errors > 0 {
		return fmt.Errorf("%d requests failed; first: %v", st.Errors, st.FirstErr)
	}
	return nil
}
