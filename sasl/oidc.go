package sasl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// refreshFactor: a cached token is replaced once this fraction of its lifetime has passed, so a
// login never presents a token about to expire (Java's sasl.login.refresh.window.factor, 0.8).
const refreshFactor = 0.8

// OIDC returns a Token function for OAuthBearer that gets tokens from an OAuth 2.0 token endpoint
// with the client-credentials grant (RFC 6749 section 4.4), as Java's OIDC login callback handler
// does (KIP-768). Tokens are cached and fetched anew once 80% of their lifetime has passed;
// concurrent logins share one fetch. If a refresh fails while the cached token is still valid,
// the cached token is used and the next login tries again. A token without an expiry is fetched for every login.
//
//	cfg.SASL = sasl.OAuthBearer{Token: sasl.OIDC(clientcredentials.Config{
//		ClientID: id, ClientSecret: secret, TokenURL: url, Scopes: []string{"kafka"}})}
func OIDC(cfg clientcredentials.Config) func(context.Context) (Token, error) {
	return newOIDC(cfg, time.Now).token
}

type oidcSource struct {
	cfg clientcredentials.Config
	now func() time.Time

	mu      sync.Mutex
	cached  Token
	fetched time.Time
	expiry  time.Time
}

func newOIDC(cfg clientcredentials.Config, now func() time.Time) *oidcSource {
	return &oidcSource{cfg: cfg, now: now}
}

func (s *oidcSource) token(ctx context.Context) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.cached.Value != "" && !s.expiry.IsZero() && now.Before(s.fetched.Add(time.Duration(float64(s.expiry.Sub(s.fetched))*refreshFactor))) {
		tok := s.cached
		tok.Lifetime = s.expiry.Sub(now)
		return tok, nil
	}
	t, err := s.cfg.Token(ctx)
	if err != nil && s.cached.Value != "" && now.Before(s.expiry) {
		// The endpoint failed while the cached token is still good: use it, try again next login.
		tok := s.cached
		tok.Lifetime = s.expiry.Sub(now)
		return tok, nil
	}
	if err != nil {
		// The token endpoint's answer is in err; the client secret never is (it goes in a header
		// or the request body, which oauth2's errors do not repeat).
		return Token{}, fmt.Errorf("sasl: OIDC token from %s: %w", s.cfg.TokenURL, err)
	}
	if t.AccessToken == "" {
		return Token{}, errors.New("sasl: OIDC token endpoint " + s.cfg.TokenURL + " returned no access token")
	}
	s.cached, s.fetched, s.expiry = Token{Value: t.AccessToken}, now, t.Expiry
	tok := s.cached
	if !t.Expiry.IsZero() {
		tok.Lifetime = t.Expiry.Sub(now)
	}
	return tok, nil
}
