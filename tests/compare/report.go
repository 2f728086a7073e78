package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
)

// metric is one column of the table.
type metric struct {
	name   string
	get    func(result) float64
	format string
	lower  bool // lower is better
}

var metrics = []metric{
	{"records/s", func(r result) float64 { return r.RecordsPerSec }, "", false},
	{"MB/s", func(r result) float64 { return r.MBPerSec }, "%.1f", false},
	{"CPU µs/record", func(r result) float64 { return r.CPUUsPerRecord }, "%.3f", true},
	{"peak RSS MiB", func(r result) float64 { return float64(r.MaxRSSKiB) / 1024 }, "%.1f", true},
	{"allocs/record", func(r result) float64 { return r.AllocsPerRecord }, "%.2f", true},
	{"sync p50 µs", func(r result) float64 { return r.SyncP50Us }, "%.0f", true},
	{"sync p99 µs", func(r result) float64 { return r.SyncP99Us }, "%.0f", true},
	{"broker CPU µs/record", func(r result) float64 { return r.BrokerCPUUsPerRecord }, "%.3f", true},
	{"records/request", func(r result) float64 { return r.RecordsPerRequest }, "%.1f", false},
}

// Column indexes of the metrics the targets name.
const (
	mRecords = iota
	_
	mCPU
	mRSS
	mAllocs
	mP50
	mP99
)

// summary holds, per cell, each library's medians.
type summary map[string]map[string][]float64 // cell → lib → median per metric

func summarize(results []result) summary {
	s := summary{}
	groups := map[[2]string][]result{}
	for _, r := range results {
		k := [2]string{r.Cell, r.Lib}
		groups[k] = append(groups[k], r)
	}
	for k, rs := range groups {
		med := make([]float64, len(metrics))
		for i, m := range metrics {
			vals := make([]float64, len(rs))
			for j, r := range rs {
				vals[j] = m.get(r)
			}
			med[i] = median(vals)
		}
		if s[k[0]] == nil {
			s[k[0]] = map[string][]float64{}
		}
		s[k[0]][k[1]] = med
	}
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// writeTable prints the cells as they ran, the Markdown table of medians and ratios, the library
// settings, and the targets checked per cell.
func writeTable(w io.Writer, rep *report) error {
	bw := bufio.NewWriter(w)
	s := summarize(rep.Results)
	first := map[string]result{}
	for _, r := range rep.Results {
		if _, ok := first[r.Lib]; !ok {
			first[r.Lib] = r
		}
	}
	fmt.Fprintf(bw, "### kastor vs franz-go: medians of %d run(s) per library and cell\n\n", rep.Runs)
	fmt.Fprintf(bw, "%s; %s. Broker: kfake on 127.0.0.1 in its own process, a fresh one per cell; "+
		"\"storing\" is kfake's default (records kept in memory), \"discarding\" is kfake's BlackholeProduce "+
		"(batches and idempotent sequences still validated). Every client bootstraps from all brokers and runs in its own process, "+
		"the two libraries alternating ABBA; each client run has a topic of its own, deleted after it. "+
		"Records per run are scaled down per cell so that a run sends at most a fixed number of bytes and a storing broker keeps at most a fixed number (the records column). "+
		"Each run ends with %d single-record synchronous sends (sync p50/p99).\n\n",
		rep.Started.Format("2006-01-02"), rep.Machine, rep.Sync)
	for _, lib := range []string{libKastor, libKgo} {
		r := first[lib]
		if lib == libKastor && rep.Commit != "" {
			r.Version += " at " + rep.Commit
		}
		fmt.Fprintf(bw, "- %s %s: defaults; linger %s, batch %s, buffer %s, idempotent %v, acks=all; only the cell's codec (and linger in linger0) changed.\n",
			lib, r.Version, r.Linger, r.Batch, r.Buffer, r.Idempotent)
	}

	fmt.Fprintf(bw, "\n| cell | brokers | broker | partitions | value | keys | codec | linger | records/run | warmup | broker peak RSS MiB |\n")
	fmt.Fprintf(bw, "|---|---:|---|---:|---:|---:|---|---|---:|---:|---:|\n")
	for _, c := range rep.Cells {
		fmt.Fprintf(bw, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |\n", c.Name, c.Brokers, c.storeName(),
			thousands(float64(c.Partitions)), sizeName(c.ValueSize), c.keysName(), c.Codec, c.lingerName(),
			thousands(float64(c.Records)), thousands(float64(c.Warmup)), float64(c.BrokerPeakRSSKiB)/1024)
	}

	fmt.Fprintf(bw, "\n| cell | client | %s |\n|---|---|%s\n", joinNames(), strings.Repeat("---:|", len(metrics)))
	for _, c := range rep.Cells {
		k, g := s[c.Name][libKastor], s[c.Name][libKgo]
		if k == nil || g == nil {
			continue
		}
		fmt.Fprintf(bw, "| %s | kastor |%s\n", c.Name, rowCells(k, nil))
		fmt.Fprintf(bw, "| | franz-go |%s\n", rowCells(g, nil))
		fmt.Fprintf(bw, "| | **kastor/franz-go** |%s\n", rowCells(k, g))
	}
	if rep.Runs > 1 {
		fmt.Fprintf(bw, "\nRun-to-run spread of records/s, (max − min) / median:")
		for _, c := range rep.Cells {
			fmt.Fprintf(bw, " %s %s;", c.Name, spreads(rep.Results, c.Name))
		}
		fmt.Fprintln(bw)
	}
	writeTargets(bw, s, rep.Cells)
	return bw.Flush()
}

func joinNames() string {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.name
	}
	return strings.Join(names, " | ")
}

// rowCells formats a row of medians, or of ratios to den.
func rowCells(v, den []float64) string {
	var b strings.Builder
	for i, m := range metrics {
		if den != nil {
			fmt.Fprintf(&b, " %.2f× |", ratio(v[i], den[i]))
		} else if m.format == "" {
			fmt.Fprintf(&b, " %s |", thousands(v[i]))
		} else {
			fmt.Fprintf(&b, " "+m.format+" |", v[i])
		}
	}
	return b.String()
}

func spreads(results []result, cellName string) string {
	var parts []string
	for _, lib := range []string{libKastor, libKgo} {
		var v []float64
		for _, r := range results {
			if r.Cell == cellName && r.Lib == lib {
				v = append(v, r.RecordsPerSec)
			}
		}
		if len(v) == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", lib, 100*ratio(slices.Max(v)-slices.Min(v), median(v))))
	}
	return strings.Join(parts, ", ")
}

// target is one of the targets as it applies to one cell: kastor's median of a metric
// against franz-go's (a ratio bound) or, with abs, on its own.
type target struct {
	column string
	idx    int     // the metric
	bound  float64 // ratio (or, with abs, kastor's value) ≤ bound; for metrics where higher is better, ≥ bound
	abs    bool
}

// targetColumns are the target table's columns, in order.
var targetColumns = []string{"records/s", "CPU/record", "peak RSS", "sync p50", "sync p99", "allocs/record"}

// cellTargets lists the targets that apply to c. The client's own cost decides the 100 B
// cells on three discarding brokers, so those ask the most; a storing kfake shares the two cores
// and caps both clients, so those ask less.
func cellTargets(c cell) []target {
	small := c.ValueSize == 100
	records := 1.0
	switch {
	case small && c.Brokers == 3 && !c.Store:
		records = 1.25
	case small && c.Brokers == 3 && c.Store:
		records = 1.1
	}
	cpu := 1.0
	if small {
		cpu = 0.8
	}
	ts := []target{
		{column: "records/s", idx: mRecords, bound: records},
		{column: "CPU/record", idx: mCPU, bound: cpu},
	}
	if c.Name == "default" {
		ts = append(ts, target{column: "peak RSS", idx: mRSS, bound: 1})
	}
	return append(ts,
		target{column: "sync p50", idx: mP50, bound: 1},
		target{column: "sync p99", idx: mP99, bound: 1},
		target{column: "allocs/record", idx: mAllocs, bound: 1, abs: true},
	)
}

// verdict is one target checked on one cell.
type verdict struct {
	measured, met bool
	shown         string // "1.31× ≥ 1.25×"
}

func check(t target, k, g []float64) verdict {
	if (t.idx == mP50 || t.idx == mP99) && k[t.idx] == 0 && g[t.idx] == 0 {
		return verdict{} // no sync sends in this run
	}
	if t.abs {
		v := k[t.idx]
		return verdict{measured: true, met: v <= t.bound, shown: fmt.Sprintf("%.2f %s %.0f", v, cmp(v <= t.bound, "≤", ">"), t.bound)}
	}
	v := ratio(k[t.idx], g[t.idx])
	if metrics[t.idx].lower {
		return verdict{measured: true, met: v <= t.bound, shown: fmt.Sprintf("%s× %s %.3g×", ratioText(v, t.bound), cmp(v <= t.bound, "≤", ">"), t.bound)}
	}
	return verdict{measured: true, met: v >= t.bound, shown: fmt.Sprintf("%s× %s %.3g×", ratioText(v, t.bound), cmp(v >= t.bound, "≥", "<"), t.bound)}
}

// ratioText shows v with two decimals, or three where two would print the bound itself (a miss
// by 1.004× would read "1.00× > 1×").
func ratioText(v, bound float64) string {
	if s := fmt.Sprintf("%.2f", v); s != fmt.Sprintf("%.2f", bound) || v == bound {
		return s
	}
	return fmt.Sprintf("%.3f", v)
}

func cmp(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

// writeTargets prints a table of every target on every cell, met or missed, then a line per
// target with the cells that missed it.
func writeTargets(w io.Writer, s summary, order []cellRun) {
	fmt.Fprintf(w, "\nTargets (kastor ÷ franz-go medians from this run; records/s ≥ 1.25× on the 100 B cells with 3 discarding brokers, "+
		"≥ 1.1× with 3 storing brokers, ≥ 1.0× elsewhere; CPU per record ≤ 0.8× on the 100 B cells, ≤ 1.0× elsewhere; "+
		"peak RSS ≤ 1.0× on the default cell; sync p50 and p99 ≤ 1.0×; kastor's allocations per record on the SendAsync path ≤ 1, "+
		"the caller's record included):\n\n")
	fmt.Fprintf(w, "| cell | %s |\n|---|%s\n", strings.Join(targetColumns, " | "), strings.Repeat("---|", len(targetColumns)))
	missed := map[string][]string{}
	counts := map[string][2]int{} // column → met, checked
	for _, c := range order {
		k, g := s[c.Name][libKastor], s[c.Name][libKgo]
		if k == nil || g == nil {
			continue
		}
		row := map[string]string{}
		for _, t := range cellTargets(c.cell) {
			v := check(t, k, g)
			switch {
			case !v.measured:
				row[t.column] = "not measured"
			case v.met:
				row[t.column] = "met " + v.shown
			default:
				row[t.column] = "**missed** " + v.shown
				missed[t.column] = append(missed[t.column], c.Name+" "+v.shown)
			}
			if v.measured {
				n := counts[t.column]
				n[1]++
				if v.met {
					n[0]++
				}
				counts[t.column] = n
			}
		}
		fmt.Fprintf(w, "| %s |", c.Name)
		for _, col := range targetColumns {
			if v, ok := row[col]; ok {
				fmt.Fprintf(w, " %s |", v)
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	for _, col := range targetColumns {
		n := counts[col]
		switch {
		case n[1] == 0:
			fmt.Fprintf(w, "- %s: not measured\n", col)
		case n[0] == n[1]:
			fmt.Fprintf(w, "- %s: **met** on all %d cells\n", col, n[1])
		default:
			fmt.Fprintf(w, "- %s: **missed** on %d of %d cells (%s)\n", col, n[1]-n[0], n[1], strings.Join(missed[col], "; "))
		}
	}
}

// machine describes where the numbers come from.
func machine() string {
	desc := fmt.Sprintf("%s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				desc += " (" + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":")) + ")"
				break
			}
		}
	}
	return desc
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
