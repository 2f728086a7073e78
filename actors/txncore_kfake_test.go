package actors

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// txnCore against a real Kafka-protocol broker (kfake): a small test driver plays the actor's
// part over plain connections — it sends the request each step names to the broker it names
// (negotiating the version, honouring the cap), arms the timers, produces the records of the
// transaction as transactional batches stamped with the core's identity once their partition is
// allowed, and reports flushes and failed batches. What the broker then holds is read back with
// kgo, read_committed and read_uncommitted.

type txnDriver struct {
	t     *testing.T
	core  *txnCore
	addrs map[int32]string // broker addresses by node id
	boot  string
	c     *kfake.Cluster
	conns map[string]*txnTestConn

	allowed map[messages.TopicPartition]bool
	held    map[messages.TopicPartition][]string // records waiting for their partition
	seqs    map[messages.TopicPartition]int32
	seqGen  uint64

	done   map[any]error
	send   *txnSend
	timer  *txnTimer
	flush  bool
	failed error
	sent   []string // API names of the requests sent, with error codes of the answers
}

type txnTestConn struct {
	conn net.Conn
	apis wire.BrokerAPIs
	v2   bool
	corr int32
}

func newTxnDriver(t *testing.T, c *kfake.Cluster, id string, v2 bool) *txnDriver {
	d := &txnDriver{
		t: t, c: c, boot: c.ListenAddrs()[0], conns: map[string]*txnTestConn{},
		core:    newTxnCore(id, 30*time.Second, 10*time.Millisecond, 200*time.Millisecond),
		allowed: map[messages.TopicPartition]bool{}, held: map[messages.TopicPartition][]string{},
		seqs: map[messages.TopicPartition]int32{}, done: map[any]error{}, addrs: map[int32]string{},
	}
	t.Cleanup(func() {
		for _, c := range d.conns {
			c.conn.Close()
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range md.Brokers {
		d.addrs[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	if v2 {
		if !d.connTo(d.boot).v2 {
			t.Fatal("the broker does not advertise transaction.version 2")
		}
		d.apply(d.core.step(time.Now(), txnFeatures{v2: true}))
	}
	return d
}

func (d *txnDriver) connTo(addr string) *txnTestConn {
	if c := d.conns[addr]; c != nil {
		return c
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		d.t.Fatal(err)
	}
	c := &txnTestConn{conn: conn}
	d.conns[addr] = c
	var av wire.ApiVersionsResponse
	d.roundTrip(c, &wire.ApiVersionsRequest{ClientSoftwareName: "kastor-test", ClientSoftwareVersion: "0"}, 3, &av)
	c.apis, c.v2 = wire.NewBrokerAPIs(&av), av.TransactionsV2()
	return c
}

func (d *txnDriver) roundTrip(c *txnTestConn, req wire.Request, version int16, resp wire.Response) {
	d.t.Helper()
	c.corr++
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(wire.AppendRequest(nil, req, version, c.corr, "kastor-test")); err != nil {
		d.t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		d.t.Fatalf("%s: %v", wire.APIName(req.Key()), err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.conn, frame); err != nil {
		d.t.Fatal(err)
	}
	corr, body, err := wire.ReadResponseHeader(frame, wire.ResponseHeaderFlexible(req.Key(), version))
	if err != nil || corr != c.corr {
		d.t.Fatalf("%s: correlation %d, want %d: %v", wire.APIName(req.Key()), corr, c.corr, err)
	}
	if err := resp.ReadFrom(body, version); err != nil {
		d.t.Fatalf("%s v%d: %v", wire.APIName(req.Key()), version, err)
	}
}

// call sends req over c at the highest common version (capped at maxVersion when >= 0).
func (d *txnDriver) call(c *txnTestConn, req wire.Request, maxVersion int16) (wire.Response, int16, error) {
	v, err := c.apis.Pick(req)
	if err != nil {
		return nil, 0, err
	}
	if maxVersion >= 0 {
		v = min(v, maxVersion)
	}
	resp := req.ResponseKind()
	d.roundTrip(c, req, v, resp)
	return resp, v, nil
}

func (d *txnDriver) apply(e txnEffects) {
	for _, dn := range e.done {
		if _, dup := d.done[dn.reply]; dup {
			d.t.Fatalf("%v completed twice", dn.reply)
		}
		d.done[dn.reply] = dn.err
	}
	if e.fail != nil {
		d.failed = e.fail
	}
	if e.abortUndrained != nil {
		clear(d.held)
	}
	if e.identity != nil {
		clear(d.seqs)
	}
	if e.send != nil {
		d.send = e.send
	}
	if e.timer != nil {
		d.timer = e.timer
	}
	if e.flush {
		d.flush = true
	}
	if e.newTransaction {
		clear(d.allowed)
	}
	for _, tp := range e.allow {
		d.allowed[tp] = true
		for _, v := range d.held[tp] {
			d.produce(tp, v)
		}
		delete(d.held, tp)
	}
}

// run carries out effects until nothing is left to do.
func (d *txnDriver) run() {
	for {
		switch {
		case d.send != nil:
			s := d.send
			d.send = nil
			addr := d.boot
			if s.coordinator != nil {
				addr = net.JoinHostPort(s.coordinator.Host, strconv.Itoa(int(s.coordinator.Port)))
			}
			resp, v, err := d.call(d.connTo(addr), s.req, s.maxVersion)
			d.sent = append(d.sent, wire.APIName(s.req.Key())+txnErrorCodes(resp))
			d.apply(d.core.step(time.Now(), txnAnswered{seq: s.seq, resp: resp, version: v, err: err}))
		case d.flush && len(d.held) == 0:
			d.flush = false // every record was produced synchronously: they all completed
			d.apply(d.core.step(time.Now(), txnFlushed{}))
		case d.timer != nil:
			tm := d.timer
			d.timer = nil
			time.Sleep(time.Until(tm.at))
			d.apply(d.core.step(time.Now(), txnTimerFired{gen: tm.gen}))
		default:
			return
		}
	}
}

func txnErrorCodes(resp wire.Response) string {
	var codes []int16
	switch r := resp.(type) {
	case *wire.FindCoordinatorResponse:
		codes = append(codes, r.ErrorCode)
		for _, c := range r.Coordinators {
			codes = append(codes, c.ErrorCode)
		}
	case *wire.InitProducerIDResponse:
		codes = append(codes, r.ErrorCode)
	case *wire.AddOffsetsToTxnResponse:
		codes = append(codes, r.ErrorCode)
	case *wire.EndTxnResponse:
		codes = append(codes, r.ErrorCode)
	case *wire.AddPartitionsToTxnResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				codes = append(codes, p.ErrorCode)
			}
		}
	case *wire.TxnOffsetCommitResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				codes = append(codes, p.ErrorCode)
			}
		}
	}
	s := ""
	for _, c := range codes {
		if c != 0 {
			s += "/" + wire.ErrorForCode(c).(*wire.Error).Name
		}
	}
	return s
}

// do runs one user operation to completion and returns its result.
func (d *txnDriver) do(ev txnEvent, reply any) error {
	d.t.Helper()
	d.apply(d.core.step(time.Now(), ev))
	d.run()
	err, ok := d.done[reply]
	if !ok {
		d.t.Fatalf("%T did not complete (state %s, requests %v)", ev, d.core.state, d.sent)
	}
	delete(d.done, reply)
	return err
}

// record hands one record to the transaction: refused, produced at once, or held until its
// partition is allowed.
func (d *txnDriver) record(tp messages.TopicPartition, value string) error {
	e := d.core.step(time.Now(), txnRecord{tp})
	if e.reject != nil {
		return e.reject
	}
	d.apply(e)
	if d.allowed[tp] {
		d.produce(tp, value)
	} else {
		d.held[tp] = append(d.held[tp], value)
	}
	d.run()
	return nil
}

func (d *txnDriver) produce(tp messages.TopicPartition, value string) {
	id := d.core.identity
	var b wire.BatchBuilder
	b.Reset(nil)
	b.Append(time.Now().UnixMilli(), nil, []byte(value), nil)
	batch, err := b.Seal(nil, wire.SealOptions{ProducerID: id.ID, ProducerEpoch: id.Epoch, BaseSequence: d.seqs[tp],
		Transactional: true, PartitionLeaderEpoch: -1})
	if err != nil {
		d.t.Fatal(err)
	}
	d.seqs[tp]++
	tid := d.core.transactionalID
	req := &wire.ProduceRequest{TransactionalID: &tid, Acks: -1, TimeoutMillis: 10_000,
		Topics: []wire.ProduceTopic{{Name: tp.Topic, Partitions: []wire.ProducePartition{{Partition: tp.Partition, Records: batch}}}}}
	limit := int16(12) // names, not topic ids (v13)
	if !d.core.v2 {
		limit = wire.ProduceMaxVersionV1
	}
	resp, _, err := d.call(d.connTo(d.addrs[d.c.LeaderFor(tp.Topic, tp.Partition)]), req, limit)
	if err != nil {
		d.t.Fatal(err)
	}
	if code := resp.(*wire.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		d.sent = append(d.sent, fmt.Sprintf("Produce(%s seq %d epoch %d)/%s", value, d.seqs[tp]-1, id.Epoch, wire.ErrorForCode(code).(*wire.Error).Name))
		d.apply(d.core.step(time.Now(), txnRecordFailed{err: wire.ErrorForCode(code)}))
	}
}

// readValues reads topic with kgo at the isolation level until it has seen every value of lasts
// (one per partition: each partition's last record), and returns every value by partition.
func readValues(t *testing.T, c *kfake.Cluster, topic string, committed bool, lasts ...string) map[int32][]string {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[int32][]string{}
	for seen := 0; seen < len(lasts); {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%q never arrived; read %v", lasts, out)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], string(r.Value))
			if slices.Contains(lasts, string(r.Value)) {
				seen++
			}
		})
	}
	return out
}

func committedOffset(t *testing.T, c *kfake.Cluster, group, topic string, partition int32) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("OffsetFetch: %v", wire.ErrorForCode(resp.ErrorCode))
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if rt.Topic == topic && p.Partition == partition {
				return p.Offset
			}
		}
	}
	t.Fatalf("no offset for %s-%d: %+v", topic, partition, resp)
	return 0
}

// Three transactions — committed, aborted, committed across a coordinator move — on both
// protocols: read_committed sees exactly the committed records, read_uncommitted sees all, and the
// group's committed offset is the one of the committed transaction.
func TestTxnCoreKfake(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "classic", true: "v2"}[v2], func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(2, "out"), kfake.SeedTopics(1, "in"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			d := newTxnDriver(t, c, "copier", v2)
			if err := d.do(txnInit{reply: "init"}, "init"); err != nil {
				t.Fatal(err)
			}
			group := txnGroupMetadata{GroupID: "g", GenerationID: -1}
			offsets := func(o int64) []wire.TxnOffsetCommitTopic {
				return []wire.TxnOffsetCommitTopic{{Name: "in", Partitions: []wire.TxnOffsetCommitPartition{{Partition: 0, Offset: o, LeaderEpoch: -1}}}}
			}
			txn := func(prefix string, commit bool, offset int64, beforeEnd func()) {
				t.Helper()
				if err := d.do(txnBegin{reply: "begin"}, "begin"); err != nil {
					t.Fatal(err)
				}
				for i := range 6 {
					if err := d.record(txnTP("out", int32(i%2)), fmt.Sprintf("%s-%d", prefix, i)); err != nil {
						t.Fatalf("%v (requests %v)", err, d.sent)
					}
				}
				if offset >= 0 {
					if err := d.do(txnSendOffsets{reply: "offsets", group: group, topics: offsets(offset)}, "offsets"); err != nil {
						t.Fatalf("offsets: %v (requests %v)", err, d.sent)
					}
				}
				if beforeEnd != nil {
					beforeEnd()
				}
				var end txnEvent = txnAbort{reply: "end"}
				if commit {
					end = txnCommit{reply: "end"}
				}
				if err := d.do(end, "end"); err != nil {
					t.Fatalf("%s: %v (requests %v)", prefix, err, d.sent)
				}
			}
			txn("c1", true, 42, nil)
			txn("a2", false, 99, nil)
			moved := false
			txn("c3", true, -1, func() {
				// Move the transaction coordinator away: EndTxn meets NOT_COORDINATOR and finds it again.
				for range 100 {
					c.RehashCoordinators()
					if c.CoordinatorFor("copier") != d.core.txnCoord.ID {
						moved = true
						break
					}
				}
			})
			if !moved {
				t.Fatal("the coordinator never moved")
			}
			if n := strings.Count(strings.Join(d.sent, " "), "EndTxn/NOT_COORDINATOR"); n != 1 {
				t.Fatalf("EndTxn refused by the old coordinator %d times, want 1: %v", n, d.sent)
			}
			if err := d.do(txnBegin{reply: "begin"}, "begin"); err != nil {
				t.Fatal(err)
			}
			for p := range int32(2) {
				if err := d.record(txnTP("out", p), fmt.Sprintf("end-%d", p)); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.do(txnCommit{reply: "commit"}, "commit"); err != nil {
				t.Fatal(err)
			}

			got := readValues(t, c, "out", true, "end-0", "end-1")
			want := map[int32][]string{0: {"c1-0", "c1-2", "c1-4", "c3-0", "c3-2", "c3-4", "end-0"}, 1: {"c1-1", "c1-3", "c1-5", "c3-1", "c3-3", "c3-5", "end-1"}}
			for p, w := range want {
				if !slices.Equal(got[p], w) {
					t.Fatalf("read_committed partition %d: %v, want %v", p, got[p], w)
				}
			}
			all := readValues(t, c, "out", false, "end-0", "end-1")
			if n := len(all[0]) + len(all[1]); n != 20 || !slices.Contains(all[1], "a2-5") {
				t.Fatalf("read_uncommitted: %v", all)
			}
			if o := committedOffset(t, c, "g", "in", 0); o != 42 {
				t.Fatalf("committed offset %d, want 42 (the aborted transaction's 99 must not count)", o)
			}
			wantEpoch := int16(0) // the classic protocol keeps its epoch
			if v2 {
				wantEpoch = 4 // one bump per EndTxn
			}
			if d.core.identity.Epoch != wantEpoch {
				t.Fatalf("epoch %d, want %d", d.core.identity.Epoch, wantEpoch)
			}
			hasAdd := slices.ContainsFunc(d.sent, func(s string) bool {
				return strings.HasPrefix(s, "AddPartitionsToTxn") || strings.HasPrefix(s, "AddOffsetsToTxn")
			})
			if hasAdd == v2 {
				t.Fatalf("v2 %v, requests %v", v2, d.sent)
			}
		})
	}
}

// A second producer with the same transactional id fences the first: the first fails for good on
// its next operation, and nothing it sent becomes visible.
func TestTxnCoreKfakeFenced(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "classic", true: "v2"}[v2], func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			first := newTxnDriver(t, c, "same", v2)
			if err := first.do(txnInit{reply: "init"}, "init"); err != nil {
				t.Fatal(err)
			}
			if err := first.do(txnBegin{reply: "begin"}, "begin"); err != nil {
				t.Fatal(err)
			}
			if err := first.record(txnTP("out", 0), "zombie-1"); err != nil {
				t.Fatal(err)
			}

			second := newTxnDriver(t, c, "same", v2)
			if err := second.do(txnInit{reply: "init"}, "init"); err != nil {
				t.Fatal(err)
			}

			// The first producer's next record is refused by the broker; its commit then fails.
			if err := first.record(txnTP("out", 0), "zombie-2"); err != nil {
				t.Fatal(err) // handed over: the broker's answer decides
			}
			err = first.do(txnCommit{reply: "commit"}, "commit")
			// Kafka refuses the zombie's batch with INVALID_PRODUCER_EPOCH (v2: PRODUCER_FENCED); kfake
			// looks at the transaction first and may answer INVALID_TXN_STATE. All three are fatal.
			fenced := errors.Is(err, wire.ErrProducerFenced) || errors.Is(err, wire.ErrInvalidProducerEpoch) || errors.Is(err, wire.ErrInvalidTxnState)
			if !errors.Is(err, messages.ErrFatal) || !fenced {
				t.Fatalf("commit after being fenced: %v (requests %v)", err, first.sent)
			}
			if !errors.Is(first.failed, messages.ErrFatal) || first.core.state != txnFatalError {
				t.Fatalf("first producer: %v, state %s", first.failed, first.core.state)
			}
			if err := first.record(txnTP("out", 0), "zombie-3"); !errors.Is(err, messages.ErrFatal) {
				t.Fatalf("send after the fence: %v", err)
			}

			if err := second.do(txnBegin{reply: "begin"}, "begin"); err != nil {
				t.Fatal(err)
			}
			if err := second.record(txnTP("out", 0), "live"); err != nil {
				t.Fatal(err)
			}
			if err := second.do(txnCommit{reply: "commit"}, "commit"); err != nil {
				t.Fatal(err)
			}
			if got := readValues(t, c, "out", true, "live"); !slices.Equal(got[0], []string{"live"}) {
				t.Fatalf("read_committed: %v", got)
			}
		})
	}
}
