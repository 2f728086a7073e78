package kastor_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/kastortest"
)

// The examples run against an embedded Kafka-protocol cluster (package kastortest). Against a
// real cluster, set Config.BootstrapServers to its brokers instead.

// Send blocks until the broker has acknowledged the record, and returns where it was written.
func ExampleProducer_Send() {
	cluster, err := kastortest.Start(kastortest.Topic("greetings", 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = cluster.Addrs()
	cfg.Logger = slog.New(slog.DiscardHandler)
	p, err := kastor.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"ada", "grace"} {
		md, err := p.Send(ctx, &kastor.Record{Topic: "greetings", Key: []byte(name), Value: []byte("hello " + name)})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s written to %s-%d at offset %d\n", name, md.Topic, md.Partition, md.Offset)
	}
	// Output:
	// ada written to greetings-0 at offset 0
	// grace written to greetings-0 at offset 1
}

// SendAsync returns as soon as the record is buffered; the callback runs once per record, when it
// is acknowledged or has failed. Flush waits for everything sent before it.
func ExampleProducer_SendAsync() {
	cluster, err := kastortest.Start(kastortest.Topic("clicks", 3))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = cluster.Addrs()
	cfg.Logger = slog.New(slog.DiscardHandler)
	p, err := kastor.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(context.Background())

	var mu sync.Mutex
	acked, failed := 0, 0
	ctx := context.Background()
	for i := range 1000 {
		rec := &kastor.Record{Topic: "clicks", Key: fmt.Appendf(nil, "user-%d", i%10), Value: fmt.Appendf(nil, "click %d", i)}
		p.SendAsync(ctx, rec, func(md kastor.RecordMetadata, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			acked++
		})
	}
	if err := p.Flush(ctx); err != nil {
		fmt.Println(err)
		return
	}
	mu.Lock()
	fmt.Println("acknowledged:", acked, "failed:", failed)
	mu.Unlock()
	// Output:
	// acknowledged: 1000 failed: 0
}

type Order struct {
	ID    string  `json:"id"`
	Total float64 `json:"total"`
}

// A TypedProducer serializes keys and values before sending them through a Producer.
func ExampleNewTypedProducer() {
	cluster, err := kastortest.Start(kastortest.Topic("orders", 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()
	p, err := cluster.Producer() // kastor.New with the cluster's address; closed by cluster.Close
	if err != nil {
		fmt.Println(err)
		return
	}

	orders := kastor.NewTypedProducer(p, kastor.StringSerializer{}, kastor.JSONSerializer[Order]{})
	ctx := context.Background()
	for _, o := range []Order{{ID: "o-1", Total: 9.5}, {ID: "o-2", Total: 20}} {
		if _, err := orders.Send(ctx, kastor.TypedRecord[string, Order]{Topic: "orders", Key: o.ID, Value: o}); err != nil {
			fmt.Println(err)
			return
		}
	}

	records, err := cluster.Read(ctx, "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range records {
		fmt.Printf("%s %s\n", r.Key, r.Value)
	}
	// Output:
	// o-1 {"id":"o-1","total":9.5}
	// o-2 {"id":"o-2","total":20}
}

// An application actor runs the producer as its child (Props), produces by message and counts the
// Delivered replies; then it closes the producer by message.
func ExampleProps() {
	cluster, err := kastortest.Start(kastortest.Topic("events", 2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	logger := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(kastor.ActorSystemOptions(logger)...)
	defer sys.Shutdown()

	cfg := kastor.DefaultConfig()
	cfg.BootstrapServers = cluster.Addrs()
	cfg.Logger = logger
	props, err := kastor.Props(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}

	const n = 100
	done := make(chan string, 1)
	var producer *actor.PID
	delivered, failed := 0, 0
	app := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			producer = c.Spawn(props)
			for i := range n {
				rec := &kastor.Record{Topic: "events", Value: fmt.Appendf(nil, "event %d", i)}
				c.Request(producer, &kastor.Produce{Record: rec, Correlation: uint64(i)})
			}
		case *kastor.Delivered: // one per Produce, in the actor's mailbox: no locking needed
			if m.Err != nil {
				failed++
			} else {
				delivered++
			}
			if delivered+failed == n {
				c.Request(producer, &kastor.Close{})
			}
		case *kastor.Closed:
			done <- fmt.Sprintf("delivered %d, failed %d, producer closed", delivered, failed)
		}
	}))
	defer sys.Root.Stop(app)

	select {
	case s := <-done:
		fmt.Println(s)
	case <-time.After(20 * time.Second):
		fmt.Println("timed out")
	}
	// Output:
	// delivered 100, failed 0, producer closed
}
