package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// stats summarises a run.
type stats struct {
	n        int
	errors   int
	firstErr error
	elapsed  time.Duration
	lat      []time.Duration
}

func (s stats) String() string {
	if s.n == 0 {
		return "no requests"
	}
	slices.Sort(s.lat)
	p := func(q float64) time.Duration { return s.lat[int(q*float64(len(s.lat)-1))] }
	return fmt.Sprintf("requests %d, errors %d, throughput %.0f/s, latency p50 %s p90 %s p99 %s max %s",
		s.n, s.errors, float64(s.n)/s.elapsed.Seconds(),
		p(0.50).Round(10*time.Microsecond), p(0.90).Round(10*time.Microsecond),
		p(0.99).Round(10*time.Microsecond), s.lat[len(s.lat)-1].Round(10*time.Microsecond))
}

// drive runs work from conc workers for d and measures every call.
func drive(ctx context.Context, conc int, d time.Duration, work func(context.Context, int) error) stats {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var all stats
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local stats
			for ctx.Err() == nil {
				t0 := time.Now()
				err := work(ctx, w)
				if ctx.Err() != nil {
					break // cut off by the deadline: not a measurement
				}
				local.n++
				local.lat = append(local.lat, time.Since(t0))
				if err != nil {
					local.errors++
					if local.firstErr == nil {
						local.firstErr = err
					}
				}
			}
			mu.Lock()
			all.n += local.n
			all.errors += local.errors
			all.lat = append(all.lat, local.lat...)
			if all.firstErr == nil {
				all.firstErr = local.firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	all.elapsed = time.Since(start)
	return all
}

// client is a keep-alive HTTP client of one server.
type client struct {
	base string
	http *http.Client
}

func newClient(base string, conc int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conc * 2
	tr.MaxIdleConnsPerHost = conc * 2
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// call sends a JSON request and decodes a JSON answer into out (if non-nil);
// any status other than want is an error.
func (c *client) call(ctx context.Context, method, path, token string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
