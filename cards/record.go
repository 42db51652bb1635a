package cards

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"gaspay/models"
)

// Recorder writes the boxes' record in batches: every accepted frame and
// refusal of a busy relay would otherwise cost a database write each. A
// delivery's own truth is the credit's conditional update, durable in its
// transaction; the record may lag a flush behind it.
type Recorder struct {
	store *models.Store
	log   *slog.Logger

	mu      sync.Mutex
	pending []models.BoxEvent
	flushMu sync.Mutex
}

// NewRecorder makes a recorder; Run flushes it in the background.
func NewRecorder(store *models.Store, log *slog.Logger) *Recorder {
	return &Recorder{store: store, log: log}
}

// maxPending bounds the buffer; past it, Add flushes at once.
const maxPending = 2000

// Add records an event.
func (r *Recorder) Add(ctx context.Context, ev models.BoxEvent) {
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = time.Now().UTC()
	}
	if len(ev.Detail) > 255 {
		ev.Detail = ev.Detail[:255]
	}
	r.mu.Lock()
	r.pending = append(r.pending, ev)
	full := len(r.pending) >= maxPending
	r.mu.Unlock()
	if full {
		r.Flush(ctx)
	}
}

// Flush writes what is buffered.
func (r *Recorder) Flush(ctx context.Context) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := r.store.AddBoxEvents(context.WithoutCancel(ctx), batch); err != nil {
		r.log.ErrorContext(ctx, "box record not written", slog.Int("events", len(batch)), slog.String("err", err.Error()))
		r.mu.Lock()
		if len(r.pending) < maxPending*5 {
			r.pending = append(batch, r.pending...)
		}
		r.mu.Unlock()
	}
}

// Run flushes every interval until ctx ends, and once more then.
func (r *Recorder) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			r.Flush(ctx)
		}
	}
}
