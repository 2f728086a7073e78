package sasl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Token is an OAuth 2.0 bearer token for OAUTHBEARER.
type Token struct {
	// Value is the token itself (an access token, usually a JWT). Never printed.
	Value string
	// Lifetime is how long the token stays valid from when it was obtained; 0 if unknown. The
	// broker bounds the session by the token's expiry and asks for a new login before it (KIP-368).
	Lifetime time.Duration
	// Extensions are SASL extensions sent with the token (RFC 7628 section 3.1), such as a
	// cloud provider's logicalCluster or identityPoolId. Keys are letters only; "auth" is reserved.
	Extensions map[string]string
}

// String hides the token's value and the extensions' values.
func (t Token) String() string {
	keys := make([]string, 0, len(t.Extensions))
	for k := range t.Extensions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return fmt.Sprintf("sasl.Token{Value:%s Lifetime:%v Extensions:%v}", redacted, t.Lifetime, keys)
}

// GoString is String.
func (t Token) GoString() string { return t.String() }

// Format prints String for every verb.
func (t Token) Format(f fmt.State, verb rune) { formatRedacted(f, verb, t.String()) }

// OAuthBearer is SASL/OAUTHBEARER (RFC 7628, KIP-255): each login sends a bearer token that
// Token returns. Token is called for every login (each new connection, each re-authentication),
// so it should cache: OIDC returns such a Token function for an OAuth 2.0 token endpoint.
type OAuthBearer struct {
	Token func(ctx context.Context) (Token, error)
}

// Name returns "OAUTHBEARER".
func (OAuthBearer) Name() string { return "OAUTHBEARER" }

// Authenticate fetches a token and returns the RFC 7628 initial client response:
// "n,,\x01auth=Bearer <token>\x01<key>=<value>\x01...\x01" (extensions sorted by key).
func (o OAuthBearer) Authenticate(ctx context.Context, _ string) (Session, []byte, error) {
	if o.Token == nil {
		return nil, nil, errors.New("sasl: OAUTHBEARER needs a Token function")
	}
	tok, err := o.Token(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sasl: OAUTHBEARER token: %w", err)
	}
	msg, err := oauthMessage(tok)
	if err != nil {
		return nil, nil, err
	}
	return &oauthSession{}, msg, nil
}

func oauthMessage(tok Token) ([]byte, error) {
	if tok.Value == "" {
		return nil, errors.New("sasl: OAUTHBEARER token is empty")
	}
	// RFC 6750 b64token characters; checked so a malformed token cannot break the message framing.
	for _, r := range tok.Value {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~+/=", r)) {
			return nil, errors.New("sasl: OAUTHBEARER token has a character a bearer token cannot have")
		}
	}
	keys := make([]string, 0, len(tok.Extensions))
	for k, v := range tok.Extensions {
		if k == "" || k == "auth" || strings.IndexFunc(k, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) >= 0 {
			return nil, fmt.Errorf("sasl: OAUTHBEARER extension key %q is not letters only, or is the reserved \"auth\"", k)
		}
		if strings.IndexFunc(v, func(r rune) bool { return !(r >= 0x21 && r <= 0x7e || r == ' ' || r == '\t' || r == '\r' || r == '\n') }) >= 0 {
			return nil, fmt.Errorf("sasl: OAUTHBEARER extension %s has a character RFC 7628 does not allow", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	msg := []byte("n,,\x01auth=Bearer " + tok.Value + "\x01")
	for _, k := range keys {
		msg = append(msg, k+"="+tok.Extensions[k]+"\x01"...)
	}
	return append(msg, 0x01), nil
}

// oauthSession: the broker answers a good token with an empty message. A rejected token gets a
// JSON error message (RFC 7628 section 3.2.2), which the client acknowledges with a single 0x01;
// the broker then fails the login.
type oauthSession struct{ rejected string }

func (s *oauthSession) Challenge(server []byte) (bool, []byte, error) {
	if len(server) == 0 {
		return true, nil, nil
	}
	if s.rejected != "" {
		return false, nil, fmt.Errorf("sasl: OAUTHBEARER token rejected: %s", s.rejected)
	}
	s.rejected = string(server)
	return false, []byte{0x01}, nil
}

// String names the mechanism; the Token function holds no secret to print.
func (o OAuthBearer) String() string { return "sasl.OAuthBearer{}" }

// GoString is String.
func (o OAuthBearer) GoString() string { return o.String() }

// Format prints String for every verb.
func (o OAuthBearer) Format(f fmt.State, verb rune) { formatRedacted(f, verb, o.String()) }
