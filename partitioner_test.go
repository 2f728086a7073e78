package kastor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Values of Java's org.apache.kafka.common.utils.Utils.murmur2 on these UTF-8 keys.
var javaMurmur2 = []struct {
	key  string
	hash int32
}{
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
}

func TestMurmur2JavaVectors(t *testing.T) {
	for _, v := range javaMurmur2 {
		if got := Murmur2([]byte(v.key)); got != v.hash {
			t.Errorf("Murmur2(%q) = %d, want %d", v.key, got, v.hash)
		}
	}
	if got := Murmur2([]byte{'a', 'b', 'c'}); got != 479470107 {
		t.Errorf("Murmur2({a,b,c}) = %d", got)
	}
}

// kgoKeys is franz-go's StickyKeyPartitioner, which hashes keys like the Java client: an
// independent implementation to check ours against. For keyed records it is stateless.
var kgoKeys = kgo.StickyKeyPartitioner(nil).ForTopic("t")

func kgoPartition(key []byte, n int) int {
	return kgoKeys.Partition(&kgo.Record{Topic: "t", Key: key}, n)
}

func TestKeyPartitionMatchesKgo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{}, {0}, {0xff}, {0xff, 0xfe}, {0x80, 0x81, 0x82}}
	for _, v := range javaMurmur2 {
		keys = append(keys, []byte(v.key))
	}
	for i := 0; i < 2000; i++ {
		k := make([]byte, rng.IntN(41))
		for j := range k {
			k[j] = byte(rng.UintN(256)) // high bytes exercise the unsigned tail handling
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		// With MaxInt32 partitions the modulo keeps (almost) all 31 bits of the hash.
		for _, n := range []int32{1, 2, 3, 7, 12, 100, 1009, math.MaxInt32} {
			if got, want := KeyPartition(k, n), int32(kgoPartition(k, int(n))); got != want {
				t.Fatalf("KeyPartition(%x, %d) = %d, kgo says %d", k, n, got, want)
			}
		}
	}
	for _, v := range javaMurmur2 {
		if got, want := KeyPartition([]byte(v.key), math.MaxInt32), (v.hash&0x7fffffff)%math.MaxInt32; got != want {
			t.Errorf("KeyPartition(%q) = %d, want %d", v.key, got, want)
		}
	}
}

// toPositive clears the sign bit; it is not the absolute value.
func TestKeyPartitionToPositive(t *testing.T) {
	h := Murmur2([]byte("21")) // negative
	if h >= 0 {
		t.Fatal("test key should hash negative")
	}
	const n = 1000
	want := (h & 0x7fffffff) % n
	if got := KeyPartition([]byte("21"), n); got != want {
		t.Fatalf("got %d, want %d", got, want)
	}
	if abs := (-h) % n; abs == want {
		t.Fatal("test vector does not distinguish toPositive from abs")
	}
}

func TestDefaultPartitionerKeyed(t *testing.T) {
	p := NewDefaultPartitioner(16384, false)
	for _, k := range [][]byte{{}, []byte("a"), []byte("foobar"), []byte("user-42")} {
		for _, n := range []int32{1, 3, 12} {
			rec := &Record{Topic: "t", Key: k, Value: []byte("v")}
			for i := 0; i < 3; i++ {
				if got, want := p.Partition(rec, n), KeyPartition(k, n); got != want {
					t.Fatalf("key %q n %d: got %d, want %d", k, n, got, want)
				}
			}
		}
	}
}

func TestDefaultPartitionerStickySwitch(t *testing.T) {
	const batch = 100
	p := NewDefaultPartitioner(batch, false)
	rec := &Record{Topic: "t", Value: make([]byte, 10)} // 10 bytes: 10 records fill a batch
	for round := 0; round < 50; round++ {
		first := p.Partition(rec, 6)
		for i := 1; i < 10; i++ {
			if got := p.Partition(rec, 6); got != first {
				t.Fatalf("round %d record %d: partition %d, want it to stay on %d", round, i, got, first)
			}
		}
		if next := p.Partition(rec, 6); next == first {
			t.Fatalf("round %d: still on %d after a full batch", round, first)
		} else {
			// Put the record back so the next round starts on a fresh partition: the state
			// has already counted it, so just consume the rest of that batch.
			for i := 1; i < 10; i++ {
				if got := p.Partition(rec, 6); got != next {
					t.Fatalf("round %d: left %d early", round, next)
				}
			}
		}
	}
}

func TestDefaultPartitionerCountsKeyValueHeaders(t *testing.T) {
	p := NewDefaultPartitioner(100, false)
	// 20 + 20 + (5+5) + (0+0) = 50 bytes with ignored keys: two records fill the batch.
	rec := &Record{Topic: "t", Key: make([]byte, 20), Value: make([]byte, 20),
		Headers: []Header{{Key: "hhhhh", Value: make([]byte, 5)}, {Key: ""}}}
	ip := NewDefaultPartitioner(100, true)
	a := ip.Partition(rec, 4)
	if b := ip.Partition(rec, 4); b != a {
		t.Fatalf("second 50-byte record moved from %d to %d", a, b)
	}
	if c := ip.Partition(rec, 4); c == a {
		t.Fatal("third 50-byte record did not move after 100 bytes")
	}
	// Empty records still count (1 byte each), so they rotate too.
	empty := &Record{Topic: "e"}
	first := p.Partition(empty, 4)
	moved := false
	for i := 0; i < 100; i++ {
		if p.Partition(empty, 4) != first {
			moved = true
			break
		}
	}
	if !moved {
		t.Fatal("empty records never rotate")
	}
}

func TestDefaultPartitionerDistribution(t *testing.T) {
	const (
		parts   = 8
		batches = 2000
	)
	p := NewDefaultPartitioner(1000, false)
	rec := &Record{Topic: "t", Value: make([]byte, 100)}
	counts := make([]int, parts)
	prev := int32(-1)
	for i := 0; i < batches*10; i++ {
		part := p.Partition(rec, parts)
		if part < 0 || part >= parts {
			t.Fatalf("partition %d out of range", part)
		}
		if i%10 == 0 {
			if part == prev {
				t.Fatalf("batch %d stayed on partition %d", i/10, part)
			}
			prev = part
		}
		counts[part]++
	}
	mean := batches * 10 / parts
	for part, c := range counts {
		if c < mean*6/10 || c > mean*14/10 {
			t.Errorf("partition %d got %d records, mean %d: %v", part, c, mean, counts)
		}
	}
}

func TestDefaultPartitionerIgnoreKeys(t *testing.T) {
	p := NewDefaultPartitioner(1<<20, true)
	first := p.Partition(&Record{Topic: "t", Key: []byte("k0"), Value: []byte("v")}, 16)
	for i := 1; i < 200; i++ {
		key := []byte(fmt.Sprintf("k%d", i))
		if got := p.Partition(&Record{Topic: "t", Key: key, Value: []byte("v")}, 16); got != first {
			t.Fatalf("ignoreKeys: key %s went to %d, not the sticky %d", key, got, first)
		}
	}
	// Without ignoreKeys those keys spread.
	kp := NewDefaultPartitioner(1<<20, false)
	seen := map[int32]bool{}
	for i := 0; i < 200; i++ {
		seen[kp.Partition(&Record{Topic: "t", Key: []byte(fmt.Sprintf("k%d", i))}, 16)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("keyed records used only %d partitions", len(seen))
	}
}

func TestDefaultPartitionerTopicsIndependent(t *testing.T) {
	p := NewDefaultPartitioner(100, false)
	a := &Record{Topic: "a", Value: make([]byte, 60)}
	b := &Record{Topic: "b", Value: make([]byte, 60)}
	pa := p.Partition(a, 4)
	p.Partition(b, 4)
	p.Partition(b, 4) // b has moved on; a has 60 of 100 bytes
	if got := p.Partition(a, 4); got != pa {
		t.Fatalf("topic b's traffic moved topic a from %d to %d", pa, got)
	}
}

func TestDefaultPartitionerFewerPartitions(t *testing.T) {
	p := NewDefaultPartitioner(1<<20, false)
	rec := &Record{Topic: "t", Value: []byte("x")}
	for i := 0; i < 100; i++ {
		p2 := NewDefaultPartitioner(1<<20, false)
		// Stick somewhere among 100, then the topic reports 3 partitions.
		p2.Partition(rec, 100)
		if got := p2.Partition(rec, 3); got < 0 || got >= 3 {
			t.Fatalf("partition %d out of range after shrinking to 3", got)
		}
	}
	if got := p.Partition(rec, 1); got != 0 {
		t.Fatalf("single partition: got %d", got)
	}
}

func TestRoundRobinPartitioner(t *testing.T) {
	p := NewRoundRobinPartitioner()
	for i := 0; i < 10; i++ {
		// Keys are ignored.
		rec := &Record{Topic: "a", Key: []byte("same")}
		if got := p.Partition(rec, 3); got != int32(i%3) {
			t.Fatalf("record %d: got %d, want %d", i, got, i%3)
		}
	}
	if got := p.Partition(&Record{Topic: "b"}, 3); got != 0 {
		t.Fatalf("topic b starts at %d, want 0 (own counter)", got)
	}
	if got := p.Partition(&Record{Topic: "b"}, 1); got != 0 {
		t.Fatalf("single partition: %d", got)
	}
}

func TestPartitionerFunc(t *testing.T) {
	var p Partitioner = PartitionerFunc(func(rec *Record, n int32) int32 { return int32(len(rec.Value)) % n })
	if got := p.Partition(&Record{Value: []byte("hello")}, 3); got != 2 {
		t.Fatalf("got %d", got)
	}
}

func TestPartitionersConcurrent(t *testing.T) {
	const (
		goroutines = 8
		perG       = 3000
		parts      = 6
	)
	def := NewDefaultPartitioner(500, false)
	rr := NewRoundRobinPartitioner()
	rrCounts := make([][parts]int, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				topic := []string{"x", "y"}[i%2]
				var key []byte
				if i%3 == 0 {
					key = []byte(fmt.Sprint(i))
				}
				rec := &Record{Topic: topic, Key: key, Value: make([]byte, i%50)}
				if got := def.Partition(rec, parts); got < 0 || got >= parts {
					t.Errorf("default: partition %d", got)
					return
				}
				rrCounts[g][rr.Partition(&Record{Topic: "rr"}, parts)]++
			}
		}(g)
	}
	wg.Wait()
	var total [parts]int
	for _, c := range rrCounts {
		for i, n := range c {
			total[i] += n
		}
	}
	for i, n := range total {
		if n != goroutines*perG/parts {
			t.Errorf("round robin: partition %d got %d, want exactly %d: %v", i, n, goroutines*perG/parts, total)
		}
	}
}

func BenchmarkDefaultPartitionerSticky(b *testing.B) {
	p := NewDefaultPartitioner(16384, false)
	rec := &Record{Topic: "t", Value: make([]byte, 100)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Partition(rec, 12)
		}
	})
}

// The common case: one goroutine sending to one topic.
func BenchmarkDefaultPartitionerStickySerial(b *testing.B) {
	p := NewDefaultPartitioner(16384, false)
	rec := &Record{Topic: "t", Value: make([]byte, 100)}
	b.ReportAllocs()
	for b.Loop() {
		p.Partition(rec, 12)
	}
}
