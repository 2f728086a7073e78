package actors

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/wire"
)

// syncBuffer is a log sink the connection's goroutines and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConnectionLibrdkafkaMockQuirks: the two answers that made librdkafka's mock cluster unusable.
// Its refusal of ApiVersions v4 (error 35 and a malformed tail) leads to a retry at v0 on the same
// connection, and its Metadata answer with one byte after the last field is read, with one Debug
// line per response counting the ignored bytes.
func TestConnectionLibrdkafkaMockQuirks(t *testing.T) {
	e := newEnv(t, testSettings())
	var logs syncBuffer
	e.shared.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	refusal, err := hex.DecodeString("0023" + "01" + "0012" + "0000" + "0002" + "00" + "00000000")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []int16
	fb := newFakeBroker(t, func(req kmsg.Request) reply {
		resp := metadataAnswer(req.(*kmsg.MetadataRequest), nil)
		resp.SetVersion(req.GetVersion())
		return reply{raw: append(resp.AppendTo([]byte{0}), 0)} // header tags, body, one extra byte
	})
	fb.apiVersions = func(version int16) []byte {
		mu.Lock()
		asked = append(asked, version)
		mu.Unlock()
		if version == 4 {
			return refusal
		}
		resp := apiVersionsResponse()
		resp.SetVersion(version)
		return resp.AppendTo(nil)
	}
	conn := e.newConnection(fb.dial, 5*time.Second)
	caller := e.newProbe()
	e.sys.Root.Send(conn, &messages.Call{Req: metadataCallFor("a"), ReplyTo: caller.pid, Tag: 1})
	done := expectMsg[*messages.CallDone](t, caller)
	if done.Err != nil || done.Version != 12 {
		t.Fatalf("CallDone %+v, want a v12 answer", done)
	}
	if resp, ok := done.Resp.(*wire.MetadataResponse); !ok || len(resp.Topics) != 1 || resp.Topics[0].Name == nil || *resp.Topics[0].Name != "a" {
		t.Fatalf("response %+v", done.Resp)
	}
	mu.Lock()
	got := append([]int16(nil), asked...)
	mu.Unlock()
	if len(got) != 2 || got[0] != 4 || got[1] != 0 {
		t.Fatalf("ApiVersions asked at %v, want [4 0]", got)
	}
	if n := len(fb.dials); n != 1 {
		t.Fatalf("dialled %d times, want once", n)
	}
	out := logs.String()
	for _, want := range []string{"api=ApiVersions version=4 bytes=6", "api=Metadata version=12 bytes=1"} {
		if !strings.Contains(out, "ignored trailing bytes") || !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
}
