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

// summary holds, per workload, each library's medians.
type summary map[string]map[string][]float64 // workload → lib → median per metric

func summarize(results []result) summary {
	s := summary{}
	groups := map[[2]string][]result{}
	for _, r := range results {
		k := [2]string{r.Workload, r.Lib}
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

// writeTable prints the Markdown table, the library settings it ran with, and the targets.
func writeTable(w io.Writer, rep *report, order []workload) error {
	bw := bufio.NewWriter(w)
	s := summarize(rep.Results)
	first := map[string]result{}
	for _, r := range rep.Results {
		if _, ok := first[r.Lib]; !ok && r.Workload == order[0].Name {
			first[r.Lib] = r
		}
	}
	broker := "records discarded (kfake BlackholeProduce)"
	if rep.Store {
		broker = "records kept in memory"
	}
	fmt.Fprintf(bw, "### kastor vs franz-go: medians of %d run(s) per library and workload\n\n", rep.Runs)
	fmt.Fprintf(bw, "%s; %s. %d records per client run (after %d warmup records), %d single-record sync sends. "+
		"Broker: kfake, 1 broker, 8 partitions, 127.0.0.1, in its own process, %s. Each client runs in its own process, alternating (ABBA).\n\n",
		rep.Started.Format("2006-01-02"), rep.Machine, rep.Records, rep.Warmup, rep.Sync, broker)
	for _, lib := range []string{libKastor, libKgo} {
		r := first[lib]
		if lib == libKastor && rep.Commit != "" {
			r.Version += " at " + rep.Commit
		}
		fmt.Fprintf(bw, "- %s %s: defaults; linger %s, batch %s, buffer %s, idempotent %v, acks=all; only the workload's codec and linger changed.\n",
			lib, r.Version, r.Linger, r.Batch, r.Buffer, r.Idempotent)
	}
	fmt.Fprintf(bw, "\n| workload | client | %s |\n|---|---|%s\n", joinNames(), strings.Repeat("---:|", len(metrics)))
	for _, wl := range order {
		k, g := s[wl.Name][libKastor], s[wl.Name][libKgo]
		if k == nil || g == nil {
			continue
		}
		fmt.Fprintf(bw, "| %s | kastor |%s\n", wl.Name, cells(k, nil))
		fmt.Fprintf(bw, "| | franz-go |%s\n", cells(g, nil))
		fmt.Fprintf(bw, "| | **kastor/franz-go** |%s\n", cells(k, g))
	}
	if rep.Runs > 1 {
		fmt.Fprintf(bw, "\nRun-to-run spread of records/s, (max − min) / median:")
		for _, wl := range order {
			fmt.Fprintf(bw, " %s %s;", wl.Name, spreads(rep.Results, wl.Name))
		}
		fmt.Fprintln(bw)
	}
	fmt.Fprintf(bw, "\nTargets (ratios from this run):\n\n")
	for _, t := range checkTargets(s, order) {
		fmt.Fprintf(bw, "- %s\n", t)
	}
	return bw.Flush()
}

func joinNames() string {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.name
	}
	return strings.Join(names, " | ")
}

// cells formats a row of medians, or of ratios to den.
func cells(v, den []float64) string {
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

func spreads(results []result, wl string) string {
	var parts []string
	for _, lib := range []string{libKastor, libKgo} {
		var v []float64
		for _, r := range results {
			if r.Workload == wl && r.Lib == lib {
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

// checkTargets states each target of the issue with the ratios that meet or miss it.
func checkTargets(s summary, order []workload) []string {
	type check struct {
		desc string
		idx  int
		max  float64 // the ratio (or, with abs, kastor's value) must be ≤ max; for !lower, ≥ 1/max
		abs  bool
		only string
	}
	checks := []check{
		{desc: "records/s ≥ 1.0× franz-go on every workload", idx: mRecords},
		{desc: "client CPU per record ≤ 1.0× franz-go on every workload", idx: mCPU, max: 1},
		{desc: "allocations per record ≤ 1 on the SendAsync path (kastor, every workload)", idx: mAllocs, max: 1, abs: true},
		{desc: "sync p50 ≤ franz-go's on every workload", idx: mP50, max: 1},
		{desc: "sync p99 ≤ franz-go's on every workload", idx: mP99, max: 1},
		{desc: "peak RSS ≤ franz-go's on the default workload", idx: mRSS, max: 1, only: "default"},
	}
	var out []string
	for _, c := range checks {
		var misses, all []string
		for _, wl := range order {
			if c.only != "" && wl.Name != c.only {
				continue
			}
			k, g := s[wl.Name][libKastor], s[wl.Name][libKgo]
			if k == nil || g == nil {
				continue
			}
			var v float64
			var ok bool
			var shown string
			switch {
			case c.abs:
				v = k[c.idx]
				ok = v <= c.max
				shown = fmt.Sprintf("%s %.2f", wl.Name, v)
			case metrics[c.idx].lower:
				v = ratio(k[c.idx], g[c.idx])
				ok = v <= c.max
				shown = fmt.Sprintf("%s %.2f×", wl.Name, v)
			default:
				v = ratio(k[c.idx], g[c.idx])
				ok = v >= 1
				shown = fmt.Sprintf("%s %.2f×", wl.Name, v)
			}
			all = append(all, shown)
			if !ok {
				misses = append(misses, shown)
			}
		}
		switch {
		case len(all) == 0:
			out = append(out, fmt.Sprintf("%s: not measured", c.desc))
		case len(misses) == 0:
			out = append(out, fmt.Sprintf("%s: **met** (%s)", c.desc, strings.Join(all, ", ")))
		default:
			out = append(out, fmt.Sprintf("%s: **missed** (%s)", c.desc, strings.Join(misses, ", ")))
		}
	}
	return out
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
