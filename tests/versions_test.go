package tests

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/wire"
)

// TestZstdRefusedBelowProduceV7: a Kafka 2.0 broker speaks Produce up to v6, which cannot carry
// zstd (Kafka 2.1, KIP-110). kastor refuses the batches itself, as the Java client does: every
// record fails with an error that is ErrUnsupportedCompressionType and names the codec and the
// broker's Produce version, and nothing reaches the log.
func TestZstdRefusedBelowProduceV7(t *testing.T) {
	c := newCluster(t, kfake.MaxVersions(kversion.V2_0_0()), kfake.SeedTopics(2, "z"))
	p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Compression = kastor.CompressionZstd })
	ctx := context.Background()
	comp := newCompletions()
	const n = 20
	for i := range n {
		p.SendAsync(ctx, &kastor.Record{Topic: "z", Value: value(i)}, comp.callback(i))
	}
	p.Flush(ctx)
	comp.wait(t, 30*time.Second)
	for i := range n {
		err := comp.get(i).err
		if !errors.Is(err, wire.ErrUnsupportedCompressionType) {
			t.Fatalf("record %d: %v, want ErrUnsupportedCompressionType", i, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "zstd") || !strings.Contains(msg, "Produce up to v6") {
			t.Fatalf("record %d: error %q does not name the codec and the broker's Produce version", i, msg)
		}
	}
	if got := consumeAll(t, c, "z"); len(got) != 0 {
		t.Fatalf("zstd records reached the log: %v", got)
	}
}

// TestTimestampOfUnstampedRecord: a record sent without a timestamp reports the one it was sent
// with (resolved at send), which is exactly what a CreateTime topic stores and a consumer reads.
func TestTimestampOfUnstampedRecord(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "ts"))
	p := newProducer(t, c, nil)
	ctx := context.Background()
	comp := newCompletions()
	const n = 10
	for i := range n {
		p.SendAsync(ctx, &kastor.Record{Topic: "ts", Value: value(i)}, comp.callback(i))
		time.Sleep(time.Millisecond) // distinct send times
	}
	p.Flush(ctx)
	comp.wait(t, 30*time.Second)
	got := consumeAll(t, c, "ts")[0]
	if len(got) != n {
		t.Fatalf("read back %d records", len(got))
	}
	for i, r := range got {
		res := comp.get(i)
		if res.err != nil {
			t.Fatal(res.err)
		}
		if !res.md.Timestamp.Equal(r.Timestamp) || r.Timestamp.IsZero() {
			t.Fatalf("record %d: reported %v, stored %v", i, res.md.Timestamp, r.Timestamp)
		}
	}
}
