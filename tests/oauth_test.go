package tests

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kastor-go/kastor"
	"github.com/kastor-go/kastor/sasl"
)

// oauthBroker is a listener that speaks the broker's side of the SASL exchange itself, decoded with
// kmsg, because kfake has no OAUTHBEARER: each connection's ApiVersions and, once logged in, every
// other request are relayed to a kfake broker; SaslHandshake and SaslAuthenticate are answered
// here. It checks the RFC 7628 client message, grants session (KIP-368) and, like a broker,
// treats a request on an expired session, a request before the login, and a login while a request
// is in flight as violations.
type oauthBroker struct {
	t        *testing.T
	upstream string
	ln       net.Listener
	session  time.Duration
	reject   bool // answer every token as invalid (RFC 7628 error, then SASL_AUTHENTICATION_FAILED)
	wg       sync.WaitGroup

	mu         sync.Mutex
	violations []string
	logins     map[int]int // connection number → successful logins
	tokens     []string
	conns      int
}

var oauthMessage = regexp.MustCompile("^n,,\x01auth=Bearer (tok-[0-9]+)\x01logicalCluster=lkc-test\x01\x01$")

func newOAuthBroker(t *testing.T, upstream string, session time.Duration, reject bool) *oauthBroker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &oauthBroker{t: t, upstream: upstream, ln: ln, session: session, reject: reject, logins: map[int]int{}}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *oauthBroker) violate(format string, args ...any) {
	b.mu.Lock()
	b.violations = append(b.violations, fmt.Sprintf(format, args...))
	b.mu.Unlock()
}

func (b *oauthBroker) accept() {
	defer b.wg.Done()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", b.upstream)
		if err != nil {
			c.Close()
			b.violate("dial upstream: %v", err)
			continue
		}
		conns = append(conns, c, up)
		b.mu.Lock()
		b.conns++
		n := b.conns
		b.mu.Unlock()
		b.wg.Add(1)
		go func() { defer b.wg.Done(); b.serve(n, c, up) }()
	}
}

func readTestFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(r, frame)
	return frame, err
}

func writeTestFrame(w io.Writer, frame []byte) error {
	_, err := w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
	if err == nil {
		_, err = w.Write(frame)
	}
	return err
}

// serve runs one client connection.
func (b *oauthBroker) serve(n int, client, up net.Conn) {
	defer client.Close()
	defer up.Close()
	var (
		mu          sync.Mutex // client writes and the counters below
		outstanding int        // requests relayed whose responses have not come back
		loggedIn    bool
		expires     time.Time
		relayDone   = make(chan struct{})
	)
	go func() { // upstream → client
		defer close(relayDone)
		for {
			frame, err := readTestFrame(up)
			if err != nil {
				client.Close()
				return
			}
			mu.Lock()
			outstanding--
			err = writeTestFrame(client, frame)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	defer func() { up.Close(); <-relayDone }()
	for {
		frame, err := readTestFrame(client)
		if err != nil {
			return
		}
		if len(frame) < 10 {
			b.violate("conn %d: short request frame", n)
			return
		}
		key := int16(binary.BigEndian.Uint16(frame))
		version := int16(binary.BigEndian.Uint16(frame[2:]))
		corr := int32(binary.BigEndian.Uint32(frame[4:]))
		idLen := int(int16(binary.BigEndian.Uint16(frame[8:])))
		body := frame[10+max(idLen, 0):]
		req := kmsg.RequestForKey(key)
		if req == nil {
			b.violate("conn %d: unknown key %d", n, key)
			return
		}
		req.SetVersion(version)
		if req.IsFlexible() && key != int16(kmsg.ApiVersions) {
			body = body[1:] // kastor sends no header tags: one zero count byte
		}
		switch key {
		case int16(kmsg.SASLHandshake), int16(kmsg.SASLAuthenticate):
			if err := req.ReadFrom(body); err != nil {
				b.violate("conn %d: decode %s: %v", n, kmsg.NameForKey(key), err)
				return
			}
			mu.Lock()
			if outstanding != 0 {
				b.violate("conn %d: %s with %d requests in flight", n, kmsg.NameForKey(key), outstanding)
			}
			var resp kmsg.Response
			switch r := req.(type) {
			case *kmsg.SASLHandshakeRequest:
				loggedIn = false
				hr := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
				hr.SupportedMechanisms = []string{"OAUTHBEARER"}
				if r.Mechanism != "OAUTHBEARER" {
					hr.ErrorCode = 33
				}
				resp = hr
			case *kmsg.SASLAuthenticateRequest:
				ar := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
				resp = ar
				switch m := oauthMessage.FindSubmatch(r.SASLAuthBytes); {
				case string(r.SASLAuthBytes) == "\x01" && b.reject: // the client's answer to our error
					ar.ErrorCode = 58
					msg := "invalid token"
					ar.ErrorMessage = &msg
				case m == nil:
					b.violate("conn %d: client message %q is not RFC 7628 with the token and extension", n, r.SASLAuthBytes)
					ar.ErrorCode = 58
				case b.reject:
					ar.SASLAuthBytes = []byte(`{"status":"invalid_token"}`)
				default:
					loggedIn, expires = true, time.Now().Add(b.session)
					ar.SessionLifetimeMillis = b.session.Milliseconds()
					b.mu.Lock()
					b.logins[n]++
					b.tokens = append(b.tokens, string(m[1]))
					b.mu.Unlock()
				}
			}
			resp.SetVersion(version)
			out := binary.BigEndian.AppendUint32(nil, uint32(corr))
			if resp.IsFlexible() {
				out = append(out, 0)
			}
			err = writeTestFrame(client, resp.AppendTo(out))
			mu.Unlock()
			if err != nil {
				return
			}
		default:
			mu.Lock()
			if key != int16(kmsg.ApiVersions) {
				if !loggedIn {
					b.violate("conn %d: %s before the login", n, kmsg.NameForKey(key))
				} else if b.session > 0 && time.Now().After(expires) {
					b.violate("conn %d: %s on a session expired %v ago", n, kmsg.NameForKey(key), time.Since(expires))
				}
			}
			outstanding++
			err = writeTestFrame(up, frame)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

func (b *oauthBroker) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, v := range b.violations {
		t.Error(v)
	}
}

// oauthProducer's connections all go to b (kfake advertises its own address; the dialer
// redirects it), logging in with numbered tokens.
func oauthProducer(t *testing.T, c *kfake.Cluster, b *oauthBroker, fetched *atomic.Int32, mutate func(*kastor.Config)) *kastor.Producer {
	return newProducer(t, c, func(cfg *kastor.Config) {
		cfg.BootstrapServers = []string{b.ln.Addr().String()}
		cfg.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, b.ln.Addr().String())
		}
		cfg.SASL = sasl.OAuthBearer{Token: func(context.Context) (sasl.Token, error) {
			n := fetched.Add(1)
			return sasl.Token{Value: "tok-" + strconv.Itoa(int(n)), Lifetime: time.Hour,
				Extensions: map[string]string{"logicalCluster": "lkc-test"}}, nil
		}}
		if mutate != nil {
			mutate(cfg)
		}
	})
}

// TestOAuthBearer: records produced through OAUTHBEARER logins arrive (read back from kfake with
// kgo); with 500ms sessions every connection logs in again, with a fresh token, before its
// session ends and never with a request in flight, and no request is sent on an expired session.
func TestOAuthBearer(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "oauth"))
	b := newOAuthBroker(t, c.ListenAddrs()[0], 500*time.Millisecond, false)
	var fetched atomic.Int32
	p := oauthProducer(t, c, b, &fetched, nil)
	const rounds, perRound = 15, 40
	sendAcrossSessions(t, p, "oauth", rounds, perRound, 5)
	b.check(t)
	b.mu.Lock()
	reauthed := 0
	for _, n := range b.logins {
		if n >= 2 {
			reauthed++
		}
	}
	t.Logf("logins per connection %v, %d tokens", b.logins, len(b.tokens))
	b.mu.Unlock()
	if reauthed == 0 {
		t.Fatal("no connection re-authenticated within 1.5s of 500ms sessions")
	}
	_, written := readLog(t, c, "oauth", true) // in send order per partition
	seen := 0
	for _, n := range written {
		seen += n
	}
	if seen != rounds*perRound {
		t.Fatalf("read back %d records, sent %d", seen, rounds*perRound)
	}
}

// TestOAuthBearerRejected: a rejected token fails the send with ErrAuthentication naming
// OAUTHBEARER, after the RFC 7628 error exchange; the token never appears in the error.
func TestOAuthBearerRejected(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "oauth"))
	b := newOAuthBroker(t, c.ListenAddrs()[0], 0, true)
	var fetched atomic.Int32
	p := oauthProducer(t, c, b, &fetched, func(cfg *kastor.Config) {
		cfg.MaxBlock = time.Second
		cfg.Logger = discardLogger()
	})
	err := sendFails(t, p, "oauth")
	if !errors.Is(err, kastor.ErrAuthentication) || !strings.Contains(err.Error(), "OAUTHBEARER") || !strings.Contains(err.Error(), "invalid token") {
		t.Fatalf("want ErrAuthentication naming OAUTHBEARER and the broker's reason, got: %v", err)
	}
	if strings.Contains(err.Error(), "tok-") {
		t.Fatalf("the error shows the token: %v", err)
	}
	b.check(t)
}
