package sasl

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

const secret = "hunter2-secret-value"

// printed is every way a value is commonly printed: the verbs, nested in a struct (as in
// kastor.Config) and through a pointer.
func printed(v any) []string {
	type holder struct{ SASL any }
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out = append(out, fmt.Sprintf(verb, v), fmt.Sprintf(verb, holder{v}), fmt.Sprintf(verb, &holder{v}))
	}
	return append(out, fmt.Sprint(v), fmt.Sprintln(v))
}

func TestPrintedFormHidesSecrets(t *testing.T) {
	values := []any{
		Plain{User: "alice", Pass: secret}, &Plain{User: "alice", Pass: secret},
		ScramSHA256{User: "alice", Pass: secret}, &ScramSHA256{User: "alice", Pass: secret},
		ScramSHA512{User: "alice", Pass: secret}, &ScramSHA512{User: "alice", Pass: secret},
	}
	for _, v := range values {
		for _, s := range printed(v) {
			if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) || strings.Contains(s, fmt.Sprintf("%X", secret)) {
				t.Fatalf("%T printed its secret: %s", v, s)
			}
		}
		if s := fmt.Sprintf("%+v", v); !strings.Contains(s, "alice") || !strings.Contains(s, redacted) {
			t.Fatalf("%T printed as %q: want the user and %s", v, s, redacted)
		}
	}
}

func TestPlainMessage(t *testing.T) {
	s, msg, err := Plain{User: "alice", Pass: secret}.Authenticate(context.Background(), "broker")
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != "\x00alice\x00"+secret {
		t.Fatalf("PLAIN message %q", msg)
	}
	if done, resp, err := s.Challenge(nil); !done || resp != nil || err != nil {
		t.Fatalf("Challenge = %v, %q, %v", done, resp, err)
	}
	for _, bad := range []Plain{{Pass: secret}, {User: "a\x00b", Pass: secret}, {User: "alice", Pass: "x\x00" + secret}} {
		if _, _, err := bad.Authenticate(context.Background(), "broker"); err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("%v: want an error without the password, got %v", bad, err)
		}
	}
}

func TestScramErrorsHideSecrets(t *testing.T) {
	// SASLprep rejects control characters: the error must say so without echoing the password.
	for _, m := range []Mechanism{ScramSHA256{User: "alice", Pass: secret + "\u0007"}, ScramSHA512{User: "alice", Pass: secret + "\u0007"}} {
		_, _, err := m.Authenticate(context.Background(), "broker")
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), m.Name()) {
			t.Fatalf("%s: want an error naming the mechanism without the password, got %v", m.Name(), err)
		}
	}
	// A server-first message that does not extend the client's nonce is refused.
	s, first, err := ScramSHA256{User: "alice", Pass: secret}.Authenticate(context.Background(), "broker")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(first), "n,,n=alice,r=") {
		t.Fatalf("client-first %q", first)
	}
	if _, _, err := s.Challenge([]byte("r=other,s=c2FsdA==,i=4096")); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("want a nonce error without the password, got %v", err)
	}
}
