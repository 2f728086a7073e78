package sasl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestOAuthBearerMessage(t *testing.T) {
	m := OAuthBearer{Token: func(context.Context) (Token, error) {
		return Token{Value: "eyJ.abc-_.xyz", Lifetime: time.Minute, Extensions: map[string]string{"logicalCluster": "lkc-1", "identityPoolId": "pool-2"}}, nil
	}}
	s, msg, err := m.Authenticate(context.Background(), "broker")
	if err != nil {
		t.Fatal(err)
	}
	want := "n,,\x01auth=Bearer eyJ.abc-_.xyz\x01identityPoolId=pool-2\x01logicalCluster=lkc-1\x01\x01"
	if string(msg) != want {
		t.Fatalf("client message %q, want %q", msg, want)
	}
	if done, _, err := s.Challenge(nil); !done || err != nil {
		t.Fatalf("empty server message: done=%v err=%v", done, err)
	}
	// A rejection: the JSON error is acknowledged with 0x01, then the login fails.
	s, _, _ = m.Authenticate(context.Background(), "broker")
	done, resp, err := s.Challenge([]byte(`{"status":"invalid_token"}`))
	if done || err != nil || string(resp) != "\x01" {
		t.Fatalf("error message: done=%v resp=%q err=%v", done, resp, err)
	}
	if _, _, err := s.Challenge([]byte(`x`)); err == nil || !strings.Contains(err.Error(), "invalid_token") {
		t.Fatalf("want the broker's rejection, got %v", err)
	}
}

func TestOAuthBearerBadTokens(t *testing.T) {
	for _, tok := range []Token{
		{},
		{Value: "a\x01b" + secret},
		{Value: "ok", Extensions: map[string]string{"auth": "x"}},
		{Value: "ok", Extensions: map[string]string{"bad key": "x"}},
		{Value: "ok", Extensions: map[string]string{"k": "\x01"}},
	} {
		_, _, err := OAuthBearer{Token: func(context.Context) (Token, error) { return tok, nil }}.Authenticate(context.Background(), "b")
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("%v: want an error without the token, got %v", tok, err)
		}
	}
	if _, _, err := (OAuthBearer{}).Authenticate(context.Background(), "b"); err == nil {
		t.Fatal("nil Token accepted")
	}
	boom := errors.New("boom")
	_, _, err := OAuthBearer{Token: func(context.Context) (Token, error) { return Token{}, boom }}.Authenticate(context.Background(), "b")
	if !errors.Is(err, boom) {
		t.Fatalf("want the Token error wrapped, got %v", err)
	}
	for _, v := range []any{Token{Value: secret, Extensions: map[string]string{"k": secret}}, OAuthBearer{}} {
		for _, s := range printed(v) {
			if strings.Contains(s, secret) {
				t.Fatalf("%T printed its secret: %s", v, s)
			}
		}
	}
}

// tokenEndpoint is an httptest OAuth 2.0 token endpoint for the client-credentials grant.
type tokenEndpoint struct {
	mu      sync.Mutex
	fetches int
	fail    bool
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, pass, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" || !ok || id != "client" || pass != secret || e.fail {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	e.fetches++
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"token-%d","token_type":"bearer","expires_in":100}`, e.fetches)
}

func TestOIDC(t *testing.T) {
	ep := &tokenEndpoint{}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	clock := time.Now()
	src := newOIDC(clientcredentials.Config{ClientID: "client", ClientSecret: secret, TokenURL: srv.URL, Scopes: []string{"kafka"},
		AuthStyle: oauth2.AuthStyleInHeader}, func() time.Time { return clock })
	get := func() Token {
		t.Helper()
		tok, err := src.token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if tok := get(); tok.Value != "token-1" || tok.Lifetime < 90*time.Second || tok.Lifetime > 101*time.Second {
		t.Fatalf("first token %q lifetime %v", tok.Value, tok.Lifetime)
	}
	clock = clock.Add(50 * time.Second)
	if tok := get(); tok.Value != "token-1" {
		t.Fatalf("at half its lifetime the token was not reused: got %q", tok.Value)
	}
	// The endpoint failing while the cached token is valid: the cached one is used.
	clock = clock.Add(35 * time.Second) // 85s: past the refresh point (80s), before expiry (100s)
	ep.mu.Lock()
	ep.fail = true
	ep.mu.Unlock()
	if tok := get(); tok.Value != "token-1" {
		t.Fatalf("a failed refresh did not fall back to the valid token: got %q", tok.Value)
	}
	ep.mu.Lock()
	ep.fail = false
	ep.mu.Unlock()
	if tok := get(); tok.Value != "token-2" {
		t.Fatalf("past 80%% of its lifetime the token was not refreshed: got %q", tok.Value)
	}
	// With no valid token, the endpoint's error is surfaced, without the client secret.
	clock = clock.Add(time.Hour)
	ep.mu.Lock()
	ep.fail = true
	ep.mu.Unlock()
	_, err := src.token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), secret) {
		t.Fatalf("want the endpoint's error without the secret, got %v", err)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.fetches != 2 {
		t.Fatalf("%d fetches, want 2", ep.fetches)
	}
}
