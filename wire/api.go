package wire

import (
	"errors"
	"fmt"
	"strconv"
)

// API keys of the requests kastor sends.
const (
	KeyProduce            int16 = 0
	KeyMetadata           int16 = 3
	KeyFindCoordinator    int16 = 10
	KeySaslHandshake      int16 = 17
	KeyApiVersions        int16 = 18
	KeyInitProducerID     int16 = 22
	KeyAddPartitionsToTxn int16 = 24
	KeyAddOffsetsToTxn    int16 = 25
	KeyEndTxn             int16 = 26
	KeyTxnOffsetCommit    int16 = 28
	KeySaslAuthenticate   int16 = 36
)

// APIName returns the Kafka name of an API key ("Produce", "Metadata", ...), or "Unknown(N)" for a
// key kastor does not speak.
func APIName(key int16) string {
	switch key {
	case KeyProduce:
		return "Produce"
	case KeyMetadata:
		return "Metadata"
	case KeySaslHandshake:
		return "SaslHandshake"
	case KeyApiVersions:
		return "ApiVersions"
	case KeyInitProducerID:
		return "InitProducerId"
	case KeyFindCoordinator:
		return "FindCoordinator"
	case KeyAddPartitionsToTxn:
		return "AddPartitionsToTxn"
	case KeyAddOffsetsToTxn:
		return "AddOffsetsToTxn"
	case KeyEndTxn:
		return "EndTxn"
	case KeyTxnOffsetCommit:
		return "TxnOffsetCommit"
	case KeySaslAuthenticate:
		return "SaslAuthenticate"
	}
	return "Unknown(" + strconv.Itoa(int(key)) + ")"
}

// apiFlexibleFrom is the first flexible version (KIP-482) of each API kastor speaks; -1 means the
// API has no flexible version.
func apiFlexibleFrom(key int16) int16 {
	switch key {
	case KeyProduce:
		return 9
	case KeyMetadata:
		return 9
	case KeyApiVersions:
		return 3
	case KeyInitProducerID:
		return 2
	case KeyFindCoordinator, KeyAddPartitionsToTxn, KeyAddOffsetsToTxn, KeyEndTxn, KeyTxnOffsetCommit:
		return 3
	case KeySaslAuthenticate:
		return 2
	}
	return -1 // SaslHandshake and unknown keys
}

func apiIsFlexible(key, version int16) bool {
	from := apiFlexibleFrom(key)
	return from >= 0 && version >= from
}

// Request is a Kafka request body kastor can encode.
type Request interface {
	// Key is the API key.
	Key() int16
	// MinVersion is the lowest version kastor speaks for this API.
	MinVersion() int16
	// MaxVersion is the highest version kastor speaks for this API.
	MaxVersion() int16
	// IsFlexible says whether version uses the flexible (compact, tagged) encoding.
	IsFlexible(version int16) bool
	// AppendTo appends the request body (no header) encoded at version.
	AppendTo(dst []byte, version int16) []byte
	// ResponseKind returns a new zero response of the matching type.
	ResponseKind() Response
}

// Response is a Kafka response body kastor can decode.
type Response interface {
	// Key is the API key.
	Key() int16
	// ReadFrom decodes the response body (after the response header) at version. Fields the
	// version lacks are left at their documented defaults. Like Kafka's own clients it ignores
	// bytes after the version's last field; ReadResponse also says how many there were.
	ReadFrom(src []byte, version int16) error

	// decode is ReadFrom returning the count of ignored trailing bytes.
	decode(src []byte, version int16) (trailing int, err error)
}

// AppendRequest appends a complete request frame: int32 size, request header (v2 if the request
// version is flexible, else v1) and body. The client id is written as a non-compact string even in
// header v2, as Kafka requires.
func AppendRequest(dst []byte, req Request, version int16, correlationID int32, clientID string) []byte {
	start := len(dst)
	dst = appendRequestHeader(dst, req, version, correlationID, clientID)
	dst = req.AppendTo(dst, version)
	AppendInt32(dst[start:start], int32(len(dst)-start-4))
	return dst
}

func appendRequestHeader(dst []byte, req Request, version int16, correlationID int32, clientID string) []byte {
	dst = append(dst, 0, 0, 0, 0) // size, patched by the caller
	dst = AppendInt16(dst, req.Key())
	dst = AppendInt16(dst, version)
	dst = AppendInt32(dst, correlationID)
	dst = AppendString(dst, clientID)
	if req.IsFlexible(version) {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// MinSharedRecords is the smallest record batch AppendRequestShared leaves in place rather than
// copying: below it, a copy costs less than another piece for the kernel to gather.
const MinSharedRecords = 512

// AppendRequestShared encodes the frame AppendRequest would, without copying a produce request's
// record batches of MinSharedRecords bytes or more: it appends everything else to dst and returns
// the frame as pieces, in order, for one vectored write (appended to pieces[:0]): parts of the
// returned dst and the batches themselves. The caller must keep those batches unchanged until the
// pieces are written. Other requests come back as one piece, the returned dst.
func AppendRequestShared(dst []byte, pieces [][]byte, req Request, version int16, correlationID int32, clientID string) ([]byte, [][]byte) {
	pieces = pieces[:0]
	produce, ok := req.(*ProduceRequest)
	if !ok {
		dst = AppendRequest(dst, req, version, correlationID, clientID)
		return dst, append(pieces, dst)
	}
	start := len(dst)
	dst = appendRequestHeader(dst, req, version, correlationID, clientID)
	var room [16]recordsCut // a request has a batch per partition of one broker: rarely more
	dst, cuts := produce.appendTo(dst, version, room[:0], true)
	size := len(dst) - start - 4
	from := start
	for _, c := range cuts {
		size += len(c.records)
		pieces = append(pieces, dst[from:c.at], c.records)
		from = c.at
	}
	pieces = append(pieces, dst[from:])
	AppendInt32(dst[start:start], int32(size))
	return dst, pieces
}

// recordsCut is a record batch left out of the encoded bytes: it belongs right after dst[:at].
type recordsCut struct {
	at      int
	records []byte
}

// ResponseHeaderFlexible says whether the response to key at version has response header v1
// (correlation id + tagged fields). ApiVersions responses always use header v0, even when flexible,
// so a client that does not yet know the broker's versions can parse them.
func ResponseHeaderFlexible(key, version int16) bool {
	if key == KeyApiVersions {
		return false
	}
	return apiIsFlexible(key, version)
}

// ReadResponseHeader splits a response frame (without its 4-byte size) into the correlation id and
// the body. With flexible, the header's tagged fields are read and skipped. body aliases frame.
func ReadResponseHeader(frame []byte, flexible bool) (correlationID int32, body []byte, err error) {
	r := NewReader(frame)
	correlationID = r.Int32()
	if flexible {
		r.SkipTags()
	}
	if err := r.Err(); err != nil {
		return 0, nil, fmt.Errorf("kastor/wire: response header: %w", err)
	}
	return correlationID, r.Src, nil
}

// VersionRange is an inclusive range of API versions.
type VersionRange struct{ Min, Max int16 }

// BrokerAPIs is what a broker advertised in its ApiVersions response: API key to version range.
type BrokerAPIs map[int16]VersionRange

// NewBrokerAPIs collects the version ranges of an ApiVersions response. A nil response yields an
// empty set.
func NewBrokerAPIs(resp *ApiVersionsResponse) BrokerAPIs {
	b := make(BrokerAPIs)
	if resp == nil {
		return b
	}
	for _, k := range resp.ApiKeys {
		b[k.ApiKey] = VersionRange{Min: k.MinVersion, Max: k.MaxVersion}
	}
	return b
}

// ErrUnsupportedVersion is matched (errors.Is) by every version negotiation failure.
var ErrUnsupportedVersion = errors.New("kastor/wire: unsupported version")

// UnsupportedVersionError is the error Pick returns when kastor and a broker share no version of an
// API. It matches ErrUnsupportedVersion with errors.Is.
type UnsupportedVersionError struct {
	Key    int16
	Kastor VersionRange
	Broker VersionRange
	// Missing is true when the broker did not advertise the API at all (Broker is then zero).
	Missing bool
}

func (e *UnsupportedVersionError) Error() string {
	s := "kastor/wire: broker does not support " + APIName(e.Key) + " (key " + strconv.Itoa(int(e.Key)) + ")"
	if e.Missing {
		return s
	}
	return fmt.Sprintf("%s: kastor speaks v%d–v%d, broker v%d–v%d", s,
		e.Kastor.Min, e.Kastor.Max, e.Broker.Min, e.Broker.Max)
}

// Is reports whether target is ErrUnsupportedVersion.
func (e *UnsupportedVersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// Pick returns the highest version of req's API that both kastor and the broker speak. kastor's
// range is req.MinVersion()–req.MaxVersion() (Produce starts at v3: RecordBatch v2 only). When the
// ranges do not overlap, or the broker lacks the API, the error names the API and both ranges and
// matches ErrUnsupportedVersion.
func (b BrokerAPIs) Pick(req Request) (int16, error) {
	key := req.Key()
	ours := VersionRange{Min: req.MinVersion(), Max: req.MaxVersion()}
	theirs, ok := b[key]
	if !ok {
		return 0, &UnsupportedVersionError{Key: key, Kastor: ours, Missing: true}
	}
	lo, hi := max(ours.Min, theirs.Min), min(ours.Max, theirs.Max)
	if lo > hi {
		return 0, &UnsupportedVersionError{Key: key, Kastor: ours, Broker: theirs}
	}
	return hi, nil
}

// Version-aware encoding helpers shared by the request encoders: flex selects the compact form.

func apiAppendString(dst []byte, s string, flex bool) []byte {
	if flex {
		return AppendCompactString(dst, s)
	}
	return AppendString(dst, s)
}

func apiAppendNullableString(dst []byte, s *string, flex bool) []byte {
	if flex {
		return AppendCompactNullableString(dst, s)
	}
	return AppendNullableString(dst, s)
}

func apiAppendBytes(dst, b []byte, flex bool) []byte {
	if flex {
		return AppendCompactBytes(dst, b)
	}
	return AppendBytes(dst, b)
}

func apiAppendNullableBytes(dst, b []byte, flex bool) []byte {
	if flex {
		return AppendCompactNullableBytes(dst, b)
	}
	return AppendNullableBytes(dst, b)
}

// apiAppendArrayLen appends an array length; n < 0 is a null array.
func apiAppendArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return AppendCompactArrayLen(dst, n)
	}
	return AppendArrayLen(dst, n)
}

// Version-aware decoding helpers shared by the response decoders. Like Kafka's own decoders they
// reject a null (-1) for a non-nullable string and any length below -1; unlike Kafka they read a
// null non-nullable array or bytes as empty, as franz-go does, because some Kafka-compatible
// services (Azure Event Hubs) send -1 for "absent" there.

var errNullNonNullable = fmt.Errorf("%w: null for a non-nullable field", ErrInvalidLength)

// apiReadLen reads a string (int16) or bytes (int32) length prefix, or its compact form (uvarint
// length+1). It returns -1 for null and fails r on any other negative length.
func apiReadLen(r *Reader, flex, int32Len bool) int {
	var n int64
	switch {
	case flex:
		n = int64(r.Uvarint()) - 1
	case int32Len:
		n = int64(r.Int32())
	default:
		n = int64(r.Int16())
	}
	if r.Err() != nil {
		return 0
	}
	if n < -1 {
		r.Fail(fmt.Errorf("%w: negative length %d", ErrInvalidLength, n))
		return 0
	}
	return int(n)
}

func apiReadString(r *Reader, flex bool) string {
	n := apiReadLen(r, flex, false)
	if n < 0 {
		r.Fail(errNullNonNullable)
		return ""
	}
	return string(r.take(n))
}

// apiReadStringLike reads a string, returning like itself when the bytes are the same: decoding
// into a response decoded before keeps its strings instead of allocating them again.
func apiReadStringLike(r *Reader, flex bool, like string) string {
	n := apiReadLen(r, flex, false)
	if n < 0 {
		r.Fail(errNullNonNullable)
		return ""
	}
	b := r.take(n)
	if string(b) == like {
		return like
	}
	return string(b)
}

func apiReadNullableString(r *Reader, flex bool) *string {
	n := apiReadLen(r, flex, false)
	if n < 0 {
		return nil
	}
	b := r.take(n)
	if r.Err() != nil {
		return nil
	}
	s := string(b)
	return &s
}

// apiReadBytes reads a non-nullable bytes field and copies it, so the result does not alias a
// connection's read buffer. A null or empty value reads as nil.
func apiReadBytes(r *Reader, flex bool) []byte {
	n := apiReadLen(r, flex, true)
	if n <= 0 {
		return nil
	}
	b := r.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// apiReadArrayLen reads a non-nullable array length, checked against the remaining input with each
// element taking at least minElemSize bytes, so a hostile count never allocates. A null array reads
// as -1 (callers treat it as empty); lengths below -1 fail.
func apiReadArrayLen(r *Reader, minElemSize int, flex bool) int {
	if flex {
		return r.CompactArrayLen(minElemSize)
	}
	n := r.Int32()
	if n < -1 {
		r.Fail(fmt.Errorf("%w: negative array length %d", ErrInvalidLength, n))
		return 0
	}
	return r.checkArrayLen(int64(n), minElemSize)
}

// Minimum encoded sizes, used as honest lower bounds for array element counts.

// apiMinStr is the smallest encoding of a (nullable) string: a 1-byte uvarint when compact, else
// an int16 length.
func apiMinStr(flex bool) int {
	if flex {
		return 1
	}
	return 2
}

// apiMinArr is the smallest encoding of an array or bytes length: a 1-byte uvarint when compact,
// else an int32.
func apiMinArr(flex bool) int {
	if flex {
		return 1
	}
	return 4
}

// apiMinTags is the size of an empty tagged-field section (0 when not flexible).
func apiMinTags(flex bool) int {
	if flex {
		return 1
	}
	return 0
}

// apiReadInt32s reads an array of int32; a null or empty array reads as nil.
func apiReadInt32s(r *Reader, flex bool) []int32 {
	n := apiReadArrayLen(r, 4, flex)
	if n <= 0 {
		return nil
	}
	s := make([]int32, n)
	for i := range s {
		s[i] = r.Int32()
	}
	return s
}

// apiCheckVersion rejects a version outside [lo, hi] before encoding or decoding.
func apiCheckVersion(key, version, lo, hi int16) error {
	if version < lo || version > hi {
		return fmt.Errorf("%w: %s v%d (kastor speaks v%d–v%d)", ErrUnsupportedVersion, APIName(key), version, lo, hi)
	}
	return nil
}

// apiSubReader parses one known tagged field's data with fn. Bytes fn leaves unread are ignored,
// as after a response's last field: the tag's size already bounds them.
func apiSubReader(data []byte, fn func(r *Reader)) error {
	r := NewReader(data)
	fn(r)
	return r.Err()
}
