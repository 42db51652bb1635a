// Command gaspay is the gas utility's payment server and its one-shot tools.
//
//	gaspay                       run the server (also: gaspay serve)
//	gaspay migrate               apply the database migrations and exit
//	gaspay import accounts F.csv import accounts from the billing system
//	gaspay partner add --id ID --key-file FILE
//	gaspay partner reconcile --id ID --date YYYY-MM-DD [--out FILE]
//	gaspay partner check --id ID --date YYYY-MM-DD FILE
//	gaspay iot device --meter NUMBER --device DEVICE_ID
//	gaspay kiosk add --id ID --key-file FILE [--box-id HEX]
//	gaspay kiosk disable --id ID
//	gaspay reconcile --provider wechat|alipay --date YYYY-MM-DD
//	gaspay import bills|readings FILE.csv, gaspay import resume
//	gaspay staff add|disable|reset-password --name NAME …
//
// With no configuration it runs on embedded defaults: an SQLite file under
// ./data, an in-process Redis and sandbox providers. See README.md for the
// GASPAY_* settings.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gaspay/app"
	"gaspay/config"
	"gaspay/console"
	"gaspay/handlers"
	"gaspay/internal/beijing"
	"gaspay/logging"
	"gaspay/models"
	"gaspay/rediskv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gaspay:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  gaspay [serve]                  run the server
  gaspay migrate                  apply the database migrations
  gaspay import accounts FILE.csv import accounts from the billing system
  gaspay partner add --id ID --key-file FILE [--name NAME]
                                  add a collection partner, or give it a new key
  gaspay partner reconcile --id ID --date YYYY-MM-DD [--out FILE]
                                  write the partner's reconciliation file of a day
  gaspay partner check --id ID --date YYYY-MM-DD FILE
                                  compare the partner's own file with ours
  gaspay iot device --meter NUMBER --device DEVICE_ID
                                  record an IoT meter's device id at the meter platform
  gaspay reconcile --provider wechat|alipay --date YYYY-MM-DD
                                  reconcile a provider's bill of a day; exit 1 while differences stay open
  gaspay import bills FILE.csv    import bills (user_number,period,amount_fen,due_date)
  gaspay import readings FILE.csv import meter readings (meter_number,read_at,reading_centi_m3)
  gaspay import resume            finish imports a crash left half applied
  gaspay staff add --name NAME --role ROLE --password-file FILE [--totp]
  gaspay staff disable --name NAME
  gaspay staff reset-password --name NAME --password-file FILE
  gaspay kiosk add --id ID --key-file FILE [--box-id HEX]
                                  register a self-service kiosk and its card reader, or re-key it
  gaspay kiosk disable --id ID    stop a kiosk`

// run is main without the process: arguments, environment and output are
// passed in, so tests can run it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := logging.New(stderr, cfg.LogLevel)
	// go-redis logs reconnects through a package variable of its own:
	// send those lines through slog, so that stderr stays JSON.
	rediskv.RouteLogs(log)
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, stdout)
	case "migrate":
		return migrate(ctx, cfg, log, stdout)
	case "import":
		switch {
		case len(args) == 1 && args[0] == "resume":
			return importData(ctx, cfg, log, "resume", "", stdout)
		case len(args) == 2 && (args[0] == "bills" || args[0] == "readings"):
			return importData(ctx, cfg, log, args[0], args[1], stdout)
		case len(args) != 2 || args[0] != "accounts":
			return errors.New(usage)
		}
		return importAccounts(ctx, cfg, log, args[1], stdout)
	case "staff":
		return staffCmd(ctx, cfg, log, args, stdout)
	case "partner":
		return partnerCmd(ctx, cfg, log, args, stdout)
	case "iot":
		return iotCmd(ctx, cfg, log, args, stdout)
	case "kiosk":
		return kioskCmd(ctx, cfg, log, args, stdout)
	case "reconcile":
		return reconcileCmd(ctx, cfg, log, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	log.InfoContext(ctx, "configuration", cfg.LogAttrs()...)
	if len(cfg.TrustedProxies) == 0 {
		log.WarnContext(ctx, "no GASPAY_TRUSTED_PROXIES: clients are counted by the address that connects; "+
			"behind a load balancer every customer shares its address and its binding limit")
	}
	a, err := app.New(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := handlers.Server(cfg.Addr, a.Handler)
	fmt.Fprintf(stdout, "gaspay listening on %s (%s)\n", cfg.PublicURL, a.Describe())
	fmt.Fprintf(stdout, "service hall (服务大厅): %s/h5/\n", cfg.PublicURL)
	if parts := cfg.EmbeddedParts(); len(parts) > 0 {
		fmt.Fprintf(stdout, "embedded defaults in use (not for production):\n")
		for _, p := range parts {
			fmt.Fprintf(stdout, "  - %s\n", p)
		}
	}
	if !cfg.AdminToken.IsSet() {
		fmt.Fprintf(stdout, "staff token for this run (set GASPAY_ADMIN_TOKEN to choose one): %s\n", a.AdminToken)
	}
	log.InfoContext(ctx, "listening", slog.String("addr", ln.Addr().String()), slog.String("env", cfg.Env))

	// The janitor runs until the server stops.
	bg, stopBG := context.WithCancel(ctx)
	bgDone := make(chan struct{})
	go func() { defer close(bgDone); a.Run(bg) }()
	defer func() { stopBG(); <-bgDone }()

	// Prometheus on a listener of its own (the monitoring network), when
	// configured; it is also a staff route on the main listener.
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.Metrics.Handler())
		msrv := handlers.Server(cfg.MetricsAddr, mux)
		go msrv.Serve(mln)
		defer msrv.Close()
		log.InfoContext(ctx, "metrics listening", slog.String("addr", mln.Addr().String()))
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop taking requests, let those in flight finish.
	log.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openStore opens the configured database with its schema brought up to
// date: what every administrative command starts with.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*models.Store, error) {
	store, err := models.Open(cfg.MySQLDSN.Reveal(), cfg.SQLitePath(), log)
	if err != nil {
		return nil, err
	}
	if _, err := models.Migrate(ctx, store.DB()); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

func migrate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	store, err := models.Open(cfg.MySQLDSN.Reveal(), cfg.SQLitePath(), log)
	if err != nil {
		return err
	}
	defer store.Close()
	applied, err := models.Migrate(ctx, store.DB())
	if err != nil {
		return err
	}
	v, err := models.SchemaVersion(ctx, store.DB())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migrations; schema at version %d\n", len(applied), v)
	return nil
}

func importAccounts(ctx context.Context, cfg config.Config, log *slog.Logger, path string, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	store, err := models.Open(cfg.MySQLDSN.Reveal(), cfg.SQLitePath(), log)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := models.Migrate(ctx, store.DB()); err != nil {
		return err
	}
	start := time.Now()
	// Import needs neither Redis nor WeChat. Staged, then applied in short
	// batches: payments go on while it runs.
	svc := console.NewService(store, nil, console.Config{Location: beijing.Location()}, log)
	res, err := svc.ImportAccounts(ctx, cliActor(), path, f)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "imported %s: %d created, %d updated in %s (import %d)\n", path, res.Created, res.Updated,
		time.Since(start).Round(time.Millisecond), res.Import.ID)
	return nil
}
