package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// TestVersionMatrix: kastor against kfake capped at the API ranges of Kafka releases people run,
// and uncapped. For each, every codec the release allows (zstd from 2.1) produces a few records
// that kgo reads back intact, at the Produce version the two sides share (kastor speaks v3–v13,
// so the broker's newest up to 13), observed on the broker. Kafka 0.10.2 (Produce up to v2, no
// RecordBatch v2) gets a clear error at once.
func TestVersionMatrix(t *testing.T) {
	cases := []struct {
		name string
		cap  *kversion.Versions // nil: uncapped
	}{
		{"0.11", kversion.V0_11_0()},
		{"1.0", kversion.V1_0_0()},
		{"2.1", kversion.V2_1_0()},
		{"2.8", kversion.V2_8_0()},
		{"3.0", kversion.V3_0_0()},
		{"3.7", kversion.V3_7_0()},
		{"4.0", kversion.V4_0_0()},
		{"newest", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []kfake.Opt
			want := int16(13)
			if tc.cap != nil {
				opts = append(opts, kfake.MaxVersions(tc.cap))
				brokerMax, ok := tc.cap.LookupMaxKeyVersion(0)
				if !ok {
					t.Fatal("no Produce in the cap")
				}
				want = min(brokerMax, 13)
			}
			codecs := []kastor.Codec{kastor.CompressionNone, kastor.CompressionGzip, kastor.CompressionSnappy, kastor.CompressionLZ4}
			if want >= 7 {
				codecs = append(codecs, kastor.CompressionZstd)
			}
			topics := make([]string, len(codecs))
			for i, codec := range codecs {
				topics[i] = "m-" + codec.String()
			}
			c := newCluster(t, append(opts, kfake.SeedTopics(2, topics...))...)
			var mu sync.Mutex
			seen := map[int16]int{}
			c.ControlKey(0, func(kr kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				mu.Lock()
				seen[kr.GetVersion()]++
				mu.Unlock()
				return nil, nil, false
			})
			for i, codec := range codecs {
				p := newProducer(t, c, func(cfg *kastor.Config) { cfg.Compression = codec })
				produceFew(t, c, p, topics[i], 6)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[want] == 0 {
				t.Fatalf("Produce versions seen %v, want only v%d", seen, want)
			}
		})
	}
	t.Run("0.10.2", func(t *testing.T) {
		c := newCluster(t, kfake.MaxVersions(kversion.V0_10_2()), kfake.SeedTopics(1, "old"))
		p := newProducer(t, c, func(cfg *kastor.Config) { cfg.MaxBlock = 5 * time.Second })
		start := time.Now()
		_, err := p.Send(context.Background(), &kastor.Record{Topic: "old", Value: []byte("v")})
		if !errors.Is(err, wire.ErrUnsupportedVersion) || !strings.Contains(err.Error(), "Produce") {
			t.Fatalf("error %v, want ErrUnsupportedVersion naming Produce", err)
		}
		if d := time.Since(start); d >= 5*time.Second {
			t.Fatalf("the error took %v (MaxBlock), want it at once", d)
		}
	})
}

// produceFew sends n keyed records to topic and checks that each is acknowledged and read back by
// kgo with its key, value and timestamp at the reported offset.
func produceFew(t *testing.T, c *kfake.Cluster, p *kastor.Producer, topic string, n int) {
	t.Helper()
	ctx := context.Background()
	comp := newCompletions()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i := range n {
		p.SendAsync(ctx, &kastor.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: value(i),
			Timestamp: base.Add(time.Duration(i) * time.Millisecond)}, comp.callback(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	comp.wait(t, 30*time.Second)
	stored := map[string]result{}
	total := 0
	for part, recs := range consumeAll(t, c, topic) {
		for _, r := range recs {
			if r.Partition != part {
				t.Fatalf("%s: record on partition %d listed under %d", topic, r.Partition, part)
			}
			stored[string(r.Value)] = result{md: kastor.RecordMetadata{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}}
			total++
		}
	}
	if total != n {
		t.Fatalf("%s: read back %d records, sent %d", topic, total, n)
	}
	for i := range n {
		res := comp.get(i)
		if res.err != nil {
			t.Fatalf("%s: record %d: %v", topic, i, res.err)
		}
		got, ok := stored[string(value(i))]
		want := base.Add(time.Duration(i) * time.Millisecond)
		if !ok || got.md.Partition != res.md.Partition || got.md.Offset != res.md.Offset ||
			!got.md.Timestamp.Equal(want) || !res.md.Timestamp.Equal(want) {
			t.Fatalf("%s: record %d reported %+v, stored %+v (found %v), sent at %v", topic, i, res.md, got.md, ok, want)
		}
	}
}
