package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// workload is one shape of traffic, the same for both libraries. Everything not named here is
// each library's default (see the table header).
type workload struct {
	Name      string
	Desc      string
	ValueSize int
	Keys      int    // distinct keys, cycled; 0 means null keys
	Codec     string // none, lz4 or zstd
	Linger0   bool   // linger 0 instead of each library's default
}

var workloads = []workload{
	{Name: "default", Desc: "100 B values, null keys, no compression, default linger", ValueSize: 100, Codec: "none"},
	{Name: "lz4", Desc: "default + lz4", ValueSize: 100, Codec: "lz4"},
	{Name: "zstd", Desc: "default + zstd", ValueSize: 100, Codec: "zstd"},
	{Name: "keyed", Desc: "default + 1,000 distinct keys", ValueSize: 100, Keys: 1000, Codec: "none"},
	{Name: "1kib", Desc: "default with 1 KiB values", ValueSize: 1024, Codec: "none"},
	{Name: "linger0", Desc: "default with linger 0", ValueSize: 100, Codec: "none", Linger0: true},
}

func workloadNames() string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.Name
	}
	return strings.Join(names, ",")
}

func lookupWorkload(name string) (workload, error) {
	for _, w := range workloads {
		if w.Name == name {
			return w, nil
		}
	}
	return workload{}, fmt.Errorf("unknown workload %q (known: %s)", name, workloadNames())
}

// valuePoolBytes sizes the pool of distinct values. At 2 MiB no value repeats within one batch of
// either library (kgo's default batches reach 1 MB), so a codec sees no cross-record repeats that
// real traffic would not have, and both processes pay the same fixed RSS for it.
const valuePoolBytes = 2 << 20

// payloads returns the values and keys the records cycle through. Values are random lowercase
// letters: compressible by entropy (zstd) but with few matches (lz4), unlike Kafka's perf tool,
// which repeats one value and so flatters every codec. A fixed seed makes both libraries send the
// same bytes.
func payloads(w workload) (values, keys [][]byte) {
	rng := rand.New(rand.NewPCG(7, uint64(w.ValueSize)))
	n := max(1, valuePoolBytes/max(1, w.ValueSize))
	buf := make([]byte, n*w.ValueSize)
	for i := range buf {
		buf[i] = byte('a' + rng.IntN(26))
	}
	values = make([][]byte, n)
	for i := range values {
		values[i] = buf[i*w.ValueSize : (i+1)*w.ValueSize : (i+1)*w.ValueSize]
	}
	for i := range w.Keys {
		keys = append(keys, fmt.Appendf(nil, "key-%06d", i))
	}
	return values, keys
}
