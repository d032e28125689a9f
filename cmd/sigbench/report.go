package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// reportMain is `sigbench report FILE`: a Markdown table of the JSON lines
// of several sigbench runs, in file order.
func reportMain(args []string, w io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: sigbench report RESULTS.jsonl")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintln(w, "| server | connections | joins/s | idle RSS MB | RSS kB per connection | threads | goroutines per connection | offered msg/s | delivered msg/s | delivery p50 ms | p99 ms | p99.9 ms | server CPU µs per msg | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	sc := bufio.NewScanner(f)
	dash := func(v float64, format string) string {
		if v == 0 {
			return "–"
		}
		return fmt.Sprintf(format, v)
	}
	for sc.Scan() {
		var r result
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Conns == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %d |\n",
			r.Mode, r.Conns, r.JoinsPerSec, dash(r.IdleRSSMB, "%.1f"), dash(r.RSSPerConnKB, "%.1f"),
			dash(float64(r.Threads), "%.0f"), dash(r.GoroutinesPer, "%.2f"), r.Rate, dash(r.MsgsPerSec, "%.0f"),
			dash(r.DeliveryP50us/1000, "%.2f"), dash(r.DeliveryP99us/1000, "%.2f"), dash(r.DeliveryP999us/1000, "%.2f"),
			dash(r.CPUusPerMessage, "%.1f"), r.Errors)
	}
	return sc.Err()
}
