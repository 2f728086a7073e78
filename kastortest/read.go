package kastortest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Read returns every record of topic up to the partitions' current ends, ordered by partition and
// then offset, read with a fresh kgo consumer (a client independent of kastor). Records still in
// a producer's buffers are not there yet: Flush the producer first, or use ReadAtLeast.
func (c *Cluster) Read(ctx context.Context, topic string) ([]*kgo.Record, error) {
	infos := c.kf.PartitionInfos(topic)
	if infos == nil {
		return nil, fmt.Errorf("kastortest: reading %q: no such topic", topic)
	}
	want := int64(0)
	for _, p := range infos {
		want += p.HighWatermark - p.LogStartOffset
	}
	return c.read(ctx, topic, int(want))
}

// ReadAtLeast waits until topic holds at least n records and returns them all (n or more),
// ordered by partition and then offset, read with a fresh kgo consumer. It gives up when ctx
// ends, returning what it read with the error.
func (c *Cluster) ReadAtLeast(ctx context.Context, topic string, n int) ([]*kgo.Record, error) {
	if c.kf.PartitionInfos(topic) == nil {
		return nil, fmt.Errorf("kastortest: reading %q: no such topic", topic)
	}
	return c.read(ctx, topic, n)
}

func (c *Cluster) read(ctx context.Context, topic string, n int) ([]*kgo.Record, error) {
	if n <= 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.Addrs()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), // an empty partition answers soon, not after 5 s
	)
	if err != nil {
		return nil, fmt.Errorf("kastortest: reading %q: %w", topic, err)
	}
	defer cl.Close()
	var out []*kgo.Record
	var lastErr error // kgo reports fetch errors and keeps retrying: say the last one if we give up
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			sortRecords(out)
			if lastErr != nil {
				return out, fmt.Errorf("kastortest: reading %q: read %d of %d records: %w (last fetch error: %v)", topic, len(out), n, err, lastErr)
			}
			return out, fmt.Errorf("kastortest: reading %q: read %d of %d records: %w", topic, len(out), n, err)
		}
		fs.EachError(func(t string, p int32, err error) { lastErr = fmt.Errorf("%s-%d: %w", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	sortRecords(out)
	return out, nil
}

func sortRecords(rs []*kgo.Record) {
	slices.SortFunc(rs, func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
}

// Records is Read for a test or benchmark, bounded by ReadTimeout: it fails tb on error.
func (c *Cluster) Records(tb testing.TB, topic string) []*kgo.Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.readTimeout)
	defer cancel()
	rs, err := c.Read(ctx, topic)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// ReadN is ReadAtLeast for a test or benchmark, bounded by ReadTimeout: it fails tb if fewer than
// n records arrive in time.
func (c *Cluster) ReadN(tb testing.TB, topic string, n int) []*kgo.Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.readTimeout)
	defer cancel()
	rs, err := c.ReadAtLeast(ctx, topic, n)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}
