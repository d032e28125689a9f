package cluster

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamsync/streamsync/signaling"
)

// BenchmarkRelay compares a candidate relayed between two clients of one
// node (the in-memory registry) with one relayed between clients of two
// nodes through NATS: one-way latency (p50, p99) of messages sent one at a
// time, and messages per second when one sender streams.
//
//	go test -run '^$' -bench Relay ./cluster/
func BenchmarkRelay(b *testing.B) {
	sc, cc := testConfigs("")
	sc.MessageRate, sc.MessageBurst = 10_000, 100_000
	sc.SendQueue, sc.ResumeQueue = 4096, 4096

	b.Run("single-node", func(b *testing.B) {
		s, err := signaling.New(sc, signaling.Options{})
		if err != nil {
			b.Fatal(err)
		}
		hs := httptest.NewServer(s)
		b.Cleanup(func() { _ = s.Shutdown(b.Context()); hs.Close() })
		n := &node{name: "single", url: "ws" + strings.TrimPrefix(hs.URL, "http"), down: true}
		runRelay(b, n, n)
	})
	b.Run("cross-node", func(b *testing.B) {
		ns := startNATS(b)
		cc.NATSURLs = []string{ns.url()}
		runRelay(b, startNode(b, "n1", sc, cc), startNode(b, "n2", sc, cc))
	})
}

func runRelay(b *testing.B, na, nb *node) {
	a := na.dial(b)
	a.join("", "Ada")
	c := nb.dial(b)
	c.join(a.room, "Bob")
	a.expect("peer-joined")
	cand := msg{"type": "candidate", "to": c.id, "candidate": msg{"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"}}

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		a.send(cand)
		c.expect("candidate")
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")

	// Throughput: one sender streams, the receiver counts.
	const stream = 2000
	done := make(chan time.Duration, 1)
	t0 := time.Now()
	go func() {
		for range stream {
			if _, err := c.next(); err != nil {
				break
			}
		}
		done <- time.Since(t0)
	}()
	for range stream {
		a.send(cand)
	}
	d := <-done
	b.ReportMetric(stream/d.Seconds(), "msgs/s")
}
