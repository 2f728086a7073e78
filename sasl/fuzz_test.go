package sasl

import (
	"context"
	"testing"
)

// FuzzSessions feeds arbitrary broker messages to the sessions that parse them (SCRAM's
// server-first and server-final, OAUTHBEARER's error): they may refuse, never panic or loop.
func FuzzSessions(f *testing.F) {
	f.Add([]byte("r=abc,s=c2FsdA==,i=4096"), []byte("v=c2lnbmF0dXJl"))
	f.Add([]byte("e=invalid-proof"), []byte{})
	f.Add([]byte(`{"status":"invalid_token"}`), []byte("x"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		for _, m := range []Mechanism{ScramSHA256{User: "u", Pass: "p"}, ScramSHA512{User: "u", Pass: "p"},
			OAuthBearer{Token: func(context.Context) (Token, error) { return Token{Value: "t"}, nil }}} {
			s, _, err := m.Authenticate(context.Background(), "h")
			if err != nil {
				t.Fatal(err)
			}
			if done, _, err := s.Challenge(first); done || err != nil {
				continue
			}
			s.Challenge(second)
		}
	})
}
