package kastortest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
)

// An Option configures a cluster made by Start or NewCluster.
type Option func(*options)

type options struct {
	brokers     int
	topics      []topicSpec
	readTimeout time.Duration
	kfake       []kfake.Opt
}

type topicSpec struct {
	name       string
	partitions int32
	configs    map[string]string
}

// Brokers sets how many brokers the cluster runs (default 1). Node IDs are 0 to n-1.
func Brokers(n int) Option { return func(o *options) { o.brokers = n } }

// Topic creates a topic with the given number of partitions when the cluster starts. Topics can
// also be made later with Cluster.CreateTopic.
func Topic(name string, partitions int32) Option {
	return func(o *options) { o.topics = append(o.topics, topicSpec{name: name, partitions: partitions}) }
}

// TopicWithConfigs is Topic with topic configs (max.message.bytes, say).
func TopicWithConfigs(name string, partitions int32, configs map[string]string) Option {
	return func(o *options) {
		o.topics = append(o.topics, topicSpec{name: name, partitions: partitions, configs: configs})
	}
}

// ReadTimeout bounds each read-back of the testing.TB helpers Records and ReadN (default 10 s):
// past it they fail the test instead of waiting for records that will not come.
func ReadTimeout(d time.Duration) Option { return func(o *options) { o.readTimeout = d } }

// KfakeOptions passes options to kfake itself (TLS, SASL users, broker configs, ...), except
// kfake.ListenFn: the cluster listens through its own function, to take brokers down.
func KfakeOptions(opts ...kfake.Opt) Option {
	return func(o *options) { o.kfake = append(o.kfake, opts...) }
}

// Cluster is an embedded Kafka-protocol cluster with the producers made on it. Its methods are
// safe for concurrent use.
type Cluster struct {
	kf          *kfake.Cluster
	addrs       []string // the brokers' addresses at start: bootstrap servers for producers and readers
	readTimeout time.Duration
	closing     chan struct{}
	// sleepers counts SlowProduce delays under way (guarded by mu): Close waits for them to
	// resume before it closes kfake. sleepersDone is signalled as each ends.
	sleepers     int
	sleepersDone *sync.Cond
	closeOnce    sync.Once

	listeners   *listeners
	controlOnce sync.Once

	mu        sync.Mutex
	ports     map[int32]int  // each node's port, to bring a node back on its address
	down      map[int32]bool // nodes taken down by BrokerDown
	removed   map[int32]bool // down nodes that also left the cluster
	delays    []*delayFault  // SlowProduce faults, oldest first
	producers []*kastor.Producer
	closed    bool
}

// Start starts a cluster (one broker unless Brokers says otherwise). Close it when done.
func Start(opts ...Option) (*Cluster, error) {
	o := options{brokers: 1, readTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.brokers < 1 {
		return nil, fmt.Errorf("kastortest: Brokers(%d): a cluster needs at least one broker", o.brokers)
	}
	ls := &listeners{byPort: map[int]*trackedListener{}}
	kopts := append([]kfake.Opt{kfake.NumBrokers(o.brokers)}, o.kfake...)
	kopts = append(kopts, kfake.ListenFn(ls.listen))
	kf, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kastortest: starting the cluster: %w", err)
	}
	c := &Cluster{
		kf:          kf,
		addrs:       kf.ListenAddrs(),
		readTimeout: o.readTimeout,
		listeners:   ls,
		closing:     make(chan struct{}),
		ports:       map[int32]int{},
		down:        map[int32]bool{},
		removed:     map[int32]bool{},
	}
	c.sleepersDone = sync.NewCond(&c.mu)
	// kfake numbers its first brokers 0..n-1 in the order ListenAddrs lists them.
	for i, a := range c.addrs {
		c.ports[int32(i)] = portOf(a)
	}
	for _, t := range o.topics {
		if err := c.CreateTopic(t.name, t.partitions, t.configs); err != nil {
			kf.Close()
			return nil, err
		}
	}
	return c, nil
}

// NewCluster is Start for a test or benchmark: it fails tb if the cluster cannot start, and closes
// the cluster (and the producers made on it) when tb ends.
func NewCluster(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	c, err := Start(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// delayProduce runs on every Produce request once SlowProduce has been called (kfake runs a
// control in a goroutine of its own per request, a cost not worth paying before).
func (c *Cluster) delayProduce(kmsg.Request) (kmsg.Response, error, bool) {
	c.kf.KeepControl()
	var delay time.Duration
	c.mu.Lock()
	for _, f := range c.delays {
		if f.take() {
			delay = f.d
			break
		}
	}
	c.mu.Unlock()
	if delay > 0 {
		// Sleeping inside SleepControl lets kfake serve other connections meanwhile. Close waits
		// for it to resume: kfake leaks its run goroutine if it closes while resuming one.
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, nil, false
		}
		c.sleepers++
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.sleepers--
			c.mu.Unlock()
			c.sleepersDone.Broadcast()
		}()
		c.kf.SleepControl(func() {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-c.closing:
			}
		})
	}
	return nil, nil, false
}

// Close closes the producers made with Producer and NewProducer (each given up to 10 s to
// deliver what it holds) and stops the cluster. It is safe to call more than once.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		producers := c.producers
		c.producers = nil
		c.mu.Unlock()
		for _, p := range producers {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p.Close(ctx)
			cancel()
		}
		close(c.closing)
		c.mu.Lock()
		for c.sleepers > 0 {
			c.sleepersDone.Wait()
		}
		c.mu.Unlock()
		c.kf.Close()
	})
}

// Kfake returns the kfake cluster underneath, for what this package does not wrap.
func (c *Cluster) Kfake() *kfake.Cluster { return c.kf }

// Addrs returns the brokers' addresses ("127.0.0.1:port"), as bootstrap servers.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// CreateTopic creates a topic; configs may be nil.
func (c *Cluster) CreateTopic(topic string, partitions int32, configs map[string]string) error {
	if partitions < 1 {
		return fmt.Errorf("kastortest: topic %q: %d partitions, want at least 1", topic, partitions)
	}
	if err := c.kf.CreateTopic(topic, partitions, configs); err != nil {
		return fmt.Errorf("kastortest: creating topic %q: %w", topic, err)
	}
	return nil
}

// LeaderFor returns the node that leads a partition, or -1 if the partition does not exist.
func (c *Cluster) LeaderFor(topic string, partition int32) int32 {
	return c.kf.LeaderFor(topic, partition)
}

// Config returns the config of the producers this cluster makes: kastor.DefaultConfig() with
// the cluster as bootstrap servers, a logger that discards, and retry and reconnect backoffs
// shortened to 10 ms (growing to 100 ms) so that a test recovers from a fault in milliseconds
// rather than in the seconds of the Java defaults. The mutators then change what the test needs.
func (c *Cluster) Config(mutators ...func(*kastor.Config)) kastor.Config {
	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = c.Addrs()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.RetryBackoffMax = 100 * time.Millisecond
	cfg.ReconnectBackoff = 10 * time.Millisecond
	cfg.ReconnectBackoffMax = 100 * time.Millisecond
	for _, m := range mutators {
		m(&cfg)
	}
	return cfg
}

// Producer starts a producer on the cluster with Config(mutators...). Close closes it if the
// caller has not.
func (c *Cluster) Producer(mutators ...func(*kastor.Config)) (*kastor.Producer, error) {
	p, err := kastor.New(c.Config(mutators...))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		p.Close(context.Background()) // nothing was sent on it yet: this returns at once
		return nil, errors.New("kastortest: the cluster is closed")
	}
	c.producers = append(c.producers, p)
	return p, nil
}

// NewProducer is Producer for a test or benchmark: it fails tb on error and closes the producer
// when tb ends (giving it up to 10 s to deliver what it holds).
func (c *Cluster) NewProducer(tb testing.TB, mutators ...func(*kastor.Config)) *kastor.Producer {
	tb.Helper()
	p, err := c.Producer(mutators...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}
