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

	"gaspay/bleproxy"
	"gaspay/config"
	"gaspay/kiosk"
	"gaspay/models"
)

// kioskCmd registers (add) or stops (disable) a self-service kiosk.
func kioskCmd(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("kiosk "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	id := fs.String("id", "", "kiosk id")
	keyFile := fs.String("key-file", "", "file holding the kiosk's HMAC key")
	boxHex := fs.String("box-id", "", "box id of the kiosk's card reader/writer, 16 hex digits")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if !kiosk.ValidID(*id) {
		return errors.New("--id: 2 to 30 letters, digits and hyphens")
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now().UTC()
	switch sub {
	case "add":
		if *keyFile == "" {
			return errors.New("--key-file is required")
		}
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		key := strings.TrimSpace(string(b))
		if len(key) < 16 {
			return errors.New("the key must be at least 16 bytes")
		}
		box := strings.ToUpper(*boxHex)
		if box == "" {
			old, err := store.KioskByID(ctx, *id)
			if err != nil {
				return errors.New("--box-id is required for a new kiosk")
			}
			box = old.BoxID
		} else if _, err := bleproxy.ParseBoxID(box); err != nil || len(box) != 16 {
			return errors.New("--box-id: 16 hex digits")
		}
		if err := store.SaveKiosk(ctx, &models.Kiosk{KioskID: *id, Secret: key, BoxID: box, Active: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "kiosk %s saved with card reader %s; its requests are signed with the key from %s\n", *id, box, *keyFile)
		return nil
	case "disable":
		ok, err := store.DisableKiosk(ctx, *id, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("kiosk %s: not found", *id)
		}
		fmt.Fprintf(stdout, "kiosk %s disabled; its requests are refused within a minute\n", *id)
		return nil
	}
	return fmt.Errorf("unknown kiosk command %q\n%s", sub, usage)
}
