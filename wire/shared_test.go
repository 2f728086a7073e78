package wire

import (
	"bytes"
	"testing"
)

// The shared encoding is the copying one, cut into pieces: joined, the pieces are the same frame at
// every version, whatever mix of small, large and null batches the request holds.
func TestAppendRequestSharedIsAppendRequest(t *testing.T) {
	batch := func(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }
	tid := "txn"
	reqs := map[string]*ProduceRequest{
		"one large": {Acks: -1, TimeoutMillis: 30000, Topics: []ProduceTopic{
			{Name: "a", TopicID: [16]byte{1}, Partitions: []ProducePartition{{Partition: 0, Records: batch(16384, 1)}}}}},
		"mixed": {TransactionalID: &tid, Acks: 1, TimeoutMillis: 5, Topics: []ProduceTopic{
			{Name: "a", TopicID: [16]byte{1}, Partitions: []ProducePartition{
				{Partition: 0, Records: batch(MinSharedRecords, 1)},
				{Partition: 1, Records: batch(MinSharedRecords-1, 2)},
				{Partition: 2, Records: batch(100000, 3)}}},
			{Name: "b", TopicID: [16]byte{2}, Partitions: []ProducePartition{
				{Partition: 7, Records: nil},
				{Partition: 8, Records: batch(4096, 4)},
				{Partition: 9, Records: batch(200, 5)}}}}},
		"all small": {Acks: 0, Topics: []ProduceTopic{
			{Name: "c", Partitions: []ProducePartition{{Partition: 3, Records: batch(10, 6)}}}}},
		"empty": {Acks: -1},
	}
	for name, req := range reqs {
		for v := req.MinVersion(); v <= req.MaxVersion(); v++ {
			want := AppendRequest([]byte("prefix"), req, v, 42, "kastor")
			dst, pieces := AppendRequestShared([]byte("prefix"), make([][]byte, 3), req, v, 42, "kastor")
			got := append([]byte("prefix"), bytes.Join(pieces, nil)...)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s v%d: shared frame differs from the copied one", name, v)
			}
			shared := 0
			for _, p := range pieces {
				if len(p) >= MinSharedRecords && p[0] != 0 && bytes.Count(p, p[:1]) == len(p) {
					shared += len(p)
				}
			}
			if copied := len(dst) - len("prefix"); copied+shared != len(want)-len("prefix") {
				t.Fatalf("%s v%d: %d bytes encoded + %d shared, frame is %d", name, v, copied, shared, len(want)-len("prefix"))
			}
		}
	}
}

// Requests other than Produce come back whole, as one piece.
func TestAppendRequestSharedOtherRequests(t *testing.T) {
	name := "a"
	req := &MetadataRequest{Topics: []MetadataRequestTopic{{Name: &name}}}
	want := AppendRequest(nil, req, 9, 7, "c")
	dst, pieces := AppendRequestShared(nil, nil, req, 9, 7, "c")
	if len(pieces) != 1 || !bytes.Equal(pieces[0], want) || !bytes.Equal(dst, want) {
		t.Fatalf("pieces %d, want the copied frame as one", len(pieces))
	}
}
