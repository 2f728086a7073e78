package metrics

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kastor-go/kastor/messages"
)

// BenchmarkBatch is what one acknowledged batch costs the recorder (seal, request sent and
// answered, completion): nil (no recorder), counters only (no MeterProvider: what Stats needs),
// and counters with an SDK MeterProvider.
func BenchmarkBatch(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())
	withOtel, err := New(mp, func() (int64, int64) { return 0, 1 })
	if err != nil {
		b.Fatal(err)
	}
	defer withOtel.Close()
	counters, _ := New(nil, nil)
	batches := []*messages.Batch{{Records: 100}}
	for _, c := range []struct {
		name string
		r    *Recorder
	}{{"nil", nil}, {"counters", counters}, {"otel", withOtel}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.r.RecordsTaken(100)
				c.r.BatchSealed("bench", 4000, 4000, 0)
				sent := c.r.RequestSent(batches)
				c.r.RequestDone(sent, batches, nil, nil)
				c.r.BatchCompleted("bench", 100, nil)
			}
		})
	}
}
