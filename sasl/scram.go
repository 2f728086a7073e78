package sasl

import (
	"context"
	"errors"
	"fmt"

	"github.com/xdg-go/scram"
)

// ScramSHA256 is SASL/SCRAM-SHA-256 (RFC 5802, RFC 7677): the password never crosses the wire,
// and the broker proves it knows the credentials too.
type ScramSHA256 struct {
	User string
	Pass string
}

// ScramSHA512 is SASL/SCRAM-SHA-512, like ScramSHA256 with SHA-512.
type ScramSHA512 struct {
	User string
	Pass string
}

// Name returns "SCRAM-SHA-256".
func (ScramSHA256) Name() string { return "SCRAM-SHA-256" }

// Name returns "SCRAM-SHA-512".
func (ScramSHA512) Name() string { return "SCRAM-SHA-512" }

// Authenticate starts a SCRAM conversation and returns the client-first message.
func (s ScramSHA256) Authenticate(context.Context, string) (Session, []byte, error) {
	return scramStart(scram.SHA256, s.Name(), s.User, s.Pass)
}

// Authenticate starts a SCRAM conversation and returns the client-first message.
func (s ScramSHA512) Authenticate(context.Context, string) (Session, []byte, error) {
	return scramStart(scram.SHA512, s.Name(), s.User, s.Pass)
}

func scramStart(hash scram.HashGeneratorFcn, name, user, pass string) (Session, []byte, error) {
	if user == "" {
		return nil, nil, fmt.Errorf("sasl: %s needs a user name", name)
	}
	client, err := hash.NewClient(user, pass, "")
	if err != nil {
		// The library's error names which input failed SASLprep, not its value.
		return nil, nil, fmt.Errorf("sasl: %s: invalid credentials: %w", name, err)
	}
	conv := client.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		return nil, nil, fmt.Errorf("sasl: %s: %w", name, err)
	}
	return &scramSession{conv: conv, name: name}, []byte(first), nil
}

type scramSession struct {
	conv *scram.ClientConversation
	name string
}

// Challenge answers server-first with client-final, then checks server-final's signature.
func (s *scramSession) Challenge(server []byte) (bool, []byte, error) {
	if s.conv.Done() {
		return true, nil, nil
	}
	resp, err := s.conv.Step(string(server))
	if err != nil {
		return false, nil, fmt.Errorf("sasl: %s: %w", s.name, err)
	}
	if s.conv.Done() {
		if !s.conv.Valid() {
			return false, nil, errors.New("sasl: " + s.name + ": the broker's signature is not valid")
		}
		return true, nil, nil
	}
	return false, []byte(resp), nil
}

// String shows the user, never the password.
func (s ScramSHA256) String() string {
	return fmt.Sprintf("sasl.ScramSHA256{User:%q Pass:%s}", s.User, redacted)
}

// GoString is String.
func (s ScramSHA256) GoString() string { return s.String() }

// Format prints String for every verb.
func (s ScramSHA256) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.String()) }

// String shows the user, never the password.
func (s ScramSHA512) String() string {
	return fmt.Sprintf("sasl.ScramSHA512{User:%q Pass:%s}", s.User, redacted)
}

// GoString is String.
func (s ScramSHA512) GoString() string { return s.String() }

// Format prints String for every verb.
func (s ScramSHA512) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.String()) }
