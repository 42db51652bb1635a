package iot

import (
	"context"
	"sync"
	"time"

	"gaspay/models"
)

// ingester is the group commit of meter reports: reports that arrive while
// a commit is under way wait for the next one, which takes them all (up to
// maxBatch) in one transaction (models.Store.TakeIoTReports: one locking
// read, one multi-row insert, one update of the meters). Each caller waits
// for the commit that holds its report and is answered with what that
// commit did with it, so no report is acknowledged before it is durable.
// There is no timer: under light load a report commits alone and at once;
// under heavy load the batches grow by themselves while the database works.
type ingester struct {
	store    *models.Store
	workers  int // commits under way at once
	maxBatch int

	mu      sync.Mutex
	queue   []*pendingReport
	running int
	commits int64 // batches committed
	taken   int64 // reports they held
}

type pendingReport struct {
	row  models.IoTReport
	res  models.IoTReportTaken
	err  error
	done chan struct{}
}

func newIngester(store *models.Store, workers, maxBatch int) *ingester {
	return &ingester{store: store, workers: max(workers, 1), maxBatch: max(maxBatch, 1)}
}

// take stores r if it is fresh and its meter has no open delivery, and
// says what it did (models.IoTReportTaken).
func (g *ingester) take(ctx context.Context, r models.IoTReport) (models.IoTReportTaken, error) {
	p := &pendingReport{row: r, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	if g.running < g.workers {
		g.running++
		go g.work()
	}
	g.mu.Unlock()
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		// Not acknowledged: the platform pushes it again, and the replay
		// guard answers the retry whether or not this commit took it.
		return models.IoTReportTaken{}, ctx.Err()
	}
}

// work commits batches until the queue is empty, then ends: no goroutine
// outlives the reports it serves.
func (g *ingester) work() {
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running--
			g.queue = nil
			g.mu.Unlock()
			return
		}
		n := min(len(g.queue), g.maxBatch)
		batch := make([]*pendingReport, n)
		copy(batch, g.queue)
		g.queue = g.queue[n:]
		g.mu.Unlock()
		g.commit(batch)
	}
}

func (g *ingester) commit(batch []*pendingReport) {
	// The callers may give up waiting; the commit still ends cleanly.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows := make([]models.IoTReport, len(batch))
	for i, p := range batch {
		rows[i] = p.row
	}
	res, err := g.store.TakeIoTReports(ctx, rows, names(openStates))
	if err != nil && len(batch) > 1 {
		// One report's trouble must not fail the others': each alone.
		for _, p := range batch {
			g.commit([]*pendingReport{p})
		}
		return
	}
	if err == nil {
		g.mu.Lock()
		g.commits++
		g.taken += int64(len(batch))
		g.mu.Unlock()
	}
	for i, p := range batch {
		if err != nil {
			p.err = err
		} else {
			p.res = res[i]
		}
		close(p.done)
	}
}

// IngestStats says how many group commits of reports this service made,
// and how many reports they held (the benchmark prints the ratio).
func (s *Service) IngestStats() (commits, reports int64) {
	s.ingest.mu.Lock()
	defer s.ingest.mu.Unlock()
	return s.ingest.commits, s.ingest.taken
}
