package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestVarintsRoundTripAtBoundaries(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, -65, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, 1 << 35, -(1 << 35)} {
		b := AppendVarlong(nil, v)
		if len(b) != VarlongLen(v) {
			t.Fatalf("VarlongLen(%d) = %d, wrote %d", v, VarlongLen(v), len(b))
		}
		// The standard library's zig-zag varint is the same encoding.
		if want := binary.AppendVarint(nil, v); string(want) != string(b) {
			t.Fatalf("AppendVarlong(%d) = %x, want %x", v, b, want)
		}
		r := NewReader(b)
		if got := r.Varlong(); got != v || r.Complete() != nil {
			t.Fatalf("Varlong round trip of %d: %d, %v", v, got, r.Complete())
		}
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			b := AppendVarint(nil, int32(v))
			if len(b) != VarintLen(int32(v)) {
				t.Fatalf("VarintLen(%d)", v)
			}
			r := NewReader(b)
			if got := r.Varint(); got != int32(v) || r.Complete() != nil {
				t.Fatalf("Varint round trip of %d: %d, %v", v, got, r.Complete())
			}
		}
	}
	for _, u := range []uint32{0, 127, 128, 16383, 16384, math.MaxUint32} {
		b := AppendUvarint(nil, u)
		if len(b) != UvarintLen(u) {
			t.Fatalf("UvarintLen(%d)", u)
		}
		r := NewReader(b)
		if got := r.Uvarint(); got != u || r.Complete() != nil {
			t.Fatalf("Uvarint round trip of %d: %d", u, got)
		}
	}
}

func TestMalformedVarints(t *testing.T) {
	for name, c := range map[string]struct {
		in     []byte
		wide   bool // read as 64 bits
		reason error
	}{
		"six bytes for 32 bits":      {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, false, ErrBadVarint},
		"fifth byte overflows 32":    {[]byte{0xff, 0xff, 0xff, 0xff, 0x10}, false, ErrBadVarint},
		"uvarint 32 with fifth 0x80": {[]byte{0x80, 0x80, 0x80, 0x80, 0x80}, false, ErrBadVarint},
		"continuation never ends":    {[]byte{0x80, 0x80}, false, ErrTruncated},
		"empty":                      {nil, false, ErrTruncated},
		"eleven bytes for 64 bits":   {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, true, ErrBadVarint},
		"tenth byte overflows 64":    {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, true, ErrBadVarint},
	} {
		r := NewReader(c.in)
		if c.wide {
			r.Uvarlong()
		} else {
			r.Uvarint()
		}
		if !errors.Is(r.Err(), c.reason) {
			t.Errorf("%s: got %v, want %v", name, r.Err(), c.reason)
		}
	}
}

func TestStringsBytesAndArrays(t *testing.T) {
	s := "héllo"
	var b []byte
	b = AppendString(b, s)
	b = AppendNullableString(b, nil)
	b = AppendCompactString(b, s)
	b = AppendCompactNullableString(b, nil)
	b = AppendBytes(b, []byte{1, 2})
	b = AppendNullableBytes(b, nil)
	b = AppendCompactBytes(b, []byte{3})
	b = AppendCompactNullableBytes(b, nil)
	b = AppendArrayLen(b, -1)
	b = AppendCompactArrayLen(b, 2)
	b = append(b, 7, 8)
	r := NewReader(b)
	if r.String() != s || r.NullableString() != nil || r.CompactString() != s || r.CompactNullableString() != nil {
		t.Fatal("strings did not round trip")
	}
	if string(r.Bytes()) != "\x01\x02" || r.NullableBytes() != nil || string(r.CompactBytes()) != "\x03" || r.CompactNullableBytes() != nil {
		t.Fatal("bytes did not round trip")
	}
	if r.ArrayLen(1) != -1 || r.CompactArrayLen(1) != 2 || r.Int8() != 7 || r.Int8() != 8 {
		t.Fatal("arrays did not round trip")
	}
	if err := r.Complete(); err != nil {
		t.Fatal(err)
	}
}

// A hostile length never leads to a large allocation: it is checked against the bytes left.
func TestHostileLengths(t *testing.T) {
	huge := AppendInt32(nil, math.MaxInt32)
	if r := NewReader(huge); r.ArrayLen(1) != 0 || !errors.Is(r.Err(), ErrInvalidLength) {
		t.Fatalf("array of 2^31-1: %v", r.Err())
	}
	if r := NewReader(append(AppendInt32(nil, 1000), 1, 2, 3)); r.Bytes() != nil || !errors.Is(r.Err(), ErrTruncated) {
		t.Fatalf("bytes longer than input: %v", r.Err())
	}
	if r := NewReader(AppendUvarint(nil, math.MaxUint32)); r.CompactArrayLen(4) != 0 || r.Err() == nil {
		t.Fatal("compact array of 2^32-2 accepted")
	}
	// An array of 10 elements of at least 8 bytes cannot fit in 40 bytes.
	b := append(AppendInt32(nil, 10), make([]byte, 40)...)
	if r := NewReader(b); r.ArrayLen(8) != 0 || r.Err() == nil {
		t.Fatal("array larger than its bytes accepted")
	}
	// Errors stick: later reads return zero values.
	r := NewReader([]byte{1})
	r.Int32()
	if r.Int8() != 0 || r.Err() == nil || r.Complete() == nil {
		t.Fatal("error did not stick")
	}
	// Trailing bytes are reported by Complete.
	if err := NewReader([]byte{1}).Complete(); !errors.Is(err, ErrTrailingBytes) {
		t.Fatalf("trailing bytes: %v", err)
	}
}

func TestTagsSkipUnknownAndKeepKnown(t *testing.T) {
	b := AppendUvarint(nil, 2)
	b = AppendTag(b, 0, []byte{9})
	b = AppendTag(b, 5, []byte{1, 2, 3})
	b = append(b, 42)
	r := NewReader(b)
	var seen []uint32
	r.Tags(func(key uint32, data []byte) error {
		seen = append(seen, key)
		return nil
	})
	if len(seen) != 2 || r.Int8() != 42 || r.Complete() != nil {
		t.Fatalf("tags %v, err %v", seen, r.Complete())
	}
	r = NewReader(append(AppendUvarint(nil, 1000), 1, 2))
	r.SkipTags()
	if r.Err() == nil {
		t.Fatal("1000 tags in 2 bytes accepted")
	}
}
