package main

import (
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets: 16 sub-buckets per
// power of two of nanoseconds, so any percentile is within 1/16 (6 %).
// It is not safe for concurrent use; each receiver owns one and they are
// merged at the end.
type histogram struct {
	counts [64 * 16]uint64
	n      uint64
}

func bucketOf(ns int64) int {
	if ns < 16 {
		if ns < 0 {
			return 0
		}
		return int(ns)
	}
	exp := bits.Len64(uint64(ns)) - 1 // >= 4
	sub := int(uint64(ns)>>(exp-4)) & 15
	return (exp-3)*16 + sub
}

// upperOf is the largest duration bucket b holds.
func upperOf(b int) time.Duration {
	if b < 16 {
		return time.Duration(b)
	}
	exp := b/16 + 3
	sub := b % 16
	return time.Duration((uint64(16+sub+1) << (exp - 4)) - 1)
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return upperOf(i)
		}
	}
	return upperOf(len(h.counts) - 1)
}
