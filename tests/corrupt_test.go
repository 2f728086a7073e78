package tests

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kastor-go/kastor"
)

// frameProxy relays connections to the brokers (install proxy.dial as Config.Dialer) and shows
// onResponse every response frame with the api key of its request; onResponse may change the
// frame, or return true to cut the connection instead of passing the frame on.
type frameProxy struct {
	onResponse func(key int16, frame []byte) (cut bool)
	dials      atomic.Int32
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      []net.Conn
}

func (p *frameProxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	broker, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	p.dials.Add(1)
	client, inner := net.Pipe()
	p.mu.Lock()
	p.conns = append(p.conns, broker, inner)
	p.mu.Unlock()
	var mu sync.Mutex
	keys := map[int32]int16{} // correlation id → api key of requests on this connection
	p.wg.Add(2)
	go func() { // client → broker: note each request's api key
		defer p.wg.Done()
		defer broker.Close()
		relayFrames(inner, broker, func(frame []byte) bool {
			if len(frame) >= 8 {
				mu.Lock()
				keys[int32(binary.BigEndian.Uint32(frame[4:8]))] = int16(binary.BigEndian.Uint16(frame[0:2]))
				mu.Unlock()
			}
			return false
		})
	}()
	go func() { // broker → client
		defer p.wg.Done()
		defer inner.Close()
		relayFrames(broker, inner, func(frame []byte) bool {
			if len(frame) < 4 {
				return false
			}
			mu.Lock()
			key, ok := keys[int32(binary.BigEndian.Uint32(frame[0:4]))]
			mu.Unlock()
			return ok && p.onResponse(key, frame)
		})
	}()
	return client, nil
}

// relayFrames copies size-prefixed frames from src to dst, letting inspect see (and change) each;
// it stops when inspect says to cut.
func relayFrames(src io.Reader, dst io.Writer, inspect func([]byte) (cut bool)) {
	var size [4]byte
	for {
		if _, err := io.ReadFull(src, size[:]); err != nil {
			return
		}
		frame := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(src, frame); err != nil {
			return
		}
		if inspect(frame) {
			return
		}
		if _, err := dst.Write(append(size[:], frame...)); err != nil {
			return
		}
	}
}

func (p *frameProxy) close() {
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// A corrupt response breaks the connection: it is restarted by its supervisor, the batch is
// retried, and every record is in the log once, where it was acknowledged.
func TestCorruptResponseRestartsTheConnection(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	var done atomic.Bool
	proxy := &frameProxy{onResponse: func(key int16, frame []byte) bool {
		if key == 0 && len(frame) > 6 && done.CompareAndSwap(false, true) {
			for i := 4; i < len(frame); i++ { // keep the correlation id, break everything after
				frame[i] = 0xff
			}
		}
		return false
	}}
	t.Cleanup(proxy.close)
	p := newProducer(t, c, func(cfg *kastor.Config) {
		cfg.Dialer = proxy.dial
		cfg.RetryBackoff = 5 * time.Millisecond
		cfg.ReconnectBackoff = 5 * time.Millisecond
		cfg.MaxInFlightRequestsPerConnection = 1
	})
	comp := sendN(t, p, "t", 500, 0)
	if !done.Load() {
		t.Fatal("no produce response was corrupted")
	}
	for i := 0; i < 500; i++ {
		if err := comp.get(i).err; err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if d := proxy.dials.Load(); d < 3 { // metadata, produce, produce again after the corruption
		t.Fatalf("%d dials: the broken connection was not replaced", d)
	}
	p.Close(context.Background())
	checkLog(t, c, "t", 500, comp, true) // the retry is a duplicate the broker recognises
	checkSequences(t, c, "t")
}
