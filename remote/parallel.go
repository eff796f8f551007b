package remote

import (
	"context"
	"fmt"
	"sync"
)

// ForEach calls fn for every target, at most parallelism at a time
// (DefaultParallelism when it is below 1), and returns every target's
// result by name: nil for success. One host failing does not stop the
// others; when ctx ends, targets not yet started get an error naming them.
// Target names must be unique.
func ForEach(ctx context.Context, targets []Target, parallelism int, fn func(context.Context, Target) error) map[string]error {
	if parallelism < 1 {
		parallelism = DefaultParallelism
	}
	results := make(map[string]error, len(targets))
	var mu sync.Mutex
	record := func(name string, err error) {
		mu.Lock()
		results[name] = err
		mu.Unlock()
	}
	slots := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	for _, t := range targets {
		if ctx.Err() == nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			record(t.Name, fmt.Errorf("%s: not started: %w", t.Name, context.Cause(ctx)))
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			record(t.Name, fn(ctx, t))
		})
	}
	wg.Wait()
	return results
}
