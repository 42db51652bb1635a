package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"gaspay/config"
	"gaspay/console"
	"gaspay/internal/beijing"
	"gaspay/rediskv"
	"gaspay/staff"
)

// cliActor is who the command line acts as in the audit trail.
func cliActor() staff.Actor {
	host, _ := os.Hostname()
	return staff.Actor{Name: staff.CLIActor, Role: staff.Admin, IP: "local:" + host, RequestID: ""}
}

// staffCmd adds, disables and resets the passwords of staff.
func staffCmd(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("staff "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "login name")
	role := fs.String("role", "", "viewer, operator, finance or admin")
	pwFile := fs.String("password-file", "", "file holding the password")
	totp := fs.Bool("totp", false, "give the staff member a TOTP second factor")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if !staff.ValidName(*name) {
		return errors.New("--name: 2 to 32 lower-case letters, digits, dots, dashes or underscores, starting with a letter")
	}
	readPassword := func() (string, error) {
		if *pwFile == "" {
			return "", errors.New("--password-file is required")
		}
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	// Disabling or resetting ends the staff member's sessions, which live
	// in the configured Redis (the in-process one dies with its server).
	var rdb *rediskv.Client
	if cfg.RedisURL.IsSet() {
		c, closeRedis, err := rediskv.Open(ctx, cfg.RedisURL.Reveal(), cfg.RedisPrefix)
		if err != nil {
			return err
		}
		defer closeRedis()
		rdb = c
	}
	svc := staff.NewService(store, rdb, staff.Config{Production: cfg.Production()}, log)
	switch sub {
	case "add":
		r, ok := staff.ParseRole(*role)
		if !ok {
			return errors.New("--role: viewer, operator, finance or admin")
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		added, err := svc.Add(ctx, cliActor(), *name, r, pw, *totp)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", *name, r)
		if added.TOTPSecret != "" {
			fmt.Fprintf(stdout, "TOTP secret (shown once; scan the URI into an authenticator app):\n  %s\n  %s\n", added.TOTPSecret, added.TOTPURI)
		}
		return nil
	case "disable":
		if err := svc.Disable(ctx, cliActor(), *name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled %s\n", *name)
		return nil
	case "reset-password":
		pw, err := readPassword()
		if err != nil {
			return err
		}
		if err := svc.ResetPassword(ctx, cliActor(), *name, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new password set for %s\n", *name)
		return nil
	}
	return fmt.Errorf("unknown staff command %q\n%s", sub, usage)
}

// importData imports bills or readings, or finishes imports a crash left
// half applied.
func importData(ctx context.Context, cfg config.Config, log *slog.Logger, kind, path string, stdout io.Writer) error {
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := console.NewService(store, nil, console.Config{Location: beijing.Location()}, log)
	if kind == "resume" {
		if err := svc.ResumeImports(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "every committed import is applied")
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	var res console.ImportResult
	if kind == "bills" {
		res, err = svc.ImportBills(ctx, cliActor(), path, f)
	} else {
		res, err = svc.ImportReadings(ctx, cliActor(), path, f)
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "imported %s: %d %s in %s (import %d)\n", path, res.Import.TotalRows, kind,
		time.Since(start).Round(time.Millisecond), res.Import.ID)
	return nil
}
