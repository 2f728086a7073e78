package actors

// A scripted broker for connection and metadata actor tests: each Dial gets one end of a
// net.Pipe, and a goroutine serves the other end. It answers ApiVersions itself and hands every
// other request to the test's handler (decoded with franz-go's kmsg, an independent encoder).

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// reply is the handler's answer: a response, raw bytes sent as the response body, nothing (the
// request hangs), or a closed connection.
type reply struct {
	resp  kmsg.Response
	raw   []byte
	close bool
}

type fakeBroker struct {
	t      *testing.T
	handle func(req kmsg.Request) reply
	// apiVersions, when set, gives the raw ApiVersions answer body for a requested version (nil:
	// the standard answer). Set it before the first dial.
	apiVersions func(version int16) []byte
	reqs        chan kmsg.Request // every request but ApiVersions, in arrival order
	dials       chan string       // every address dialled
	closed      chan struct{}     // one value per connection the broker saw end

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// newFakeBroker must be called before the actors that use it are spawned, so that its cleanup
// (which waits for its goroutines) runs after theirs.
func newFakeBroker(t *testing.T, handle func(req kmsg.Request) reply) *fakeBroker {
	fb := &fakeBroker{t: t, handle: handle, reqs: make(chan kmsg.Request, 1024), dials: make(chan string, 1024),
		closed: make(chan struct{}, 1024)}
	t.Cleanup(func() {
		fb.mu.Lock()
		for _, c := range fb.conns {
			c.Close()
		}
		fb.mu.Unlock()
		fb.wg.Wait()
	})
	return fb
}

func (fb *fakeBroker) dial(_ context.Context, _, addr string) (net.Conn, error) {
	fb.dials <- addr
	client, server := net.Pipe()
	fb.mu.Lock()
	fb.conns = append(fb.conns, server)
	fb.mu.Unlock()
	fb.wg.Add(1)
	go fb.serve(server)
	return client, nil
}

func (fb *fakeBroker) serve(conn net.Conn) {
	defer fb.wg.Done()
	defer func() { fb.closed <- struct{}{} }()
	defer conn.Close()
	for {
		frame, err := readFrame(conn)
		if err != nil {
			return
		}
		if len(frame) < 10 {
			fb.t.Errorf("fake broker: request frame of %d bytes", len(frame))
			return
		}
		key := int16(binary.BigEndian.Uint16(frame[0:]))
		version := int16(binary.BigEndian.Uint16(frame[2:]))
		corr := binary.BigEndian.Uint32(frame[4:])
		off := 10
		if n := int16(binary.BigEndian.Uint16(frame[8:])); n > 0 {
			off += int(n)
		}
		req := kmsg.RequestForKey(key)
		if req == nil {
			fb.t.Errorf("fake broker: unknown api key %d", key)
			return
		}
		req.SetVersion(version)
		if req.IsFlexible() {
			off++ // the request header's tagged fields: kastor sends none
		}
		if err := req.ReadFrom(frame[off:]); err != nil {
			fb.t.Errorf("fake broker: decoding %T v%d: %v", req, version, err)
			return
		}
		var r reply
		if key == 18 {
			r.resp = apiVersionsResponse()
			if fb.apiVersions != nil {
				r.raw = fb.apiVersions(version)
			}
		} else {
			fb.reqs <- req
			r = fb.handle(req)
		}
		if r.close {
			return
		}
		if r.resp == nil && r.raw == nil {
			continue
		}
		out := binary.BigEndian.AppendUint32(make([]byte, 4, 64), corr)
		if r.raw != nil {
			out = append(out, r.raw...)
		} else {
			r.resp.SetVersion(version)
			if key != 18 && r.resp.IsFlexible() {
				out = append(out, 0) // no tagged fields in the response header
			}
			out = r.resp.AppendTo(out)
		}
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

func apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, k := range [][3]int16{{0, 3, 9}, {3, 1, 12}, {18, 0, 4}} {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k[0], k[1], k[2]
		resp.ApiKeys = append(resp.ApiKeys, ak)
	}
	return resp
}

// metadataAnswer answers a Metadata request: broker 1 at b1:9092, and every requested topic with
// one partition led by broker 1, unless topicErr names an error code for it.
func metadataAnswer(req *kmsg.MetadataRequest, topicErr func(topic string) int16) *kmsg.MetadataResponse {
	resp := kmsg.NewPtrMetadataResponse()
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = 1, "b1", 9092
	resp.Brokers = append(resp.Brokers, b)
	resp.ControllerID = 1
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			continue
		}
		t := kmsg.NewMetadataResponseTopic()
		name := *rt.Topic
		t.Topic = &name
		t.TopicID = [16]byte{0xC}
		if topicErr != nil {
			t.ErrorCode = topicErr(name)
		}
		if t.ErrorCode == 0 {
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Partition, p.Leader, p.LeaderEpoch = 0, 1, 3
			p.Replicas, p.ISR = []int32{1}, []int32{1}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
