package tests

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kastor-go/kastor"
)

// BenchmarkSendAsyncNoMetrics and BenchmarkSendAsyncMetrics are BenchmarkRecordPath's
// kastor/idempotent case without and with a MeterProvider (an SDK provider with a ManualReader,
// collected once at the end): metrics are recorded per batch, request and connection event, so
// the two should not differ per record beyond noise. Run with
//
//	go test ./tests -run xxx -bench SendAsync -benchmem -count 5
func BenchmarkSendAsyncNoMetrics(b *testing.B) {
	benchKastor(b, make([]byte, 100), func(*kastor.Config) {})
}

func BenchmarkSendAsyncMetrics(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	benchKastor(b, make([]byte, 100), func(cfg *kastor.Config) { cfg.MeterProvider = mp })
}
