// Package loadtest drives load for the benchmark commands (cmd/loadgen,
// cmd/paybench, cmd/relaybench): concurrent workers, every call timed, and
// throughput with latency percentiles.
package loadtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Stats summarises a run.
type Stats struct {
	N        int
	Errors   int
	FirstErr error
	Elapsed  time.Duration
	lat      []time.Duration
}

// Rate is calls per second.
func (s Stats) Rate() float64 { return float64(s.N) / s.Elapsed.Seconds() }

// Percentile is the latency below which q of the calls finished.
func (s Stats) Percentile(q float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	slices.Sort(s.lat)
	return s.lat[int(q*float64(len(s.lat)-1))]
}

func (s Stats) String() string {
	if s.N == 0 {
		return "nothing done"
	}
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("%d in %s, %.0f/s, errors %d, latency p50 %s p90 %s p99 %s max %s",
		s.N, s.Elapsed.Round(time.Millisecond), s.Rate(), s.Errors,
		r(s.Percentile(.5)), r(s.Percentile(.9)), r(s.Percentile(.99)), r(s.Percentile(1)))
}

func (s *Stats) add(o Stats) {
	s.N += o.N
	s.Errors += o.Errors
	s.lat = append(s.lat, o.lat...)
	if s.FirstErr == nil {
		s.FirstErr = o.FirstErr
	}
}

func (s *Stats) record(d time.Duration, err error) {
	s.N++
	s.lat = append(s.lat, d)
	if err != nil {
		s.Errors++
		if s.FirstErr == nil {
			s.FirstErr = err
		}
	}
}

// Drain runs work from conc workers until it reports there is no more.
func Drain(conc int, work func(worker int) (more bool, err error)) Stats {
	return run(conc, func(w int, local *Stats) bool {
		t := time.Now()
		more, err := work(w)
		if more {
			local.record(time.Since(t), err)
		}
		return more
	})
}

// For runs work from conc workers for d. A call cut off by the deadline is
// not counted.
func For(ctx context.Context, conc int, d time.Duration, work func(ctx context.Context, worker int) error) Stats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return run(conc, func(w int, local *Stats) bool {
		if ctx.Err() != nil {
			return false
		}
		t := time.Now()
		err := work(ctx, w)
		if ctx.Err() != nil {
			return false
		}
		local.record(time.Since(t), err)
		return true
	})
}

func run(conc int, step func(worker int, local *Stats) bool) Stats {
	var mu sync.Mutex
	var all Stats
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local Stats
			for step(w, &local) {
			}
			mu.Lock()
			all.add(local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	all.Elapsed = time.Since(start)
	return all
}

// Paced starts call i of n at i/rate seconds after the start, whether or
// not earlier calls have finished (at most maxInFlight at once: a call
// waits for a slot past its start time), the way independent clients
// arrive: an open loop, unlike Drain's closed one. Each latency runs from
// the call's scheduled start, so time spent waiting behind a slow server
// counts. The rate achieved is N over Elapsed; a server that keeps up
// achieves rate.
func Paced(ctx context.Context, n int, rate float64, maxInFlight int, work func(i int) error) Stats {
	var mu sync.Mutex
	var all Stats
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxInFlight)
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			err := work(i)
			d := time.Since(at)
			mu.Lock()
			all.record(d, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	all.Elapsed = time.Since(start)
	return all
}
