package kastor

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kastor-go/kastor/sasl"
)

// securityFromProperties reads the Java client's (and librdkafka's) security properties:
// security.protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), sasl.mechanism (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512), sasl.jaas.config (PlainLoginModule, ScramLoginModule) or
// librdkafka's sasl.username and sasl.password, ssl.ca.location, ssl.certificate.location and
// ssl.key.location. It returns what Config.TLS and Config.SASL should be and the keys it used;
// keys the protocol does not use are left out (as Java ignores them), so the caller can warn about
// them. Errors name keys, never a value: a password must not reach a log through one.
func securityFromProperties(props map[string]string) (*tls.Config, sasl.Mechanism, []string, error) {
	var used []string
	get := func(key string) (string, bool) {
		v, ok := props[key]
		if ok {
			used = append(used, key)
		}
		return strings.TrimSpace(v), ok
	}
	protocol, _ := get("security.protocol")
	if protocol == "" {
		protocol = "PLAINTEXT"
	}
	var useTLS, useSASL bool
	switch strings.ToUpper(protocol) {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, nil, nil, fmt.Errorf("%w: security.protocol %q is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", ErrInvalidConfig, protocol)
	}
	var tlsCfg *tls.Config
	if useTLS {
		var err error
		if tlsCfg, err = tlsFromProperties(get); err != nil {
			return nil, nil, nil, err
		}
	}
	var mech sasl.Mechanism
	if useSASL {
		var err error
		if mech, err = saslFromProperties(get); err != nil {
			return nil, nil, nil, err
		}
	}
	return tlsCfg, mech, used, nil
}

func tlsFromProperties(get func(string) (string, bool)) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if path, _ := get("ssl.ca.location"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: ssl.ca.location: %v", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ssl.ca.location %s holds no PEM certificate", ErrInvalidConfig, path)
		}
		cfg.RootCAs = pool
	}
	certPath, _ := get("ssl.certificate.location")
	keyPath, _ := get("ssl.key.location")
	switch {
	case certPath != "" && keyPath != "":
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			// LoadX509KeyPair's errors describe the PEM blocks, never the key's bytes.
			return nil, fmt.Errorf("%w: ssl.certificate.location and ssl.key.location: %v", ErrInvalidConfig, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case certPath != "" || keyPath != "":
		return nil, fmt.Errorf("%w: ssl.certificate.location and ssl.key.location go together: set both or neither", ErrInvalidConfig)
	}
	return cfg, nil
}

func saslFromProperties(get func(string) (string, bool)) (sasl.Mechanism, error) {
	mechanism, _ := get("sasl.mechanism")
	if mechanism == "" {
		mechanism = "GSSAPI" // Java's and librdkafka's default
	}
	mechanism = strings.ToUpper(mechanism)
	var module string
	switch mechanism {
	case "PLAIN":
		module = "org.apache.kafka.common.security.plain.PlainLoginModule"
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		module = "org.apache.kafka.common.security.scram.ScramLoginModule"
	case "OAUTHBEARER":
		return nil, fmt.Errorf("%w: sasl.mechanism OAUTHBEARER needs a token source: set Config.SASL to sasl.OAuthBearer (see sasl.OIDC)", ErrInvalidConfig)
	default:
		return nil, fmt.Errorf("%w: sasl.mechanism %q is not supported: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (or set Config.SASL)", ErrInvalidConfig, mechanism)
	}
	jaas, hasJaas := get("sasl.jaas.config")
	user, hasUser := get("sasl.username")
	pass, hasPass := get("sasl.password")
	switch {
	case hasJaas && (hasUser || hasPass):
		return nil, fmt.Errorf("%w: set sasl.jaas.config or sasl.username and sasl.password, not both", ErrInvalidConfig)
	case hasJaas:
		class, opts, err := parseJAAS(jaas)
		if err != nil {
			return nil, fmt.Errorf("%w: sasl.jaas.config: %v", ErrInvalidConfig, err)
		}
		if class != module {
			switch class {
			case "org.apache.kafka.common.security.plain.PlainLoginModule", "org.apache.kafka.common.security.scram.ScramLoginModule",
				"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule", "com.sun.security.auth.module.Krb5LoginModule":
			default:
				class = "an unexpected login module" // what stands there may be a misplaced secret: not repeated
			}
			return nil, fmt.Errorf("%w: sasl.jaas.config names %s, but sasl.mechanism %s needs %s", ErrInvalidConfig, class, mechanism, module)
		}
		user, pass = opts["username"], opts["password"]
	case !hasUser:
		return nil, fmt.Errorf("%w: sasl.mechanism %s needs sasl.jaas.config, or sasl.username and sasl.password", ErrInvalidConfig, mechanism)
	}
	if user == "" {
		return nil, fmt.Errorf("%w: the SASL user name is empty", ErrInvalidConfig)
	}
	switch mechanism {
	case "PLAIN":
		return sasl.Plain{User: user, Pass: pass}, nil
	case "SCRAM-SHA-256":
		return sasl.ScramSHA256{User: user, Pass: pass}, nil
	default:
		return sasl.ScramSHA512{User: user, Pass: pass}, nil
	}
}

// parseJAAS reads one JAAS login module entry: `<class> <flag> key="value" ... ;`. Values may be
// quoted (with \" and \\ escapes) or bare. Errors give positions, never the text: the entry holds
// a password.
func parseJAAS(s string) (class string, opts map[string]string, err error) {
	s = strings.TrimSpace(s)
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	word := func() string {
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '=' && s[i] != ';' {
			i++
		}
		return s[start:i]
	}
	class = word()
	skipSpace()
	flag := word()
	switch flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return "", nil, errors.New("want `<login module class> required key=\"value\" ... ;`")
	}
	opts = map[string]string{}
	for {
		skipSpace()
		if i >= len(s) {
			return "", nil, errors.New("the entry does not end with ';'")
		}
		if s[i] == ';' {
			i++
			skipSpace()
			if i != len(s) {
				return "", nil, fmt.Errorf("text after the entry's ';' (at byte %d); give one login module", i)
			}
			return class, opts, nil
		}
		key := word()
		if key == "" || i >= len(s) || s[i] != '=' {
			return "", nil, fmt.Errorf("want key=value at byte %d", i)
		}
		i++
		var val strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				ch := s[i]
				i++
				if ch == '\\' && i < len(s) {
					val.WriteByte(s[i])
					i++
					continue
				}
				if ch == '"' {
					closed = true
					break
				}
				val.WriteByte(ch)
			}
			if !closed {
				return "", nil, fmt.Errorf("the value of %s has no closing quote", key)
			}
		} else {
			val.WriteString(word())
		}
		opts[key] = val.String()
	}
}
