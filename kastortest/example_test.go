package kastortest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/kastortest"
)

// An Example has no testing.TB: it uses Start and Close, and the helpers that return errors.
// A test would write c := kastortest.NewCluster(t, ...) and p := c.NewProducer(t) instead, with
// nothing to close.
func Example() {
	c, err := kastortest.Start(kastortest.Brokers(3), kastortest.Topic("orders", 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	p, err := c.Producer() // closed by c.Close
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, v := range []string{"apple", "pear", "plum"} {
		if _, err := p.Send(ctx, &kastor.Record{Topic: "orders", Key: []byte("basket-1"), Value: []byte(v)}); err != nil {
			fmt.Println(err)
			return
		}
	}
	records, err := c.Read(ctx, "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range records {
		fmt.Printf("%d@%d %s=%s\n", r.Partition, r.Offset, r.Key, r.Value)
	}
	// Output:
	// 0@0 basket-1=apple
	// 0@1 basket-1=pear
	// 0@2 basket-1=plum
}

// send sends n numbered records to topic and reports how many were acknowledged.
func send(p *kastor.Producer, topic string, from, n int) (acked int, err error) {
	for i := from; i < from+n; i++ {
		_, e := p.Send(context.Background(), &kastor.Record{Topic: topic, Value: fmt.Appendf(nil, "%d", i)})
		if e != nil {
			err = e
			continue
		}
		acked++
	}
	return acked, err
}

// values returns the values of topic's records, in order.
func values(c *kastortest.Cluster, topic string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := c.Read(ctx, topic)
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Value))
	}
	return out, err
}

// The leader of a partition goes down: its partitions move to the other brokers and the producer
// follows them. The broker comes back on its address.
func ExampleCluster_BrokerDown() {
	c, err := kastortest.Start(kastortest.Brokers(3), kastortest.Topic("events", 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	p, err := c.Producer()
	if err != nil {
		fmt.Println(err)
		return
	}
	before, _ := send(p, "events", 0, 3)
	leader := c.LeaderFor("events", 0)
	if err := c.BrokerDown(leader); err != nil {
		fmt.Println(err)
		return
	}
	during, err := send(p, "events", 3, 3)
	fmt.Println("acknowledged before and during the outage:", before, during, err)
	fmt.Println("the partition has a new leader:", c.LeaderFor("events", 0) != leader)
	if err := c.BrokerUp(leader); err != nil {
		fmt.Println(err)
		return
	}
	got, err := values(c, "events")
	fmt.Println(got, err)
	// Output:
	// acknowledged before and during the outage: 3 3 <nil>
	// the partition has a new leader: true
	// [0 1 2 3 4 5] <nil>
}

// The only broker is down longer than DeliveryTimeout: records fail with ErrDeliveryTimeout.
// Once it is back, records are delivered again.
func ExampleCluster_BrokerUp() {
	c, err := kastortest.Start(kastortest.Topic("events", 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	p, err := c.Producer(func(cfg *kastor.Config) {
		cfg.RequestTimeout = 100 * time.Millisecond
		cfg.DeliveryTimeout = time.Second // the window for the send after BrokerUp too: leave room to reconnect
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := send(p, "events", 0, 1); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.BrokerDown(0); err != nil {
		fmt.Println(err)
		return
	}
	_, err = send(p, "events", 1, 1)
	fmt.Println("while down:", errors.Is(err, kastor.ErrDeliveryTimeout))
	if err := c.BrokerUp(0); err != nil {
		fmt.Println(err)
		return
	}
	acked, err := send(p, "events", 2, 1)
	fmt.Println("after BrokerUp:", acked, err)
	// Output:
	// while down: true
	// after BrokerUp: 1 <nil>
}

// A partition's leadership moves to another broker between two sends: the old leader answers
// NOT_LEADER_OR_FOLLOWER and the producer moves to the new one.
func ExampleCluster_MoveLeader() {
	c, err := kastortest.Start(kastortest.Brokers(2), kastortest.Topic("events", 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	p, err := c.Producer()
	if err != nil {
		fmt.Println(err)
		return
	}
	send(p, "events", 0, 2)
	to := 1 - c.LeaderFor("events", 0)
	if err := c.MoveLeader("events", 0, to); err != nil {
		fmt.Println(err)
		return
	}
	acked, err := send(p, "events", 2, 2)
	fmt.Println("acknowledged after the move:", acked, err)
	fmt.Println("leader is the new one:", c.LeaderFor("events", 0) == to)
	got, err := values(c, "events")
	fmt.Println(got, err)
	// Output:
	// acknowledged after the move: 2 <nil>
	// leader is the new one: true
	// [0 1 2 3] <nil>
}

// Three Produce responses carry NOT_ENOUGH_REPLICAS, a retriable error: the producer retries and
// the record is written once.
func ExampleCluster_FailProduce() {
	c, err := kastortest.Start(kastortest.Topic("events", 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	p, err := c.Producer()
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := c.FailProduce("events", kastor.ErrNotEnoughReplicas, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	acked, err := send(p, "events", 0, 1)
	fmt.Println("acknowledged:", acked, err, "after", f.Hits(), "refusals")

	// A non-retriable error fails the record instead.
	if _, err := c.FailProduce("events", kastor.ErrTopicAuthorizationFailed, 1); err != nil {
		fmt.Println(err)
		return
	}
	_, err = send(p, "events", 1, 1)
	fmt.Println("refused:", errors.Is(err, kastor.ErrTopicAuthorizationFailed))
	got, err := values(c, "events")
	fmt.Println(got, err)
	// Output:
	// acknowledged: 1 <nil> after 3 refusals
	// refused: true
	// [0] <nil>
}

// The broker answers a Produce only after 300 ms, longer than the producer's RequestTimeout: the
// producer gives up on that request and sends it again; the broker has written the first one by
// then, and idempotence keeps the copy out of the log.
func ExampleCluster_SlowProduce() {
	c, err := kastortest.Start(kastortest.Topic("events", 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	p, err := c.Producer(func(cfg *kastor.Config) { cfg.RequestTimeout = 100 * time.Millisecond })
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := c.SlowProduce(300*time.Millisecond, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Now()
	acked, err := send(p, "events", 0, 1)
	fmt.Println("acknowledged:", acked, err)
	fmt.Println("slowed:", f.Hits(), "request; waited past the timeout:", time.Since(start) >= 100*time.Millisecond)
	got, err := values(c, "events")
	fmt.Println(got, err)
	// Output:
	// acknowledged: 1 <nil>
	// slowed: 1 request; waited past the timeout: true
	// [0] <nil>
}
