package actors

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

func (e *env) newConnection(dial func(ctx context.Context, network, addr string) (net.Conn, error), requestTimeout time.Duration) *actor.PID {
	return e.newConnectionConfig(connectionConfig{Dial: dial, RequestTimeout: requestTimeout})
}

func (e *env) newConnectionConfig(cfg connectionConfig) *actor.PID {
	cfg.Node, cfg.Addr, cfg.ClientID, cfg.SetupTimeout = 1, "b1:9092", "kastor-test", 2*time.Second
	return e.spawn(newConnectionProps(e.shared, cfg))
}

func metadataCallFor(topics ...string) *wire.MetadataRequest {
	req := &wire.MetadataRequest{Topics: []wire.MetadataRequestTopic{}}
	for _, t := range topics {
		name := t
		req.Topics = append(req.Topics, wire.MetadataRequestTopic{Name: &name})
	}
	return req
}

// TestConnectionRoundTrip: Calls are written after the handshake, answered in order, each with its
// tag, the negotiated version and the decoded response.
func TestConnectionRoundTrip(t *testing.T) {
	e := newEnv(t, testSettings())
	fb := newFakeBroker(t, func(req kmsg.Request) reply {
		return reply{resp: metadataAnswer(req.(*kmsg.MetadataRequest), nil)}
	})
	conn := e.newConnection(fb.dial, 5*time.Second)
	caller := e.newProbe()
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: "first"})
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("b", "c"), ReplyTo: caller.pid, Tag: "second"})
	for _, want := range []struct {
		tag    string
		topics int
	}{{"first", 1}, {"second", 2}} {
		done := expectMsg[*messages.CallDone](t, caller)
		if done.Tag != want.tag || done.Err != nil || done.Node != 1 || done.Version != 12 {
			t.Fatalf("CallDone %+v, want tag %q answered at v12", done, want.tag)
		}
		resp, ok := done.Resp.(*wire.MetadataResponse)
		if !ok || len(resp.Brokers) != 1 || resp.Brokers[0].Host != "b1" || len(resp.Topics) != want.topics {
			t.Fatalf("response %+v", done.Resp)
		}
	}
	if n := len(fb.dials); n != 1 {
		t.Errorf("dialled %d times, want once", n)
	}
}

// TestConnectionProduce: a produce request carries the batch bytes unchanged; with acks=0 it
// completes once written, with no response.
func TestConnectionProduce(t *testing.T) {
	e := newEnv(t, testSettings())
	fb := newFakeBroker(t, func(req kmsg.Request) reply {
		pr := req.(*kmsg.ProduceRequest)
		if pr.Acks == 0 {
			return reply{}
		}
		return reply{resp: produceAnswer(42, func(add func(string, int32)) {
			for _, rt := range pr.Topics {
				for _, rp := range rt.Partitions {
					add(rt.Topic, rp.Partition)
				}
			}
		})}
	})
	conn := e.newConnection(fb.dial, 5*time.Second)
	caller := e.newProbe()
	data := sealedBatch(t, 3)
	produce := func(acks int16) *wire.ProduceRequest {
		return &wire.ProduceRequest{Acks: acks, TimeoutMillis: 1000, Topics: []wire.ProduceTopic{
			{Name: "t", Partitions: []wire.ProducePartition{{Partition: 2, Records: data}}}}}
	}

	e.sys.Root.Send(conn, &messages.Call{Req: produce(0), ReplyTo: caller.pid, Tag: 0})
	done := expectMsg[*messages.CallDone](t, caller)
	if done.Tag != 0 || done.Err != nil || done.Resp != nil {
		t.Fatalf("acks=0 CallDone %+v, want written with no response", done)
	}
	got := (<-fb.reqs).(*kmsg.ProduceRequest)
	if len(got.Topics) != 1 || got.Topics[0].Topic != "t" || len(got.Topics[0].Partitions) != 1 ||
		got.Topics[0].Partitions[0].Partition != 2 || !bytes.Equal(got.Topics[0].Partitions[0].Records, data) {
		t.Fatalf("broker got %+v, want t-2 with the batch bytes", got.Topics)
	}

	e.sys.Root.Send(conn, &messages.Call{Req: produce(-1), ReplyTo: caller.pid, Tag: 1})
	done = expectMsg[*messages.CallDone](t, caller)
	resp, ok := done.Resp.(*wire.ProduceResponse)
	if done.Tag != 1 || done.Err != nil || !ok || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].BaseOffset != 42 {
		t.Fatalf("acks=-1 CallDone %+v (%+v), want offset 42", done, done.Resp)
	}
}

// TestConnectionRequestTimeout: a request the broker does not answer within RequestTimeout fails
// with ErrRequestTimeout (retriable); the next Call dials a new connection.
func TestConnectionRequestTimeout(t *testing.T) {
	e := newEnv(t, testSettings())
	var answer atomic.Bool
	fb := newFakeBroker(t, func(req kmsg.Request) reply {
		if !answer.Load() {
			return reply{}
		}
		return reply{resp: metadataAnswer(req.(*kmsg.MetadataRequest), nil)}
	})
	conn := e.newConnection(fb.dial, 100*time.Millisecond)
	caller := e.newProbe()
	start := time.Now()
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: 1})
	done := expectMsg[*messages.CallDone](t, caller)
	if !errors.Is(done.Err, messages.ErrRequestTimeout) || !classify(done.Err).retry || done.Tag != 1 {
		t.Fatalf("CallDone %+v, want a request timeout", done)
	}
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond {
		t.Fatalf("timed out after %v, before the request timeout", elapsed)
	}
	<-fb.reqs
	answer.Store(true)
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: 2})
	done = expectMsg[*messages.CallDone](t, caller)
	if done.Err != nil || done.Tag != 2 {
		t.Fatalf("CallDone %+v after reconnecting", done)
	}
	if n := len(fb.dials); n != 2 {
		t.Errorf("dialled %d times, want twice", n)
	}
}

// TestConnectionBrokerCloses: the broker closing the connection fails the request in flight with
// a retriable connection error.
func TestConnectionBrokerCloses(t *testing.T) {
	e := newEnv(t, testSettings())
	fb := newFakeBroker(t, func(kmsg.Request) reply { return reply{close: true} })
	conn := e.newConnection(fb.dial, 5*time.Second)
	caller := e.newProbe()
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: "x"})
	done := expectMsg[*messages.CallDone](t, caller)
	if !errors.Is(done.Err, messages.ErrConnection) || done.Tag != "x" {
		t.Fatalf("CallDone %+v, want a connection error", done)
	}
}

// TestConnectionStopAnswersQueued: stopping a connection answers the Calls it holds.
func TestConnectionStopAnswersQueued(t *testing.T) {
	e := newEnv(t, testSettings())
	dialed := make(chan string, 4)
	release := make(chan struct{})
	defer close(release)
	conn := e.newConnection(failingDial(dialed, release), 5*time.Second)
	caller := e.newProbe()
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: "held"})
	<-dialed // the Call is queued behind the dial
	e.stop(conn)
	done := expectMsg[*messages.CallDone](t, caller)
	if !errors.Is(done.Err, messages.ErrConnection) || done.Tag != "held" {
		t.Fatalf("CallDone %+v, want a connection error", done)
	}
}

// TestConnectionCorruptResponse: a response that does not decode fails the request with a
// connection error, and the next Call gets a fresh connection.
func TestConnectionCorruptResponse(t *testing.T) {
	e := newEnv(t, testSettings())
	var calls atomic.Int32
	fb := newFakeBroker(t, func(req kmsg.Request) reply {
		if calls.Add(1) == 1 {
			return reply{raw: []byte{0, 0xff, 0xff}} // a header tag byte, then a truncated body
		}
		return reply{resp: metadataAnswer(req.(*kmsg.MetadataRequest), nil)}
	})
	conn := e.newConnection(fb.dial, 5*time.Second)
	caller := e.newProbe()
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: 1})
	if done := expectMsg[*messages.CallDone](t, caller); !errors.Is(done.Err, messages.ErrConnection) || done.Tag != 1 {
		t.Fatalf("CallDone %+v, want a connection error", done)
	}
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: 2})
	if done := expectMsg[*messages.CallDone](t, caller); done.Err != nil || done.Tag != 2 {
		t.Fatalf("CallDone %+v after the corrupt response, want an answer", done)
	}
	if n := len(fb.dials); n != 2 {
		t.Errorf("dialled %d times, want twice", n)
	}
}

// TestConnectionClosesWhenIdle: with MaxIdle, a connection that carried nothing for that long is
// closed, and the next Call dials again.
func TestConnectionClosesWhenIdle(t *testing.T) {
	e := newEnv(t, testSettings())
	fb := newFakeBroker(t, func(req kmsg.Request) reply {
		return reply{resp: metadataAnswer(req.(*kmsg.MetadataRequest), nil)}
	})
	conn := e.newConnectionConfig(connectionConfig{Dial: fb.dial, RequestTimeout: 5 * time.Second, MaxIdle: 30 * time.Millisecond})
	caller := e.newProbe()
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: 1})
	if done := expectMsg[*messages.CallDone](t, caller); done.Err != nil {
		t.Fatalf("CallDone %+v", done)
	}
	select {
	case <-fb.closed:
	case <-time.After(waitLimit):
		t.Fatal("the idle connection was not closed")
	}
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: 2})
	if done := expectMsg[*messages.CallDone](t, caller); done.Err != nil || done.Tag != 2 {
		t.Fatalf("CallDone %+v after the idle close", done)
	}
	if n := len(fb.dials); n != 2 {
		t.Errorf("dialled %d times, want twice", n)
	}
}
