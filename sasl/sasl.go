// Package sasl holds the SASL mechanisms a kastor producer can log in with (Config.SASL): PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER. Mechanism is the extension point: implement it to
// plug in another (a cloud provider's IAM login, for example).
//
// The printed form of every type here (String, GoString, and any fmt verb) hides passwords and
// tokens, so a Config printed with fmt.Sprintf("%+v", cfg) or logged never shows them.
package sasl

import (
	"context"
	"fmt"
)

// Mechanism is one SASL mechanism. A connection calls Authenticate once per login (every new
// connection, and again when the broker's session lifetime runs out), then feeds each of the
// broker's messages to the returned Session until it is done.
type Mechanism interface {
	// Name is the mechanism's registered SASL name, sent in SaslHandshake ("PLAIN", "SCRAM-SHA-256").
	Name() string
	// Authenticate starts a login to the broker at host (its host name, without the port) and
	// returns the conversation and the client's first message.
	Authenticate(ctx context.Context, host string) (s Session, initial []byte, err error)
}

// Session is one login conversation.
type Session interface {
	// Challenge consumes the broker's latest message. It returns done when the login is complete
	// on the client's side (the response is then ignored), otherwise the next message to send.
	// An error means the broker's message was not acceptable (the login fails).
	Challenge(server []byte) (done bool, response []byte, err error)
}

const redacted = "[redacted]"

// formatRedacted implements fmt.Formatter for every verb with the type's String, so no verb
// (%v, %+v, %#v, %s, %q, %x) reaches the secret fields.
func formatRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s)
		return
	}
	fmt.Fprint(f, s)
}
