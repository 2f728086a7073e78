package tests

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kastor-go/kastor"
)

// closeOnAck closes the producer from OnAcknowledgement (the completion goroutine, as a send
// callback) when it sees the record keyed "close".
type closeOnAck struct {
	p      *kastor.Producer
	once   sync.Once
	result chan error
}

func (*closeOnAck) OnSend(r *kastor.Record) *kastor.Record { return r }
func (c *closeOnAck) OnAcknowledgement(md kastor.RecordMetadata, err error) {
	if err != nil || md.Partition != 0 {
		return
	}
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.result <- c.p.Close(ctx)
	})
}

// Close from the completion goroutine is Java's close(0): the records still lingering fail with
// ErrProducerClosed at once, and Close returns instead of waiting for itself.
func TestCloseFromCallback(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	closer := &closeOnAck{result: make(chan error, 1)}
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Linger = time.Minute // the partition-1 records stay in their accumulator
		cfg.Interceptors = []kastor.Interceptor{closer}
	})
	closer.p = p
	const n = 50
	comp := newCompletions()
	for i := 0; i < n; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(1), Value: value(i)}, comp.callback(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Send does not linger: its acknowledgement reaches the interceptor, which closes.
	if _, err := p.Send(ctx, &kastor.Record{Topic: "t", Partition: kastor.PartitionOf(0), Value: []byte("close")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	select {
	case err := <-closer.result:
		if err != nil {
			t.Fatalf("Close from the callback: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close from the callback did not return")
	}
	comp.wait(t, 10*time.Second)
	for i := 0; i < n; i++ {
		if err := comp.get(i).err; !errors.Is(err, kastor.ErrProducerClosed) {
			t.Fatalf("record %d: %v, want ErrProducerClosed", i, err)
		}
	}
	// A Close from elsewhere waits until the producer has stopped, and reports the same outcome.
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var got error
	p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(0)}, func(_ kastor.RecordMetadata, err error) { got = err })
	if !errors.Is(got, kastor.ErrProducerClosed) {
		t.Fatalf("send after Close: %v, want ErrProducerClosed", got)
	}
}

// Send and Flush from a callback would wait for completions queued behind the callback: they fail
// at once with ErrInCallback. SendAsync from a callback works.
func TestSendFromCallback(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	p := newProducer(t, c, nil)
	type outcome struct{ send, flush, async error }
	got := make(chan outcome, 1)
	p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(0)}, func(_ kastor.RecordMetadata, err error) {
		if err != nil {
			got <- outcome{send: err}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var o outcome
		_, o.send = p.Send(ctx, &kastor.Record{Topic: "t", Value: value(1)})
		o.flush = p.Flush(ctx)
		done := make(chan error, 1)
		p.SendAsync(ctx, &kastor.Record{Topic: "t", Value: value(2)}, func(_ kastor.RecordMetadata, err error) { done <- err })
		go func() { got <- outcome{o.send, o.flush, <-done} }() // done completes after this callback returns
	})
	select {
	case o := <-got:
		if !errors.Is(o.send, kastor.ErrInCallback) {
			t.Fatalf("Send from a callback: %v, want ErrInCallback", o.send)
		}
		if !errors.Is(o.flush, kastor.ErrInCallback) {
			t.Fatalf("Flush from a callback: %v, want ErrInCallback", o.flush)
		}
		if o.async != nil {
			t.Fatalf("SendAsync from a callback: %v", o.async)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("callbacks did not complete")
	}
	recs := consumeAll(t, c, "t")[0]
	if len(recs) != 2 || string(recs[0].Value) != string(value(0)) || string(recs[1].Value) != string(value(2)) {
		t.Fatalf("topic holds %d records, want records 0 and 2", len(recs))
	}
}
