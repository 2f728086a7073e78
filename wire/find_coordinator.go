package wire

// Coordinator key types of FindCoordinator (v1+): whose coordinator to find.
const (
	CoordinatorTypeGroup       int8 = 0 // a consumer group's coordinator (the group id)
	CoordinatorTypeTransaction int8 = 1 // a transactional producer's coordinator (the transactional id)
)

// FindCoordinatorRequest asks any broker which broker coordinates a group or a transactional id
// (key 10, v0–v6). Up to v3 it names one key (CoordinatorKey); from v4 (KIP-699) a batch of keys
// (CoordinatorKeys). NewFindCoordinatorRequest fills both, so one request suits any version.
type FindCoordinatorRequest struct {
	CoordinatorKey  string   // v0–v3
	CoordinatorType int8     // v1+; v0 knows groups only
	CoordinatorKeys []string // v4+
}

// NewFindCoordinatorRequest asks for the coordinator of one key of keyType, in a form every
// version can encode.
func NewFindCoordinatorRequest(keyType int8, key string) *FindCoordinatorRequest {
	return &FindCoordinatorRequest{CoordinatorKey: key, CoordinatorType: keyType, CoordinatorKeys: []string{key}}
}

// Key returns KeyFindCoordinator.
func (*FindCoordinatorRequest) Key() int16 { return KeyFindCoordinator }

// MinVersion is the lowest FindCoordinator version that can carry the request: v0 knows
// consumer groups only, so any other key type needs v1 (as the Java client requires).
func (req *FindCoordinatorRequest) MinVersion() int16 {
	if req.CoordinatorType != CoordinatorTypeGroup {
		return 1
	}
	return 0
}

// MaxVersion is the highest FindCoordinator version kastor speaks.
func (*FindCoordinatorRequest) MaxVersion() int16 { return 6 }

// IsFlexible reports whether version is flexible (v3+).
func (*FindCoordinatorRequest) IsFlexible(version int16) bool { return version >= 3 }

// ResponseKind returns a new *FindCoordinatorResponse.
func (*FindCoordinatorRequest) ResponseKind() Response { return new(FindCoordinatorResponse) }

// AppendTo appends the request body encoded at version.
func (req *FindCoordinatorRequest) AppendTo(dst []byte, version int16) []byte {
	flex := version >= 3
	if version <= 3 {
		dst = apiAppendString(dst, req.CoordinatorKey, flex)
	}
	if version >= 1 {
		dst = AppendInt8(dst, req.CoordinatorType)
	}
	if version >= 4 {
		dst = apiAppendArrayLen(dst, len(req.CoordinatorKeys), flex)
		for _, k := range req.CoordinatorKeys {
			dst = apiAppendString(dst, k, flex)
		}
	}
	if flex {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// FindCoordinatorResult is the coordinator of one key.
type FindCoordinatorResult struct {
	Key          string
	NodeID       int32
	Host         string
	Port         int32
	ErrorCode    int16
	ErrorMessage *string
}

// FindCoordinatorResponse is the broker's answer: up to v3 the one coordinator in the top-level
// fields, from v4 one result per key in Coordinators.
type FindCoordinatorResponse struct {
	ThrottleMillis int32                   // v1+
	ErrorCode      int16                   // v0–v3
	ErrorMessage   *string                 // v1–v3
	NodeID         int32                   // v0–v3
	Host           string                  // v0–v3
	Port           int32                   // v0–v3
	Coordinators   []FindCoordinatorResult // v4+
}

// Key returns KeyFindCoordinator.
func (*FindCoordinatorResponse) Key() int16 { return KeyFindCoordinator }

// Result returns the coordinator of key, read from whichever form version used: the top-level
// fields up to v3 (the one key asked for), the matching Coordinators entry from v4. ok is false
// when a v4+ answer has no entry for key.
func (resp *FindCoordinatorResponse) Result(key string, version int16) (res FindCoordinatorResult, ok bool) {
	if version <= 3 {
		return FindCoordinatorResult{Key: key, NodeID: resp.NodeID, Host: resp.Host, Port: resp.Port,
			ErrorCode: resp.ErrorCode, ErrorMessage: resp.ErrorMessage}, true
	}
	for _, c := range resp.Coordinators {
		if c.Key == key {
			return c, true
		}
	}
	return FindCoordinatorResult{}, false
}

// decode decodes the response body at version (0–6).
func (resp *FindCoordinatorResponse) decode(src []byte, version int16) (int, error) {
	if err := apiCheckVersion(KeyFindCoordinator, version, 0, 6); err != nil {
		return 0, err
	}
	*resp = FindCoordinatorResponse{}
	flex := version >= 3
	str, tags := apiMinStr(flex), apiMinTags(flex)
	r := NewReader(src)
	if version >= 1 {
		resp.ThrottleMillis = r.Int32()
	}
	if version <= 3 {
		resp.ErrorCode = r.Int16()
		if version >= 1 {
			resp.ErrorMessage = apiReadNullableString(r, flex)
		}
		resp.NodeID = r.Int32()
		resp.Host = apiReadString(r, flex)
		resp.Port = r.Int32()
	} else if n := apiReadArrayLen(r, str+4+str+4+2+str+tags, flex); n > 0 {
		resp.Coordinators = make([]FindCoordinatorResult, n)
		for i := range resp.Coordinators {
			c := &resp.Coordinators[i]
			c.Key = apiReadString(r, flex)
			c.NodeID = r.Int32()
			c.Host = apiReadString(r, flex)
			c.Port = r.Int32()
			c.ErrorCode = r.Int16()
			c.ErrorMessage = apiReadNullableString(r, flex)
			r.SkipTags() // v4+ is flexible
		}
	}
	if flex {
		r.SkipTags()
	}
	return r.finish()
}
