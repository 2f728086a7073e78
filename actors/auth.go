package actors

// Connection security: TLS on the socket and the SASL login after ApiVersions (KIP-43, KIP-152),
// both part of the handshake on the dial goroutine.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"syscall"
	"time"

	"github.com/kastor-go/kastor/messages"
	"github.com/kastor-go/kastor/sasl"
	"github.com/kastor-go/kastor/wire"
)

// Security is how every connection protects itself: TLS (nil: plaintext) and a SASL login (nil:
// none).
type Security struct {
	TLS  *tls.Config
	SASL sasl.Mechanism
}

// hostOf is addr's host, or addr itself when it has no port.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// startTLS runs the TLS handshake on conn, verifying the broker's host unless cfg names a server.
func startTLS(ctx context.Context, conn net.Conn, addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = hostOf(addr)
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("%w: TLS handshake with %s: %v", tlsCause(err), addr, err)
	}
	return tc, nil
}

// tlsCause classifies a TLS failure: a certificate the client rejected or an alert from the broker
// (with TLS 1.3 a missing or rejected client certificate arrives as an alert on the first read) is
// an authentication failure, as in Java (SslAuthenticationException); anything else is the
// connection's.
func tlsCause(err error) error {
	var verify *tls.CertificateVerificationError
	var op *net.OpError
	if errors.As(err, &verify) || (errors.As(err, &op) && op.Op == "remote error") {
		return fmt.Errorf("%w: %w", messages.ErrConnection, messages.ErrAuthentication)
	}
	return messages.ErrConnection
}

// apiVersionsFailure is the error of a failed ApiVersions exchange, the first bytes a broker
// reads: over TLS it may be the broker rejecting our certificate; in plaintext, a TLS listener
// hanging up on bytes that are not TLS, which the error suggests.
func apiVersionsFailure(sec Security, addr string, version int16, err error) error {
	if sec.TLS != nil {
		return fmt.Errorf("%w: ApiVersions v%d to %s over TLS: %v", tlsCause(err), version, addr, err)
	}
	return fmt.Errorf("%w: ApiVersions v%d to %s: %v (if this listener uses TLS, set Config.TLS)",
		messages.ErrConnection, version, addr, err)
}

// roundTripper sends one request and reads its response: on the socket directly during the
// handshake, through the link's writer and reader during a re-authentication.
type roundTripper func(req wire.Request, version int16, resp wire.Response) error

// authenticate logs in with mech: SaslHandshake v1 names the mechanism, then SaslAuthenticate
// carries its messages until the mechanism is done. It returns the session lifetime the broker
// granted (0: unlimited). A rejected login wraps ErrAuthentication; a broken connection only
// ErrConnection.
func authenticate(ctx context.Context, rt roundTripper, cfg connectionConfig, apis wire.BrokerAPIs, mech sasl.Mechanism) (time.Duration, error) {
	name := mech.Name()
	rejected := func(format string, args ...any) error {
		return fmt.Errorf("%w: %w: SASL %s login to %s: %s", messages.ErrConnection, messages.ErrAuthentication,
			name, cfg.Addr, fmt.Sprintf(format, args...))
	}
	broken := func(api string, err error) error {
		return fmt.Errorf("%w: SASL %s login to %s: %s: %v", messages.ErrConnection, name, cfg.Addr, api, err)
	}
	hs := &wire.SaslHandshakeRequest{Mechanism: name}
	hv, err := apis.Pick(hs)
	if err == nil && hv < 1 {
		err = errors.New("the broker speaks SaslHandshake v0 only (raw SASL frames), which kastor does not")
	}
	if err != nil {
		return 0, rejected("%v", err)
	}
	var hr wire.SaslHandshakeResponse
	if err := rt(hs, hv, &hr); err != nil {
		return 0, broken("SaslHandshake", err)
	}
	if hr.ErrorCode != 0 {
		return 0, rejected("the broker enables %v, not %s: %v", hr.Mechanisms, name, wire.ErrorForCode(hr.ErrorCode))
	}
	av, err := apis.Pick(&wire.SaslAuthenticateRequest{})
	if err != nil {
		return 0, rejected("%v", err)
	}
	session, msg, err := mech.Authenticate(ctx, hostOf(cfg.Addr))
	if err != nil {
		return 0, rejected("%v", err)
	}
	for {
		var ar wire.SaslAuthenticateResponse
		if err := rt(&wire.SaslAuthenticateRequest{AuthBytes: msg}, av, &ar); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				// Some brokers answer rejected credentials by hanging up rather than with an error
				// code (older Kafka, kfake): a hang-up in answer to the login is taken as a rejection.
				return 0, rejected("the broker closed the connection in answer to the login (%v), as brokers do when they reject it", err)
			}
			return 0, broken("SaslAuthenticate", err)
		}
		if ar.ErrorCode != 0 {
			text := wire.ErrorForCode(ar.ErrorCode).Error()
			if ar.ErrorMessage != nil && *ar.ErrorMessage != "" {
				text += ": " + *ar.ErrorMessage
			}
			return 0, rejected("%s", text)
		}
		done, next, err := session.Challenge(ar.AuthBytes)
		if err != nil {
			return 0, rejected("%v", err)
		}
		if done {
			return time.Duration(max(ar.SessionLifetimeMillis, 0)) * time.Millisecond, nil
		}
		msg = next
	}
}

// WithAuthFailure adds the latest setup failure to err when it is a rejected login or certificate,
// so a record that timed out because a broker refused the credentials says so (ErrAuthentication).
func (sh *Shared) WithAuthFailure(err error) error {
	if cause := sh.SetupFailure(); errors.Is(cause, messages.ErrAuthentication) {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

// SetupFailure is the latest failed connection setup, or nil if the latest setup succeeded.
func (sh *Shared) SetupFailure() error { return sh.Cluster().SetupFailure }

// Re-authentication (KIP-368). A broker that grants a SASL session lifetime closes the connection
// when it ends, so before then the connection logs in again on the same socket, as Java does: at a
// random 85–95% of the lifetime it stops writing (new Calls wait, as while dialing), lets the
// requests in flight complete, runs the SASL exchange on a goroutine through the link's writer and
// reader, then writes what waited. Nothing in flight fails or is reordered; the actor never blocks.
// connCore decides when (conncore.go); the actor runs the exchange (startReauth).

type (
	reauthDone struct {
		gen     uint64
		session time.Duration
		err     error
	}
)

// reauthState is a connection's re-authentication: the timer to the next one, and while an
// exchange runs, the channel that hands it the broker's responses and the cancel that ends it.
type reauthState struct {
	timer  wakeTimer
	frames chan []byte
	cancel context.CancelFunc
}

// startReauth runs the SASL exchange on a goroutine through the link's writer and reader: the
// core hands it the broker's responses (reauthFrame) and hears its outcome as reauthDone.
func (s *connState) startReauth() {
	l := s.link
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	frames := make(chan []byte, 1) // the exchange waits for each response: one at a time
	s.reauth.frames, s.reauth.cancel = frames, cancel
	cfg, apis, mech := s.cfg, s.core.apis, s.shared.Settings.Security.SASL
	cfg.Addr = l.addr
	s.shared.Goroutines.Add(1)
	go func() {
		defer s.shared.Goroutines.Done()
		defer cancel()
		// The exchange has the connection to itself, so its correlation ids only need to differ
		// from each other; negative ones cannot be mistaken for the actor's.
		corr := int32(math.MinInt32)
		rt := func(req wire.Request, version int16, resp wire.Response) error {
			corr++
			l.writes.push(outFrame{frame: encodeFrame(req, version, corr, cfg.ClientID, false), corr: corr})
			var frame []byte
			select {
			case frame = <-frames:
			case <-ctx.Done():
				return fmt.Errorf("no %s response: %w", wire.APIName(req.Key()), context.Cause(ctx))
			}
			got, body, err := wire.ReadResponseHeader(frame, wire.ResponseHeaderFlexible(req.Key(), version))
			if err != nil {
				return err
			}
			if got != corr {
				return fmt.Errorf("correlation id %d, want %d", got, corr)
			}
			return resp.ReadFrom(body, version)
		}
		session, err := authenticate(ctx, rt, cfg, apis, mech)
		if err != nil {
			err = fmt.Errorf("re-authenticating: %w", err)
		}
		l.send(&reauthDone{gen: l.gen, session: session, err: err})
	}()
}

// stopReauth ends the timer and any exchange with the link.
func (s *connState) stopReauth() {
	s.reauth.timer.stop()
	if s.reauth.cancel != nil {
		s.reauth.cancel()
	}
	s.reauth.frames, s.reauth.cancel = nil, nil
}
