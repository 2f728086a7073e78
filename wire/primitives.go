package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Encoding is append-style: every Append* takes a destination slice and returns it extended, so a
// whole request is built into one buffer with no intermediate allocations.

// AppendInt8 appends v.
func AppendInt8(dst []byte, v int8) []byte { return append(dst, byte(v)) }

// AppendBool appends v as one byte (0 or 1).
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// AppendInt16 appends v big-endian.
func AppendInt16(dst []byte, v int16) []byte { return binary.BigEndian.AppendUint16(dst, uint16(v)) }

// AppendInt32 appends v big-endian.
func AppendInt32(dst []byte, v int32) []byte { return binary.BigEndian.AppendUint32(dst, uint32(v)) }

// AppendUint32 appends v big-endian.
func AppendUint32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

// AppendInt64 appends v big-endian.
func AppendInt64(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

// AppendFloat64 appends v as an IEEE 754 big-endian double.
func AppendFloat64(dst []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v))
}

// AppendUvarint appends v as an unsigned varint (the length form of flexible versions).
func AppendUvarint(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// AppendUvarlong appends v as an unsigned varint of up to 64 bits.
func AppendUvarlong(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// AppendVarint appends v zig-zag encoded (record fields).
func AppendVarint(dst []byte, v int32) []byte {
	return AppendUvarint(dst, uint32(v<<1)^uint32(v>>31))
}

// AppendVarlong appends v zig-zag encoded (record timestamp deltas).
func AppendVarlong(dst []byte, v int64) []byte {
	return AppendUvarlong(dst, uint64(v<<1)^uint64(v>>63))
}

// UvarintLen is the number of bytes AppendUvarint writes for v.
func UvarintLen(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// UvarlongLen is the number of bytes AppendUvarlong writes for v.
func UvarlongLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// VarintLen is the number of bytes AppendVarint writes for v.
func VarintLen(v int32) int { return UvarintLen(uint32(v<<1) ^ uint32(v>>31)) }

// VarlongLen is the number of bytes AppendVarlong writes for v.
func VarlongLen(v int64) int { return UvarlongLen(uint64(v<<1) ^ uint64(v>>63)) }

// AppendString appends s with an int16 length.
func AppendString(dst []byte, s string) []byte {
	dst = AppendInt16(dst, int16(len(s)))
	return append(dst, s...)
}

// AppendNullableString appends s with an int16 length; nil is length -1.
func AppendNullableString(dst []byte, s *string) []byte {
	if s == nil {
		return AppendInt16(dst, -1)
	}
	return AppendString(dst, *s)
}

// AppendCompactString appends s with an unsigned varint length+1.
func AppendCompactString(dst []byte, s string) []byte {
	dst = AppendUvarint(dst, uint32(len(s))+1)
	return append(dst, s...)
}

// AppendCompactNullableString appends s with an unsigned varint length+1; nil is 0.
func AppendCompactNullableString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, 0)
	}
	return AppendCompactString(dst, *s)
}

// AppendBytes appends b with an int32 length.
func AppendBytes(dst, b []byte) []byte {
	dst = AppendInt32(dst, int32(len(b)))
	return append(dst, b...)
}

// AppendNullableBytes appends b with an int32 length; nil is length -1.
func AppendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return AppendInt32(dst, -1)
	}
	return AppendBytes(dst, b)
}

// AppendCompactBytes appends b with an unsigned varint length+1.
func AppendCompactBytes(dst, b []byte) []byte {
	dst = AppendUvarint(dst, uint32(len(b))+1)
	return append(dst, b...)
}

// AppendCompactNullableBytes appends b with an unsigned varint length+1; nil is 0.
func AppendCompactNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 0)
	}
	return AppendCompactBytes(dst, b)
}

// AppendArrayLen appends an int32 array length; n < 0 is a null array.
func AppendArrayLen(dst []byte, n int) []byte { return AppendInt32(dst, int32(n)) }

// AppendCompactArrayLen appends an unsigned varint array length+1; n < 0 is a null array (0).
func AppendCompactArrayLen(dst []byte, n int) []byte {
	if n < 0 {
		return append(dst, 0)
	}
	return AppendUvarint(dst, uint32(n)+1)
}

// AppendUUID appends a 16-byte UUID (topic ids).
func AppendUUID(dst []byte, u [16]byte) []byte { return append(dst, u[:]...) }

// AppendEmptyTags appends an empty tagged-field section (flexible versions).
func AppendEmptyTags(dst []byte) []byte { return append(dst, 0) }

// Decoding errors. Every decoder reports one of these (wrapped with what it was reading), never panics.
var (
	// ErrTruncated means the input ended before a field did.
	ErrTruncated = errors.New("kastor/wire: truncated input")
	// ErrInvalidLength means a length prefix is negative where that is not allowed, or larger than
	// the bytes that remain.
	ErrInvalidLength = errors.New("kastor/wire: invalid length")
	// ErrBadVarint means a varint is longer than its type allows.
	ErrBadVarint = errors.New("kastor/wire: malformed varint")
	// ErrTrailingBytes means a message decoded completely but bytes were left over.
	ErrTrailingBytes = errors.New("kastor/wire: trailing bytes")
)

// Reader decodes Kafka primitives from a byte slice. The first error sticks: every later read
// returns a zero value, so decoders read a whole structure and check Err once at the end.
// Returned byte slices alias the input; callers copy what they keep beyond the input's lifetime.
type Reader struct {
	Src []byte
	err error
}

// NewReader returns a Reader over src.
func NewReader(src []byte) *Reader { return &Reader{Src: src} }

// Err returns the first error met, if any.
func (r *Reader) Err() error { return r.err }

// Fail records err unless an earlier error was recorded.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
		r.Src = nil
	}
}

// Len is the number of unread bytes.
func (r *Reader) Len() int { return len(r.Src) }

// Complete returns the sticky error, or ErrTrailingBytes if unread input remains.
func (r *Reader) Complete() error {
	if r.err != nil {
		return r.err
	}
	if len(r.Src) != 0 {
		return fmt.Errorf("%w: %d bytes", ErrTrailingBytes, len(r.Src))
	}
	return nil
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.Src) {
		r.Fail(ErrTruncated)
		return nil
	}
	b := r.Src[:n:n]
	r.Src = r.Src[n:]
	return b
}

// Int8 reads one signed byte.
func (r *Reader) Int8() int8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return int8(b[0])
}

// Bool reads one byte as a bool (non-zero is true).
func (r *Reader) Bool() bool { return r.Int8() != 0 }

// Int16 reads a big-endian int16.
func (r *Reader) Int16() int16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int16(binary.BigEndian.Uint16(b))
}

// Int32 reads a big-endian int32.
func (r *Reader) Int32() int32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Int64 reads a big-endian int64.
func (r *Reader) Int64() int64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// Float64 reads a big-endian IEEE 754 double.
func (r *Reader) Float64() float64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b))
}

// Uvarint reads an unsigned varint of at most 5 bytes (32 bits).
func (r *Reader) Uvarint() uint32 {
	v, n := readUvarint(r.Src, 5)
	if n <= 0 {
		r.failVarint(n)
		return 0
	}
	r.Src = r.Src[n:]
	return uint32(v)
}

// Uvarlong reads an unsigned varint of at most 10 bytes (64 bits).
func (r *Reader) Uvarlong() uint64 {
	v, n := readUvarint(r.Src, 10)
	if n <= 0 {
		r.failVarint(n)
		return 0
	}
	r.Src = r.Src[n:]
	return v
}

// Varint reads a zig-zag varint of 32 bits.
func (r *Reader) Varint() int32 {
	u := r.Uvarint()
	return int32(u>>1) ^ -int32(u&1)
}

// Varlong reads a zig-zag varint of 64 bits.
func (r *Reader) Varlong() int64 {
	u := r.Uvarlong()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *Reader) failVarint(n int) {
	if r.err != nil {
		return
	}
	if n == 0 {
		r.Fail(ErrTruncated)
	} else {
		r.Fail(ErrBadVarint)
	}
}

// readUvarint decodes an unsigned varint of at most maxBytes bytes. It returns n == 0 when src
// ends first and n < 0 when the varint is too long or overflows its width.
func readUvarint(src []byte, maxBytes int) (uint64, int) {
	var v uint64
	var shift uint
	for i, c := range src {
		if i == maxBytes {
			return 0, -1
		}
		if i == maxBytes-1 {
			// The last byte may only carry the bits that remain in the type.
			bits := uint(32)
			if maxBytes == 10 {
				bits = 64
			}
			if c >= 0x80 || uint64(c)>>(bits-shift) != 0 {
				return 0, -1
			}
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, 0
}

// String reads an int16-length string; a null string reads as "".
func (r *Reader) String() string {
	n := r.Int16()
	if n < 0 {
		return ""
	}
	return string(r.take(int(n)))
}

// NullableString reads an int16-length string; length -1 is nil.
func (r *Reader) NullableString() *string {
	n := r.Int16()
	if n < 0 || r.err != nil {
		return nil
	}
	s := string(r.take(int(n)))
	if r.err != nil {
		return nil
	}
	return &s
}

// CompactString reads a flexible-version string (uvarint length+1); null reads as "".
func (r *Reader) CompactString() string {
	n := int64(r.Uvarint()) - 1
	if n < 0 {
		return ""
	}
	return string(r.take(int(n)))
}

// CompactNullableString reads a flexible-version string; length 0 is nil.
func (r *Reader) CompactNullableString() *string {
	n := int64(r.Uvarint()) - 1
	if n < 0 || r.err != nil {
		return nil
	}
	s := string(r.take(int(n)))
	if r.err != nil {
		return nil
	}
	return &s
}

// Bytes reads int32-length bytes; null reads as nil. The result aliases the input.
func (r *Reader) Bytes() []byte { return r.NullableBytes() }

// NullableBytes reads int32-length bytes; length -1 is nil. The result aliases the input.
func (r *Reader) NullableBytes() []byte {
	n := r.Int32()
	if n < 0 || r.err != nil {
		return nil
	}
	return r.take(int(n))
}

// CompactBytes reads flexible-version bytes; null reads as nil. The result aliases the input.
func (r *Reader) CompactBytes() []byte { return r.CompactNullableBytes() }

// CompactNullableBytes reads flexible-version bytes (uvarint length+1); 0 is nil.
func (r *Reader) CompactNullableBytes() []byte {
	n := int64(r.Uvarint()) - 1
	if n < 0 || r.err != nil {
		return nil
	}
	return r.take(int(n))
}

// ArrayLen reads an int32 array length. It returns -1 for a null array. A length that the remaining
// input cannot hold (each element takes at least minElemSize bytes) is an error, so a hostile length
// never causes a large allocation.
func (r *Reader) ArrayLen(minElemSize int) int {
	n := r.Int32()
	return r.checkArrayLen(int64(n), minElemSize)
}

// CompactArrayLen reads a flexible-version array length (uvarint length+1); -1 is a null array.
func (r *Reader) CompactArrayLen(minElemSize int) int {
	n := int64(r.Uvarint()) - 1
	return r.checkArrayLen(n, minElemSize)
}

func (r *Reader) checkArrayLen(n int64, minElemSize int) int {
	if r.err != nil {
		return 0
	}
	if n < 0 {
		return -1
	}
	if minElemSize < 1 {
		minElemSize = 1
	}
	if n > int64(len(r.Src)/minElemSize) {
		r.Fail(fmt.Errorf("%w: array of %d elements in %d bytes", ErrInvalidLength, n, len(r.Src)))
		return 0
	}
	return int(n)
}

// UUID reads 16 bytes.
func (r *Reader) UUID() [16]byte {
	var u [16]byte
	copy(u[:], r.take(16))
	return u
}

// Tag is one tagged field of a flexible-version structure: its number and raw bytes.
type Tag struct {
	Key  uint32
	Data []byte
}

// Tags reads a tagged-field section and calls fn for each field; fn returns false for tags it does
// not know, which are skipped. Tags must be in increasing order (KIP-482).
func (r *Reader) Tags(fn func(key uint32, data []byte) error) {
	n := r.Uvarint()
	if r.err != nil {
		return
	}
	if int64(n) > int64(len(r.Src)/2) {
		r.Fail(fmt.Errorf("%w: %d tagged fields in %d bytes", ErrInvalidLength, n, len(r.Src)))
		return
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		key := r.Uvarint()
		size := r.Uvarint()
		data := r.take(int(size))
		if r.err != nil {
			return
		}
		if fn != nil {
			if err := fn(key, data); err != nil {
				r.Fail(fmt.Errorf("tag %d: %w", key, err))
			}
		}
	}
}

// SkipTags reads and discards a tagged-field section.
func (r *Reader) SkipTags() { r.Tags(nil) }

// AppendTag appends one tagged field: its key, size and data. Callers append the count first.
func AppendTag(dst []byte, key uint32, data []byte) []byte {
	dst = AppendUvarint(dst, key)
	dst = AppendUvarint(dst, uint32(len(data)))
	return append(dst, data...)
}
