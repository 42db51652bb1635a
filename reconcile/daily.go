package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"gaspay/models"
)

// RunDaily calls DailyPass every interval until ctx ends. Every replica
// runs it; locks and the stored runs make each day's work happen once.
func (s *Service) RunDaily(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.DailyPass(ctx)
	}
}

// DailyPass reconciles yesterday's bills once the time of day is past
// ReadyAfter, for each provider whose day is not done yet and not waiting
// for its next attempt, then, once a day, checks delivery aging. It reports
// the runs it attempted, by provider, with their errors (nil: done).
func (s *Service) DailyPass(ctx context.Context) map[string]error {
	now := s.now().In(s.cfg.Location)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.cfg.Location)
	if now.Sub(midnight) < s.cfg.ReadyAfter {
		return nil
	}
	date := midnight.AddDate(0, 0, -1).Format(time.DateOnly)
	attempted := map[string]error{}
	for _, provider := range s.Providers() {
		run, err := s.store.ReconRunOf(ctx, provider, date)
		switch {
		case err == nil && run.Status == models.ReconDone:
			continue
		case err == nil && run.NextAttemptAt != nil && now.Before(*run.NextAttemptAt):
			continue
		case err == nil && run.Status == models.ReconRunning && now.Sub(run.StartedAt) < lockTTL:
			continue
		case err != nil && !errors.Is(err, models.ErrNotFound):
			s.log.WarnContext(ctx, "reconciliation state", slog.String("err", err.Error()))
			continue
		}
		_, err = s.Run(ctx, provider, date)
		if errors.Is(err, ErrBusy) {
			continue
		}
		attempted[provider] = err
	}
	// Once a day, on one replica: the lock is never released, it expires.
	if _, ok, err := s.locks.Lock(ctx, "reconcile:aging:"+midnight.Format(time.DateOnly), 36*time.Hour); err == nil && ok {
		if _, err := s.CheckAging(ctx); err != nil {
			s.log.WarnContext(ctx, "delivery aging", slog.String("err", err.Error()))
		}
	}
	return attempted
}
