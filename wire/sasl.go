package wire

// SaslHandshakeRequest names the SASL mechanism to use (key 17, v0–v1). With v1 the SASL exchange
// that follows is wrapped in SaslAuthenticate requests; with v0 it is sent as raw frames.
type SaslHandshakeRequest struct {
	Mechanism string
}

// Key returns KeySaslHandshake.
func (*SaslHandshakeRequest) Key() int16 { return KeySaslHandshake }

// MinVersion is the lowest SaslHandshake version kastor speaks.
func (*SaslHandshakeRequest) MinVersion() int16 { return 0 }

// MaxVersion is the highest SaslHandshake version kastor speaks.
func (*SaslHandshakeRequest) MaxVersion() int16 { return 1 }

// IsFlexible is always false: SaslHandshake has no flexible version.
func (*SaslHandshakeRequest) IsFlexible(int16) bool { return false }

// ResponseKind returns a new *SaslHandshakeResponse.
func (*SaslHandshakeRequest) ResponseKind() Response { return new(SaslHandshakeResponse) }

// AppendTo appends the request body encoded at version.
func (req *SaslHandshakeRequest) AppendTo(dst []byte, _ int16) []byte {
	return AppendString(dst, req.Mechanism)
}

// SaslHandshakeResponse lists the broker's enabled mechanisms.
type SaslHandshakeResponse struct {
	ErrorCode  int16
	Mechanisms []string
}

// Key returns KeySaslHandshake.
func (*SaslHandshakeResponse) Key() int16 { return KeySaslHandshake }

// decode decodes the response body at version (0–1).
func (resp *SaslHandshakeResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeySaslHandshake, version, 0, 1); err != nil {
		return 0, err
	}
	*resp = SaslHandshakeResponse{}
	r := NewReader(src)
	resp.ErrorCode = r.Int16()
	if n := apiReadArrayLen(r, 2, false); n > 0 {
		resp.Mechanisms = make([]string, n)
		for i := range resp.Mechanisms {
			resp.Mechanisms[i] = apiReadString(r, false)
		}
	}
	return r.finish()
}

// SaslAuthenticateRequest carries one client message of the SASL exchange (key 36, v0–v2).
type SaslAuthenticateRequest struct {
	AuthBytes []byte
}

// Key returns KeySaslAuthenticate.
func (*SaslAuthenticateRequest) Key() int16 { return KeySaslAuthenticate }

// MinVersion is the lowest SaslAuthenticate version kastor speaks.
func (*SaslAuthenticateRequest) MinVersion() int16 { return 0 }

// MaxVersion is the highest SaslAuthenticate version kastor speaks.
func (*SaslAuthenticateRequest) MaxVersion() int16 { return 2 }

// IsFlexible reports whether version is flexible (v2).
func (*SaslAuthenticateRequest) IsFlexible(version int16) bool { return version >= 2 }

// ResponseKind returns a new *SaslAuthenticateResponse.
func (*SaslAuthenticateRequest) ResponseKind() Response { return new(SaslAuthenticateResponse) }

// AppendTo appends the request body encoded at version.
func (req *SaslAuthenticateRequest) AppendTo(dst []byte, version int16) []byte {
	flex := version >= 2
	dst = apiAppendBytes(dst, req.AuthBytes, flex)
	if flex {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// SaslAuthenticateResponse carries the server's SASL message.
type SaslAuthenticateResponse struct {
	ErrorCode    int16
	ErrorMessage *string
	// AuthBytes is copied out of the frame; nil when empty.
	AuthBytes []byte
	// SessionLifetimeMillis (v1+, KIP-368) is how long the session stays valid; 0 means no limit.
	SessionLifetimeMillis int64
}

// Key returns KeySaslAuthenticate.
func (*SaslAuthenticateResponse) Key() int16 { return KeySaslAuthenticate }

// decode decodes the response body at version (0–2).
func (resp *SaslAuthenticateResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeySaslAuthenticate, version, 0, 2); err != nil {
		return 0, err
	}
	*resp = SaslAuthenticateResponse{}
	flex := version >= 2
	r := NewReader(src)
	resp.ErrorCode = r.Int16()
	resp.ErrorMessage = apiReadNullableString(r, flex)
	resp.AuthBytes = apiReadBytes(r, flex)
	if version >= 1 {
		resp.SessionLifetimeMillis = r.Int64()
	}
	if flex {
		r.SkipTags()
	}
	return r.finish()
}
