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

// evenKey names one load of the even-load comparison.
type evenKey struct {
	Load   string
	Allocs int
	Size   int
	Rate   float64
}

// reportEven writes, for each load, one row per server: the median and
// the spread (min–max) of the rounds, and candidate's ratio to each
// server, for CPU per relayed datagram and the RTT figures. best names
// label prefixes whose best (lowest CPU) row is the reference of a goal
// line, e.g. "coturn-4.17" for the best of coturn 4.17's modes.
func reportEven(path, candidate string, refs []string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runs := map[evenKey]map[string][]result{}
	var order []string // labels in the order first seen
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r result
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Label == "" {
			continue
		}
		k := evenKey{r.Load, r.Allocs, r.Size, r.Rate}
		if runs[k] == nil {
			runs[k] = map[string][]result{}
		}
		if !slices.Contains(order, r.Label) {
			order = append(order, r.Label)
		}
		runs[k][r.Label] = append(runs[k][r.Label], r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	keys := make([]evenKey, 0, len(runs))
	for k := range runs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b evenKey) int {
		return cmp.Or(cmp.Compare(a.Load, b.Load), -cmp.Compare(a.Rate, b.Rate), cmp.Compare(a.Size, b.Size))
	})
	cpu := func(r result) float64 { return r.CPUusPerPkt }
	spread := func(rs []result, fig func(result) float64, format string) string {
		lo, hi := fig(rs[0]), fig(rs[0])
		for _, r := range rs {
			lo, hi = min(lo, fig(r)), max(hi, fig(r))
		}
		if len(rs) == 1 {
			return fmt.Sprintf(format, median(rs, fig))
		}
		return fmt.Sprintf(format+" ("+format+"–"+format+")", median(rs, fig), lo, hi)
	}
	ratio := func(c, b float64) string {
		if b == 0 || c == 0 {
			return "–"
		}
		return fmt.Sprintf("**%.2f×**", c/b)
	}
	for _, k := range keys {
		byLabel := runs[k]
		cand := byLabel[candidate]
		interval := float64(k.Allocs) / k.Rate * 1000
		if k.Load == "uclient" {
			fmt.Fprintf(w, "**turnutils_uclient, %d sessions × %d B every %.0f ms** (%.0f datagrams/s each way)\n\n", k.Allocs, k.Size, interval, k.Rate)
			fmt.Fprintf(w, "| server | rounds | server CPU µs per relayed pkt, median (min–max) | %s ÷ server | relayed pkt/s | loss %% | RTT avg µs | RTT max µs |\n", candidate)
		} else {
			fmt.Fprintf(w, "**turnbench, %d allocations × %d B, %.0f datagrams/s each way** (paced every ms over the allocations)\n\n", k.Allocs, k.Size, k.Rate)
			fmt.Fprintf(w, "| server | rounds | server CPU µs per relayed pkt, median (min–max) | %s ÷ server | relayed pkt/s | loss %% | RTT p50 µs | RTT p99 µs (%s ÷ server) | RTT p99.9 µs |\n", candidate, candidate)
		}
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|"+map[bool]string{true: "", false: "---|"}[k.Load == "uclient"])
		for _, label := range order {
			rs := byLabel[label]
			if len(rs) == 0 {
				continue
			}
			c := "–"
			if len(cand) > 0 && label != candidate {
				c = ratio(median(cand, cpu), median(rs, cpu))
			}
			row := fmt.Sprintf("| %s | %d | %s | %s | %.0f | %s |", label, len(rs), spread(rs, cpu, "%.2f"), c,
				median(rs, func(r result) float64 { return r.RelayedPPS }),
				spread(rs, func(r result) float64 { return r.LossPct }, "%.2f"))
			if k.Load == "uclient" {
				row += fmt.Sprintf(" %.0f | %.0f |", median(rs, func(r result) float64 { return r.RTTAvgus }),
					median(rs, func(r result) float64 { return r.RTTMaxus }))
			} else {
				p99 := func(r result) float64 { return r.RTTP99us }
				pr := "–"
				if len(cand) > 0 && label != candidate {
					pr = ratio(median(cand, p99), median(rs, p99))
				}
				row += fmt.Sprintf(" %.0f | %s (%s) | %.0f |", median(rs, func(r result) float64 { return r.RTTP50us }),
					spread(rs, p99, "%.0f"), pr, median(rs, func(r result) float64 { return r.RTTP999us }))
			}
			fmt.Fprintln(w, row)
		}
		// Goal lines: the candidate against the best row of each reference.
		for _, ref := range refs {
			best, bestLabel := 0.0, ""
			for _, label := range order {
				if rs := byLabel[label]; len(rs) > 0 && strings.HasPrefix(label, ref) && label != candidate {
					if m := median(rs, cpu); best == 0 || m < best {
						best, bestLabel = m, label
					}
				}
			}
			if best > 0 && len(cand) > 0 {
				fmt.Fprintf(w, "\n%s ÷ best of %s* (%s): CPU per relayed pkt **%.2f×**", candidate, ref, bestLabel, median(cand, cpu)/best)
			}
		}
		fmt.Fprint(w, "\n\n")
	}
	return nil
}

// reportEvenMain is `turnbench report-even FILE CANDIDATE [REF...]`.
func reportEvenMain(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: turnbench report-even RESULTS.jsonl CANDIDATE [REFERENCE-PREFIX...]")
	}
	var sb strings.Builder
	if err := reportEven(args[0], args[1], args[2:], &sb); err != nil {
		return err
	}
	_, err := io.WriteString(os.Stdout, sb.String())
	return err
}
