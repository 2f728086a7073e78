package kastortest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
)

// BrokerDown takes a broker down: its open connections are closed and every new one is closed as
// soon as it is accepted, so the producer sees broken connections and failed connects as it would
// with a dead broker. If other brokers are alive the node also leaves the cluster and its
// partitions get new leaders among them (chosen at random by kfake, as an election would); the
// last broker alive stays the leader of its partitions, unreachable until BrokerUp. Taking a node
// down twice is an error.
func (c *Cluster) BrokerDown(node int32) error {
	c.mu.Lock()
	if _, ok := c.ports[node]; !ok {
		c.mu.Unlock()
		return fmt.Errorf("kastortest: BrokerDown(%d): no such node", node)
	}
	if c.down[node] {
		c.mu.Unlock()
		return fmt.Errorf("kastortest: BrokerDown(%d): the node is already down", node)
	}
	c.down[node] = true
	alive := 0
	for n := range c.ports {
		if !c.down[n] {
			alive++
		}
	}
	port := c.ports[node]
	c.mu.Unlock()
	c.listeners.setDown(port, true)
	// kfake's own calls run on its goroutine, which also runs controls: never call it holding mu.
	if alive == 0 {
		return nil
	}
	if err := c.kf.RemoveNode(node); err != nil {
		c.listeners.setDown(port, false)
		c.mu.Lock()
		delete(c.down, node)
		c.mu.Unlock()
		return fmt.Errorf("kastortest: BrokerDown(%d): %w", node, err)
	}
	c.mu.Lock()
	c.removed[node] = true
	c.mu.Unlock()
	return nil
}

// BrokerUp brings a node taken down by BrokerDown back, on its old address when the port is still
// free (on a new one otherwise, which the producer learns from metadata). A node that had left the
// cluster comes back leading no partition, as a restarted Kafka broker does until a leader
// election gives it some (MoveLeader).
func (c *Cluster) BrokerUp(node int32) error {
	c.mu.Lock()
	if !c.down[node] {
		c.mu.Unlock()
		return fmt.Errorf("kastortest: BrokerUp(%d): the node is not down", node)
	}
	removed, port := c.removed[node], c.ports[node]
	c.mu.Unlock()
	if removed {
		_, got, err := c.kf.AddNode(node, port)
		if err != nil {
			// Someone took the port meanwhile: any port will do.
			if _, got, err = c.kf.AddNode(node, 0); err != nil {
				return fmt.Errorf("kastortest: BrokerUp(%d): %w", node, err)
			}
		}
		port = got
	} else {
		c.listeners.setDown(port, false)
	}
	c.mu.Lock()
	c.ports[node] = port
	delete(c.removed, node)
	delete(c.down, node)
	c.mu.Unlock()
	return nil
}

// MoveLeader makes node the leader of a partition (its leader epoch goes up): the old leader
// answers the next produce with NOT_LEADER_OR_FOLLOWER.
func (c *Cluster) MoveLeader(topic string, partition, node int32) error {
	if err := c.kf.MoveTopicPartition(topic, partition, node); err != nil {
		return fmt.Errorf("kastortest: MoveLeader(%s-%d to %d): %w", topic, partition, node, err)
	}
	return nil
}

// A Fault is an injected fault: wait until it has struck, count how often it has, or end it.
type Fault struct {
	hits   func() int
	wait   func(context.Context, int) error
	remove func()
}

// Hits reports how many requests the fault has answered so far.
func (f *Fault) Hits() int { return f.hits() }

// Wait blocks until the fault has answered at least n requests, or ctx ends (returning its error).
func (f *Fault) Wait(ctx context.Context, n int) error { return f.wait(ctx, n) }

// Remove ends the fault; requests are answered normally from then on.
func (f *Fault) Remove() { f.remove() }

// FailProduce answers the next n Produce requests that carry the topic with code instead of
// writing them (n = -1: every one until Remove). Every partition of the topic in such a request
// gets the code; the records are not written. With a retriable code (kastor.ErrNotEnoughReplicas,
// kastor.ErrNotLeaderOrFollower, ...) the producer retries and delivers every record once; with
// another it fails the records with that error.
func (c *Cluster) FailProduce(topic string, code *kastor.KafkaError, n int) (*Fault, error) {
	if code == nil {
		return nil, errors.New("kastortest: FailProduce: nil error code")
	}
	if n == 0 || n < -1 {
		return nil, fmt.Errorf("kastortest: FailProduce: n = %d, want a count above 0 or -1 for every request", n)
	}
	var kerrCode *kerr.Error
	if !errors.As(kerr.ErrorForCode(code.Code), &kerrCode) || kerrCode.Code != code.Code {
		// Code 0 is no error; an unknown code would turn into UNKNOWN_SERVER_ERROR.
		return nil, fmt.Errorf("kastortest: FailProduce: code %d (%s) is not an error kfake can answer with", code.Code, code.Name)
	}
	h := c.kf.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerrCode, Count: n})
	return &Fault{hits: h.Hits, wait: h.Wait, remove: h.Remove}, nil
}

// SlowProduce answers the next n Produce requests only after d (n = -1: every one until Remove);
// the request is then written and answered as usual. Requests to other brokers, and other requests
// to the same broker, go on meanwhile, but a connection answers its requests in order, so the
// requests behind a slow one on its connection wait for it.
func (c *Cluster) SlowProduce(d time.Duration, n int) (*Fault, error) {
	if d <= 0 {
		return nil, fmt.Errorf("kastortest: SlowProduce: delay %v, want above 0", d)
	}
	if n == 0 || n < -1 {
		return nil, fmt.Errorf("kastortest: SlowProduce: n = %d, want a count above 0 or -1 for every request", n)
	}
	f := &delayFault{d: d, left: n, changed: make(chan struct{})}
	c.controlOnce.Do(func() { c.kf.ControlKey(int16(kmsg.Produce), c.delayProduce) })
	c.mu.Lock()
	c.delays = append(c.delays, f)
	c.mu.Unlock()
	return &Fault{
		hits: f.hitCount,
		wait: f.waitHits,
		remove: func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			for i, g := range c.delays {
				if g == f {
					c.delays = append(c.delays[:i], c.delays[i+1:]...)
					break
				}
			}
		},
	}, nil
}

// delayFault counts the requests SlowProduce has delayed.
type delayFault struct {
	d       time.Duration
	mu      sync.Mutex
	left    int           // requests still to delay; -1: no limit
	hits    int           // requests delayed so far
	changed chan struct{} // closed and replaced at each hit
}

// take reports whether the fault delays one more request, and counts it.
func (f *delayFault) take() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left == 0 {
		return false
	}
	if f.left > 0 {
		f.left--
	}
	f.hits++
	close(f.changed)
	f.changed = make(chan struct{})
	return true
}

func (f *delayFault) hitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *delayFault) waitHits(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		hits, changed := f.hits, f.changed
		f.mu.Unlock()
		if hits >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
