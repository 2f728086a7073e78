// Package kastortest runs an embedded Kafka-protocol cluster for the tests of code built on
// kastor: a producer connected to it in one call, helpers that read back what was produced, and
// the faults a producer meets in production (a broker down and back, a leader move, a burst of
// retriable errors, a slow broker), so that such code can be tested the way kastor itself is.
//
// The cluster is franz-go's kfake, a Kafka-protocol broker that runs in the test binary and
// listens on 127.0.0.1 only; records are read back with franz-go's kgo consumer, a client
// independent of kastor.
//
//	func TestOrders(t *testing.T) {
//		c := kastortest.NewCluster(t, kastortest.Brokers(3), kastortest.Topic("orders", 8))
//		p := c.NewProducer(t) // closed when the test ends
//		// ... run the code under test with p ...
//		got := c.ReadN(t, "orders", 100)
//		// ... check got ...
//	}
//
// Every helper that takes a testing.TB fails the test on error and is a thin wrapper over one
// that returns the error: Start, Producer, Read and ReadAtLeast work without a test (in an
// Example, or a TestMain), with Close to release everything.
//
// # Faults
//
//   - BrokerDown and BrokerUp: a broker stops answering (its open connections are closed, and new
//     ones as soon as they are accepted) and comes back on the same address. While other
//     brokers are alive the down broker also leaves the cluster, so its partitions get new leaders
//     among the survivors, as a controller would elect them: the producer moves there and every
//     record is delivered. The last broker alive cannot leave: its partitions stay without a
//     reachable leader, and records for them wait until BrokerUp, or fail with
//     kastor.ErrDeliveryTimeout once kastor.Config.DeliveryTimeout has passed (such a record "may
//     or may not have been written", as that error says: a test should not count on either).
//   - MoveLeader: a partition's leadership moves to another broker; the old leader answers
//     NOT_LEADER_OR_FOLLOWER and the producer follows the move.
//   - FailProduce: the next n Produce responses for a topic carry a Kafka error code instead of
//     writing (NOT_ENOUGH_REPLICAS, say): the producer retries a retriable code, and fails the
//     records with a non-retriable one.
//   - SlowProduce: the next n Produce requests are answered only after a delay (a slow disk, a
//     busy broker); with a delay past kastor.Config.RequestTimeout the producer times the request
//     out and retries it.
//
// FailProduce and SlowProduce return a Fault to wait for (Wait), count (Hits) or end (Remove).
// Cluster.Kfake gives the kfake cluster itself for anything else kfake can do.
package kastortest
