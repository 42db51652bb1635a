package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"gaspay/config"
	"gaspay/iot"
)

// iotCmd records what the meter platform calls a meter.
func iotCmd(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "device" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("iot device", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	meter := fs.String("meter", "", "the meter number (digits under its barcode)")
	device := fs.String("device", "", "the meter's device id at the platform")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := iot.RegisterDevice(ctx, store, *meter, *device, time.Now().UTC()); err != nil {
		return fmt.Errorf("meter %s: %w", *meter, err)
	}
	fmt.Fprintf(stdout, "meter %s is device %s at the meter platform\n", *meter, *device)
	return nil
}
