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
	"gaspay/internal/beijing"
	"gaspay/models"
	"gaspay/partner"
	"gaspay/recharge"
)

func partnerCmd(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("partner "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	id := fs.String("id", "", "partner id")
	keyFile := fs.String("key-file", "", "file holding the shared secret")
	name := fs.String("name", "", "the partner's name")
	date := fs.String("date", "", "day, YYYY-MM-DD")
	out := fs.String("out", "", "write the file here instead of standard output")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if !partner.ValidID(*id) {
		return errors.New("--id: 2 to 32 letters, digits and hyphens")
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	switch sub {
	case "add":
		return addPartner(ctx, store, *id, *name, *keyFile, stdout)
	case "reconcile", "check":
		day, err := time.ParseInLocation(time.DateOnly, *date, beijing.Location())
		if err != nil {
			return errors.New("--date: YYYY-MM-DD")
		}
		if _, err := store.PartnerByID(ctx, *id); err != nil {
			return fmt.Errorf("partner %s: %w", *id, err)
		}
		lines, err := recharge.PartnerDay(ctx, store, beijing.Location(), *id, day)
		if err != nil {
			return err
		}
		if sub == "reconcile" {
			return writeReconciliation(lines, *out, stdout)
		}
		if fs.NArg() != 1 {
			return errors.New("partner check: name the partner's file")
		}
		return checkReconciliation(lines, fs.Arg(0), stdout)
	}
	return fmt.Errorf("unknown partner command %q\n%s", sub, usage)
}

// addPartner stores a partner with the key in keyFile: its bytes with the
// surrounding white space trimmed.
func addPartner(ctx context.Context, store *models.Store, id, name, keyFile string, stdout io.Writer) error {
	if keyFile == "" {
		return errors.New("--key-file is required")
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	key := strings.TrimSpace(string(b))
	if len(key) < 16 {
		return errors.New("the key must be at least 16 bytes")
	}
	if name == "" {
		name = id
	}
	now := time.Now().UTC()
	if err := store.SavePartner(ctx, &models.Partner{PartnerID: id, Name: name, Secret: key, Active: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "partner %s saved; its requests are signed with the key from %s\n", id, keyFile)
	return nil
}

func writeReconciliation(lines []recharge.PartnerLine, out string, stdout io.Writer) error {
	w := stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	return partner.WriteFile(w, lines, beijing.Location())
}

func checkReconciliation(lines []recharge.PartnerLine, file string, stdout io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	diffs, err := partner.Compare(lines, f)
	if err != nil {
		return err
	}
	if len(diffs) == 0 {
		fmt.Fprintf(stdout, "%s agrees with gaspay: %d payments\n", file, len(lines))
		return nil
	}
	for _, d := range diffs {
		if d.Serial != "" {
			fmt.Fprintf(stdout, "%s: %s\n", d.Serial, d.What)
		} else {
			fmt.Fprintln(stdout, d.What)
		}
	}
	return fmt.Errorf("%d differences", len(diffs))
}
