// Package loadgen holds what the load generators (cmd/turnbench,
// cmd/sigbench) share: bounded parallel setup and process limits.
package loadgen

import (
	"sync"
	"time"
)

// ParallelDo runs f(0) … f(n-1), at most par at once, and returns the
// first error.
func ParallelDo(n, par int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	sem := make(chan struct{}, max(1, par))
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return first
}

// Micros returns d in microseconds.
func Micros(d time.Duration) float64 { return float64(d) / 1e3 }
