package sasl

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Plain is SASL/PLAIN (RFC 4616): the user name and password go to the broker as they are, so use
// it over TLS only.
type Plain struct {
	User string
	Pass string
}

// Name returns "PLAIN".
func (Plain) Name() string { return "PLAIN" }

// Authenticate sends "\x00user\x00pass" (no authorization identity).
func (p Plain) Authenticate(context.Context, string) (Session, []byte, error) {
	if p.User == "" {
		return nil, nil, errors.New("sasl: PLAIN needs a user name")
	}
	if strings.ContainsRune(p.User, 0) || strings.ContainsRune(p.Pass, 0) {
		return nil, nil, errors.New("sasl: PLAIN user name and password must not contain NUL")
	}
	msg := make([]byte, 0, 2+len(p.User)+len(p.Pass))
	msg = append(msg, 0)
	msg = append(msg, p.User...)
	msg = append(msg, 0)
	msg = append(msg, p.Pass...)
	return plainSession{}, msg, nil
}

type plainSession struct{}

// Challenge: the broker answers PLAIN with an empty message on success; anything is the end.
func (plainSession) Challenge([]byte) (bool, []byte, error) { return true, nil, nil }

// String shows the user, never the password.
func (p Plain) String() string { return fmt.Sprintf("sasl.Plain{User:%q Pass:%s}", p.User, redacted) }

// GoString is String: %#v must not show the password either.
func (p Plain) GoString() string { return p.String() }

// Format prints String for every verb.
func (p Plain) Format(f fmt.State, verb rune) { formatRedacted(f, verb, p.String()) }
