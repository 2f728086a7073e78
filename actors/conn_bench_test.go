package actors

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/bufferpool"
	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// BenchmarkConnectionSink measures one batch through a produce connection: Batch in, one Produce
// request written, its response read, BatchDone back to the accumulator. The broker is a pipe
// answering every request at once with canned bytes, so what is measured is the connection's own
// work (actor, core, encoding, decoding) and its allocations per request.
func BenchmarkConnectionSink(b *testing.B) {
	sys := quietSystem()
	completer := NewCompleter(nil, func(int64) {}, discardLogger)
	set := testSettings()
	shared := NewShared(set, discardLogger, bufferpool.NewBudget(1<<30), completer)
	shared.publish(&Cluster{Brokers: map[int32]string{1: "b1:9092"}, Topics: map[string]*TopicInfo{"t": topicWithLeaders(0xA, 1)}})

	var serving sync.WaitGroup
	dial := func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		serving.Add(1)
		go func() {
			defer serving.Done()
			defer server.Close()
			benchServe(server)
		}()
		return client, nil
	}

	// At most window batches are out, as accumulators keep a few per partition: the sink scans
	// its pending batches for each request.
	const window = 64
	slots := make(chan struct{}, window)
	var answered atomic.Int64
	all := make(chan struct{})
	acc := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*messages.BatchDone); ok {
			<-slots
			if answered.Add(1) == int64(b.N) {
				close(all)
			}
		}
	}))
	cfg := connectionTo(set, 1, "b1:9092")
	cfg.Dial, cfg.Produce = dial, true
	conn := sys.Root.Spawn(newConnectionProps(shared, cfg))

	var bb wire.BatchBuilder
	bb.Reset(nil)
	bb.Append(1000, nil, make([]byte, 100), nil)
	data, err := bb.Seal(nil, wire.SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1})
	if err != nil {
		b.Fatal(err)
	}
	batches := make([]*messages.Batch, b.N)
	for i := range batches {
		batches[i] = &messages.Batch{TP: tp("t", 0), Accumulator: acc, BatchID: uint64(i), Data: data, Records: 1}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, batch := range batches {
		slots <- struct{}{}
		sys.Root.Send(conn, batch)
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d batches answered", answered.Load(), b.N)
	}
	b.StopTimer()
	_ = sys.Root.StopFuture(conn).Wait()
	_ = sys.Root.StopFuture(acc).Wait()
	completer.Stop()
	shared.Goroutines.Wait()
	serving.Wait()
	shared.Dispatcher.Stop()
	sys.Shutdown()
}

// benchServe answers ApiVersions and every Produce request (t-0, offset 0) until the pipe closes.
func benchServe(conn net.Conn) {
	produce := kmsg.NewPtrProduceResponse()
	pt := kmsg.NewProduceResponseTopic()
	pt.Topic = "t"
	pt.Partitions = append(pt.Partitions, kmsg.NewProduceResponseTopicPartition())
	produce.Topics = append(produce.Topics, pt)
	var out []byte
	for {
		frame, err := readFrame(conn)
		if err != nil {
			return
		}
		key, version := int16(binary.BigEndian.Uint16(frame[0:])), int16(binary.BigEndian.Uint16(frame[2:]))
		out = binary.BigEndian.AppendUint32(append(out[:0], 0, 0, 0, 0), binary.BigEndian.Uint32(frame[4:]))
		if key == 18 {
			resp := apiVersionsResponse()
			resp.SetVersion(version)
			out = resp.AppendTo(out)
		} else {
			produce.SetVersion(version)
			out = append(out, 0) // flexible header
			out = produce.AppendTo(out)
		}
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}
