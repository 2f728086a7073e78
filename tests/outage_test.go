package tests

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
)

// cutNodes installs a control that closes the connection of every request to a node in down
// (node -1 means all nodes), the way a dead broker looks to a client whose sockets stay open.
func cutNodes(c *kfake.Cluster, down *atomic.Int32) {
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if d := down.Load(); d == -1 || d == c.CurrentNode() {
			return nil, errors.New("node down"), true
		}
		return nil, nil, false
	})
}

// A leader is removed (its connections cut) and added back while records flow, with 5 requests
// in flight: they move to the new leaders and all arrive once, in order.
func TestBrokerRemovedAndAddedBack(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(2, "t"))
	var down atomic.Int32
	down.Store(-2) // nobody
	cutNodes(c, &down)
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.RetryBackoff = 10 * time.Millisecond
		cfg.ReconnectBackoff = 10 * time.Millisecond
		cfg.ReconnectBackoffMax = 100 * time.Millisecond
	})
	node := c.LeaderFor("t", 0)
	go func() {
		time.Sleep(100 * time.Millisecond)
		down.Store(node)
		c.RemoveNode(node)
		time.Sleep(300 * time.Millisecond)
		down.Store(-2)
		c.AddNode(node, 0)
	}()
	comp := sendN(t, p, "t", 4000, 10*time.Millisecond)
	for i := 0; i < 4000; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	checkLog(t, c, "t", 4000, comp, true)
	checkSequences(t, c, "t")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Every broker is unreachable for longer than DeliveryTimeout: records fail with
// ErrDeliveryTimeout, the producer waits without spinning, and once the brokers are back new
// records flow again.
func TestAllBrokersDownLongerThanDeliveryTimeout(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(2), kfake.SeedTopics(2, "t"))
	var down atomic.Int32
	down.Store(-2)
	cutNodes(c, &down)
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.RequestTimeout = 300 * time.Millisecond
		cfg.DeliveryTimeout = 800 * time.Millisecond
		cfg.Linger = 0
	})
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)}); err != nil {
		t.Fatal(err)
	}
	down.Store(-1)
	comp := newCompletions()
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < 50; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(i)}, comp.callback(i))
	}
	comp.wait(t, 10*time.Second)
	time.Sleep(time.Second) // stay down a while longer: reconnect attempts must back off
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	for i := 0; i < 50; i++ {
		if err := comp.get(i).err; !errors.Is(err, kastor.ErrDeliveryTimeout) {
			t.Fatalf("record %d: got %v, want ErrDeliveryTimeout", i, err)
		}
	}
	// A busy loop would burn a core (cpu ≈ wall); waiting costs next to nothing.
	if cpu > wall/2 {
		t.Fatalf("used %v of CPU in %v while every broker was down", cpu, wall)
	}
	t.Logf("CPU %v in %v while down", cpu, wall)
	down.Store(-2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := p.Send(ctx, &kastor.Record{Topic: "t", Value: value(99)})
	if err != nil {
		t.Fatalf("after the brokers came back: %v", err)
	}
	if md.Offset < 1 && md.Partition == 0 {
		t.Logf("written at %d@%d", md.Partition, md.Offset)
	}
	checkStatsSettled(t, p, 52, 50)
}

// Close while every broker is down returns when its context ends, fails every record with an
// error, and leaves no goroutine behind (goleak checks the whole package at exit).
func TestCloseWhileBrokersAreDown(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	var down atomic.Int32
	down.Store(-2)
	cutNodes(c, &down)
	p := newProducer(t, c, nil)
	if _, err := p.Send(context.Background(), &kastor.Record{Topic: "t", Value: value(0)}); err != nil {
		t.Fatal(err)
	}
	down.Store(-1)
	comp := newCompletions()
	for i := 0; i < 100; i++ {
		p.SendAsync(context.Background(), &kastor.Record{Topic: "t", Value: value(i)}, comp.callback(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Close(ctx); err == nil {
		t.Fatal("Close reported success with every broker down")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	comp.wait(t, time.Second)
	for i := 0; i < 100; i++ {
		if err := comp.get(i).err; !errors.Is(err, kastor.ErrProducerClosed) {
			t.Fatalf("record %d: got %v, want ErrProducerClosed", i, err)
		}
	}
	checkStatsSettled(t, p, 101, 100)
	if st := p.Stats(); st.Connections != 0 {
		t.Fatalf("%d connections open after Close", st.Connections)
	}
}
