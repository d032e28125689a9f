package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// loadKey names one load; rounds of the same load are merged.
type loadKey struct {
	Allocs int
	Size   int
	Rate   float64
}

// report reads JSON lines (turnbench results, other lines ignored) and
// writes a Markdown comparison of candidate against baseline: the median
// over rounds of each figure and the ratio candidate/baseline.
func report(path, candidate, baseline string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runs := map[loadKey]map[string][]result{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Label == "" {
			continue
		}
		k := loadKey{r.Allocs, r.Size, r.Rate}
		if runs[k] == nil {
			runs[k] = map[string][]result{}
		}
		runs[k][r.Label] = append(runs[k][r.Label], r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	keys := make([]loadKey, 0, len(runs))
	for k := range runs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b loadKey) int {
		return cmp.Or(cmp.Compare(a.Rate, b.Rate), cmp.Compare(a.Allocs, b.Allocs), cmp.Compare(a.Size, b.Size))
	})

	cell := func(k loadKey, fig func(result) float64, format string) string {
		c, b := median(runs[k][candidate], fig), median(runs[k][baseline], fig)
		if len(runs[k][candidate]) == 0 || len(runs[k][baseline]) == 0 {
			return "–"
		}
		s := fmt.Sprintf(format+" / "+format, c, b)
		if b != 0 {
			s += fmt.Sprintf(" (**%.2f×**)", c/b)
		}
		return s
	}
	rounds := func(k loadKey) string {
		return fmt.Sprintf("%d/%d", len(runs[k][candidate]), len(runs[k][baseline]))
	}

	fmt.Fprintf(w, "Each cell: %s / %s (ratio %s÷%s), median of the rounds.\n\n", candidate, baseline, candidate, baseline)
	fmt.Fprintln(w, "**Saturation** (closed loop: a window of datagrams in flight per allocation; pkt/s counts relayed datagrams, both directions)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| allocations × size | rounds | relayed pkt/s | server CPU µs per pkt | loss % | RTT p99 µs | setup allocations/s | server RSS kB per allocation |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, k := range keys {
		if k.Rate != 0 {
			continue
		}
		fmt.Fprintf(w, "| %d × %d B | %s | %s | %s | %s | %s | %s | %s |\n", k.Allocs, k.Size, rounds(k),
			cell(k, func(r result) float64 { return r.RelayedPPS }, "%.0f"),
			cell(k, func(r result) float64 { return r.CPUusPerPkt }, "%.2f"),
			cell(k, func(r result) float64 { return r.LossPct }, "%.2f"),
			cell(k, func(r result) float64 { return r.RTTP99us }, "%.0f"),
			cell(k, func(r result) float64 { return r.AllocsPerSec }, "%.0f"),
			cell(k, func(r result) float64 { return r.RSSPerAlloc }, "%.1f"))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "**Fixed rate** (open loop at the offered rate of round trips per second, all allocations together)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| allocations × size | offered/s | rounds | RTT p50 µs | RTT p99 µs | RTT p99.9 µs | loss % | server CPU µs per pkt |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, k := range keys {
		if k.Rate == 0 {
			continue
		}
		fmt.Fprintf(w, "| %d × %d B | %.0f | %s | %s | %s | %s | %s | %s |\n", k.Allocs, k.Size, k.Rate, rounds(k),
			cell(k, func(r result) float64 { return r.RTTP50us }, "%.0f"),
			cell(k, func(r result) float64 { return r.RTTP99us }, "%.0f"),
			cell(k, func(r result) float64 { return r.RTTP999us }, "%.0f"),
			cell(k, func(r result) float64 { return r.LossPct }, "%.2f"),
			cell(k, func(r result) float64 { return r.CPUusPerPkt }, "%.2f"))
	}
	return nil
}

func median(rs []result, fig func(result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = fig(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// reportMain is `turnbench report FILE [candidate baseline]`.
func reportMain(args []string) error {
	if len(args) != 1 && len(args) != 3 {
		return fmt.Errorf("usage: turnbench report RESULTS.jsonl [CANDIDATE BASELINE]")
	}
	cand, base := "streamsync", "coturn"
	if len(args) == 3 {
		cand, base = args[1], args[2]
	}
	var sb strings.Builder
	if err := report(args[0], cand, base, &sb); err != nil {
		return err
	}
	_, err := io.WriteString(os.Stdout, sb.String())
	return err
}
