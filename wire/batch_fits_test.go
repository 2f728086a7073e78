package wire

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AppendIfFits takes a record exactly when SizeWith says it fits, and a refused record leaves the
// batch byte-for-byte as it was (kmsg still parses it, with the right count and max timestamp).
func TestAppendIfFitsMatchesSizeWith(t *testing.T) {
	const limit = 1000
	var b BatchBuilder
	b.Reset(nil)
	for i := 0; i < 200; i++ {
		key := bytes.Repeat([]byte{'k'}, i%7)
		val := bytes.Repeat([]byte{'v'}, 10+i%90)
		ts := int64(1_000_000 + 1000*i) // grows: a refused record must not raise the max timestamp
		fits := b.NumRecords() == 0 || b.SizeWith(ts, key, val, nil) <= limit
		before := append([]byte(nil), b.buf...)
		n := b.NumRecords()
		if got := b.AppendIfFits(limit, ts, key, val, nil); got != fits {
			t.Fatalf("record %d: AppendIfFits = %v, SizeWith says %v", i, got, fits)
		}
		if !fits {
			if !bytes.Equal(before, b.buf) || b.NumRecords() != n {
				t.Fatalf("record %d: a refused record changed the batch", i)
			}
			break
		}
	}
	if b.Size() > limit {
		t.Fatalf("batch of %d bytes exceeds %d", b.Size(), limit)
	}
	wantMax := b.maxTs
	out, err := b.Seal(nil, SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1})
	if err != nil {
		t.Fatal(err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(out); err != nil {
		t.Fatal(err)
	}
	if int(kb.NumRecords) != b.NumRecords() || kb.MaxTimestamp != wantMax {
		t.Fatalf("kmsg sees %d records, max timestamp %d; want %d, %d", kb.NumRecords, kb.MaxTimestamp, b.NumRecords(), wantMax)
	}
	rb, _, err := DecodeRecordBatch(out, 1<<20)
	if err != nil || len(rb.Records) != b.NumRecords() {
		t.Fatalf("decode: %v, %d records", err, len(rb.Records))
	}
}

// An empty batch takes any record, however large.
func TestAppendIfFitsTakesAnOversizeFirstRecord(t *testing.T) {
	var b BatchBuilder
	b.Reset(nil)
	if !b.AppendIfFits(100, 1, nil, make([]byte, 500), nil) || b.NumRecords() != 1 {
		t.Fatal("an empty batch refused a record")
	}
	if b.AppendIfFits(100, 1, nil, []byte("x"), nil) {
		t.Fatal("a full batch took another record")
	}
}

func BenchmarkAppendIfFits100B(b *testing.B) {
	val := bytes.Repeat([]byte{'v'}, 100)
	buf := make([]byte, 0, 16384+AppendSlack)
	var bb BatchBuilder
	bb.Reset(buf)
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !bb.AppendIfFits(16384, int64(i), nil, val, nil) {
			bb.Reset(buf)
			bb.Append(int64(i), nil, val, nil)
		}
	}
}
