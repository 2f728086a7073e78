package wire

import "encoding/binary"

// ApiVersionsRequest asks a broker which versions of each API it speaks (key 18, v0–v4). It is the
// first request on every connection, sent before the broker's versions are known.
type ApiVersionsRequest struct {
	// ClientSoftwareName and ClientSoftwareVersion (v3+, KIP-511) identify the client. Brokers
	// validate them against [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?.
	ClientSoftwareName, ClientSoftwareVersion string
}

// Key returns KeyApiVersions.
func (*ApiVersionsRequest) Key() int16 { return KeyApiVersions }

// MinVersion is the lowest ApiVersions version kastor speaks.
func (*ApiVersionsRequest) MinVersion() int16 { return 0 }

// MaxVersion is the highest ApiVersions version kastor speaks.
func (*ApiVersionsRequest) MaxVersion() int16 { return 4 }

// IsFlexible reports whether version is flexible (v3+).
func (*ApiVersionsRequest) IsFlexible(version int16) bool { return version >= 3 }

// ResponseKind returns a new *ApiVersionsResponse.
func (*ApiVersionsRequest) ResponseKind() Response { return new(ApiVersionsResponse) }

// AppendTo appends the request body encoded at version.
func (req *ApiVersionsRequest) AppendTo(dst []byte, version int16) []byte {
	if version >= 3 {
		dst = AppendCompactString(dst, req.ClientSoftwareName)
		dst = AppendCompactString(dst, req.ClientSoftwareVersion)
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// ApiVersionsResponseKey is the version range a broker speaks for one API key.
type ApiVersionsResponseKey struct {
	ApiKey, MinVersion, MaxVersion int16
}

// SupportedFeature is a feature a broker supports (KIP-584), tagged field 0 of ApiVersions v3+.
type SupportedFeature struct {
	Name                   string
	MinVersion, MaxVersion int16
}

// FinalizedFeature is a cluster-wide finalized feature (KIP-584), tagged field 2 of ApiVersions v3+.
type FinalizedFeature struct {
	Name                             string
	MaxVersionLevel, MinVersionLevel int16
}

// ApiVersionsResponse is the broker's answer to ApiVersionsRequest. Its response header is always
// v0, even at flexible versions.
type ApiVersionsResponse struct {
	ErrorCode      int16
	ApiKeys        []ApiVersionsResponseKey
	ThrottleMillis int32 // v1+

	// Tagged fields, v3+.
	SupportedFeatures      []SupportedFeature // tag 0
	FinalizedFeaturesEpoch int64              // tag 1; -1 when absent
	FinalizedFeatures      []FinalizedFeature // tag 2
	ZkMigrationReady       bool               // tag 3
}

// Key returns KeyApiVersions.
func (*ApiVersionsResponse) Key() int16 { return KeyApiVersions }

// decode decodes the response body at version (0–4).
//
// A broker that does not speak the requested ApiVersions version answers UNSUPPORTED_VERSION (35):
// Kafka in the v0 format with the ApiKeys it does speak (KIP-511), other implementations however
// they like (librdkafka's mock cluster sends a 13-byte body that no version reads as meant). The
// caller needs only the error code to retry lower, so a body starting with 35 always decodes: as v0
// when that reading uses the whole body (Kafka's form, what the Java client tries), else as version
// (leniently, like any response), else as the bare error code with no ApiKeys (the caller then
// retries at v0, as the Java client does when no ApiVersions range comes back).
func (resp *ApiVersionsResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyApiVersions, version, 0, 4); err != nil {
		return 0, err
	}
	if version > 0 && len(src) >= 2 && int16(binary.BigEndian.Uint16(src)) == ErrUnsupportedVersionCode.Code {
		var v0 ApiVersionsResponse
		if trailing, err := v0.readFrom(src, 0); err == nil && trailing == 0 {
			*resp = v0
			return 0, nil
		}
		if trailing, err := resp.readFrom(src, version); err == nil {
			return trailing, nil
		}
		*resp = ApiVersionsResponse{ErrorCode: ErrUnsupportedVersionCode.Code, FinalizedFeaturesEpoch: -1}
		return len(src) - 2, nil
	}
	return resp.readFrom(src, version)
}

func (resp *ApiVersionsResponse) readFrom(src []byte, version int16) (int, error) {
	*resp = ApiVersionsResponse{FinalizedFeaturesEpoch: -1}
	flex := version >= 3
	r := NewReader(src)
	resp.ErrorCode = r.Int16()
	if n := apiReadArrayLen(r, 6+apiMinTags(flex), flex); n > 0 {
		resp.ApiKeys = make([]ApiVersionsResponseKey, n)
		for i := range resp.ApiKeys {
			k := &resp.ApiKeys[i]
			k.ApiKey = r.Int16()
			k.MinVersion = r.Int16()
			k.MaxVersion = r.Int16()
			if flex {
				r.SkipTags()
			}
		}
	}
	if version >= 1 {
		resp.ThrottleMillis = r.Int32()
	}
	if flex {
		r.Tags(resp.readTag)
	}
	return r.finish()
}

func (resp *ApiVersionsResponse) readTag(key uint32, data []byte) error {
	switch key {
	case 0:
		return apiSubReader(data, func(r *Reader) {
			resp.SupportedFeatures = nil
			if n := apiReadArrayLen(r, 6, true); n > 0 {
				resp.SupportedFeatures = make([]SupportedFeature, n)
				for i := range resp.SupportedFeatures {
					f := &resp.SupportedFeatures[i]
					f.Name = apiReadString(r, true)
					f.MinVersion = r.Int16()
					f.MaxVersion = r.Int16()
					r.SkipTags()
				}
			}
		})
	case 1:
		return apiSubReader(data, func(r *Reader) { resp.FinalizedFeaturesEpoch = r.Int64() })
	case 2:
		return apiSubReader(data, func(r *Reader) {
			resp.FinalizedFeatures = nil
			if n := apiReadArrayLen(r, 6, true); n > 0 {
				resp.FinalizedFeatures = make([]FinalizedFeature, n)
				for i := range resp.FinalizedFeatures {
					f := &resp.FinalizedFeatures[i]
					f.Name = apiReadString(r, true)
					f.MaxVersionLevel = r.Int16()
					f.MinVersionLevel = r.Int16()
					r.SkipTags()
				}
			}
		})
	case 3:
		return apiSubReader(data, func(r *Reader) { resp.ZkMigrationReady = r.Bool() })
	}
	return nil // unknown tag: skipped
}
