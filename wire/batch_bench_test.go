package wire

import (
	"fmt"
	"testing"
)

// BenchmarkAppend100B appends 100-byte records (8-byte key, no headers) to a builder that is
// reset every 16 KiB, the Java default batch.size. One op is one record.
// BenchmarkSizeWithAppend100B is the same with the SizeWith check an accumulator makes before
// each Append.
func BenchmarkAppend100B(b *testing.B) {
	value := btText(btRand(30), 100)
	key := []byte("key-0001")
	var bb BatchBuilder
	bb.Reset(make([]byte, 0, 20<<10))
	ts := int64(1_700_000_000_000)
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for i := range b.N {
		if bb.Size() >= 16<<10 {
			bb.Reset(bb.buf)
		}
		bb.Append(ts+int64(i&7), key, value, nil)
	}
}

func BenchmarkSizeWithAppend100B(b *testing.B) {
	value := btText(btRand(30), 100)
	key := []byte("key-0001")
	var bb BatchBuilder
	bb.Reset(make([]byte, 0, 20<<10))
	ts := int64(1_700_000_000_000)
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for i := range b.N {
		if bb.SizeWith(ts, key, value, nil) > 16<<10 {
			bb.Reset(bb.buf)
		}
		bb.Append(ts+int64(i&7), key, value, nil)
	}
}

// btBenchBuilder fills a builder with log-like records (a few hundred bytes each, moderately
// compressible) up to size bytes.
func btBenchBuilder(size int) *BatchBuilder {
	rng := btRand(31)
	bb := new(BatchBuilder)
	ts := int64(1_700_000_000_000)
	hdr := []Header{{"trace-id", []byte("0af7651916cd43dd8448eb211c80319c")}}
	for i := 0; ; i++ {
		key := fmt.Appendf(nil, "user-%d", rng.IntN(1000))
		value := btText(rng, 100+rng.IntN(400))
		if bb.SizeWith(ts, key, value, hdr) > size {
			return bb
		}
		bb.Append(ts+int64(i), key, value, hdr)
	}
}

// BenchmarkSeal measures sealing (CRC for none; compression plus CRC otherwise) of 16 KiB and
// 1 MiB batches at each codec's default level. MB/s is of uncompressed batch bytes.
func BenchmarkSeal(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"16KiB", 16 << 10}, {"1MiB", 1 << 20}} {
		bb := btBenchBuilder(size.n)
		for _, c := range btCodecs {
			b.Run(size.name+"/"+c.String(), func(b *testing.B) {
				dst := make([]byte, 0, 2*size.n)
				opts := SealOptions{Codec: c, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1}
				out, err := bb.Seal(dst, opts)
				if err != nil {
					b.Fatal(err)
				}
				ratio := float64(len(out)) / float64(bb.Size())
				b.SetBytes(int64(bb.Size()))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := bb.Seal(dst, opts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(ratio, "size-ratio")
			})
		}
	}
}
