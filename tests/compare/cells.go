package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// cell is one measured shape: the cluster (brokers, whether the broker stores the records), the
// topic (partitions) and the traffic (value size, keys, codec, linger). Both libraries run the same
// cell against the same broker process; everything a cell does not name is each library's default.
type cell struct {
	Name       string `json:"name"`
	Brokers    int    `json:"brokers"`
	Store      bool   `json:"broker_stores_records"`
	Partitions int    `json:"partitions"`
	ValueSize  int    `json:"value_bytes"`
	Keys       int    `json:"keys"`  // distinct keys, cycled; 0 means null keys
	Codec      string `json:"codec"` // none, lz4 or zstd
	Linger0    bool   `json:"linger0"`

	// Set by plan: what one client run of this cell sends.
	Records int `json:"records"`
	Warmup  int `json:"warmup"`
}

// cells is the default run, in order: the default shape (3 brokers, the broker discarding, 8
// partitions, 100 B values, null keys, no codec), then one or two dimensions changed at a time.
// The full cross product would take hours on two cores; these cover every dimension around the
// default and the combinations the issue names.
var cells = []cell{
	{Name: "default", Brokers: 3, Partitions: 8, ValueSize: 100, Codec: "none"},
	{Name: "store", Brokers: 3, Store: true, Partitions: 8, ValueSize: 100, Codec: "none"},
	{Name: "1broker", Brokers: 1, Partitions: 8, ValueSize: 100, Codec: "none"},
	{Name: "keyed", Brokers: 3, Partitions: 8, ValueSize: 100, Keys: 1000, Codec: "none"},
	{Name: "lz4", Brokers: 3, Partitions: 8, ValueSize: 100, Codec: "lz4"},
	{Name: "zstd", Brokers: 3, Partitions: 8, ValueSize: 100, Codec: "zstd"},
	{Name: "keyed-64p", Brokers: 3, Partitions: 64, ValueSize: 100, Keys: 1000, Codec: "none"},
	{Name: "keyed-1000p", Brokers: 3, Partitions: 1000, ValueSize: 100, Keys: 1000, Codec: "none"},
	{Name: "1kib", Brokers: 3, Partitions: 8, ValueSize: 1024, Codec: "none"},
	{Name: "1kib-store", Brokers: 3, Store: true, Partitions: 8, ValueSize: 1024, Codec: "none"},
	{Name: "1kib-lz4-store", Brokers: 3, Store: true, Partitions: 8, ValueSize: 1024, Codec: "lz4"},
	{Name: "10kib", Brokers: 3, Partitions: 8, ValueSize: 10240, Codec: "none"},
	{Name: "10kib-store", Brokers: 3, Store: true, Partitions: 8, ValueSize: 10240, Codec: "none"},
	{Name: "linger0", Brokers: 3, Partitions: 8, ValueSize: 100, Codec: "none", Linger0: true},
}

func cellNames() string {
	names := make([]string, len(cells))
	for i, c := range cells {
		names[i] = c.Name
	}
	return strings.Join(names, ",")
}

func lookupCell(name string) (cell, error) {
	for _, c := range cells {
		if c.Name == name {
			return c, nil
		}
	}
	return cell{}, fmt.Errorf("unknown cell %q (known: %s)", name, cellNames())
}

// shape is the cell's identity without its name: two cells of one shape measure the same thing.
func (c cell) shape() string {
	return fmt.Sprintf("%s, %d partitions, %s values, %s keys, codec %s, linger %s",
		c.cluster(), c.Partitions, sizeName(c.ValueSize), c.keysName(), c.Codec, c.lingerName())
}

func (c cell) cluster() string {
	return fmt.Sprintf("%d broker%s %s", c.Brokers, plural(c.Brokers), c.storeName())
}

func (c cell) storeName() string {
	if c.Store {
		return "storing"
	}
	return "discarding"
}

func (c cell) keysName() string {
	if c.Keys == 0 {
		return "null"
	}
	return thousands(float64(c.Keys))
}

func (c cell) lingerName() string {
	if c.Linger0 {
		return "0"
	}
	return "default"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + " KiB"
	}
	return strconv.Itoa(n) + " B"
}

// wireBytesPerRecord estimates what a record costs on the wire and in a storing kfake (which keeps
// batches as they were sent): the value and key, the record's own framing (length, attributes,
// deltas, header count: about 10 bytes) and a share of the batch header. Compression is ignored,
// so the estimate errs on the large side.
func (c cell) wireBytesPerRecord() int {
	key := 0
	if c.Keys > 0 {
		key = len("key-000000")
	}
	return c.ValueSize + key + 16
}

// plan sets the records one client run of c sends: records and warmup as asked, scaled down
// together so that the bytes a run sends stay within sendBudget and, when the broker stores them
// (kfake keeps them in memory until the run's topic is deleted), within storeBudget.
func (c cell) plan(records, warmup int, sendBudget, storeBudget int64) cell {
	budget := sendBudget
	if c.Store && storeBudget < budget {
		budget = storeBudget
	}
	fit := budget / int64(c.wireBytesPerRecord())
	c.Records, c.Warmup = records, warmup
	if total := int64(records + warmup); total > fit {
		c.Records = max(1, int(fit*int64(records)/total))
		c.Warmup = int(fit * int64(warmup) / total)
	}
	return c
}

// valuePoolBytes sizes the pool of distinct values. At 2 MiB no value repeats within one batch of
// either library (kgo's default batches reach 1 MB), so a codec sees no cross-record repeats that
// real traffic would not have, and both processes pay the same fixed RSS for it.
const valuePoolBytes = 2 << 20

// payloads returns the values and keys the records cycle through. Values are random lowercase
// letters: compressible by entropy (zstd) but with few matches (lz4), unlike Kafka's perf tool,
// which repeats one value and so flatters every codec. A fixed seed makes both libraries send the
// same bytes.
func payloads(valueSize, keys int) (values, keyList [][]byte) {
	rng := rand.New(rand.NewPCG(7, uint64(valueSize)))
	n := max(1, valuePoolBytes/max(1, valueSize))
	buf := make([]byte, n*valueSize)
	for i := range buf {
		buf[i] = byte('a' + rng.IntN(26))
	}
	values = make([][]byte, n)
	for i := range values {
		values[i] = buf[i*valueSize : (i+1)*valueSize : (i+1)*valueSize]
	}
	for i := range keys {
		keyList = append(keyList, fmt.Appendf(nil, "key-%06d", i))
	}
	return values, keyList
}
