package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"runtime/debug"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// btRecord is one record as a test appends it.
type btRecord struct {
	ts      int64
	key     []byte
	value   []byte
	headers []Header
}

// btScenarios returns named record sets covering the encoding's corners.
func btScenarios() map[string][]btRecord {
	rng := btRand(10)
	const base = 1_700_000_000_000
	many := make([]btRecord, 300)
	for i := range many {
		r := btRecord{ts: base + rng.Int64N(2_000_000) - 1_000_000} // deltas of both signs
		switch rng.IntN(4) {
		case 0: // null key
		case 1:
			r.key = []byte{}
		default:
			r.key = []byte(fmt.Sprintf("key-%d", rng.IntN(50)))
		}
		switch rng.IntN(5) {
		case 0: // null value
		case 1:
			r.value = []byte{}
		default:
			r.value = btText(rng, rng.IntN(400))
		}
		for range rng.IntN(4) {
			h := Header{Key: fmt.Sprintf("h%d", rng.IntN(5))}
			switch rng.IntN(3) {
			case 0: // null header value
			case 1:
				h.Value = []byte{}
			default:
				h.Value = btText(rng, rng.IntN(30))
			}
			r.headers = append(r.headers, h)
		}
		if rng.IntN(10) == 0 {
			r.headers = append(r.headers, Header{}) // empty key, null value
		}
		many[i] = r
	}
	big := make([]btRecord, 3)
	for i := range big {
		big[i] = btRecord{ts: base, key: []byte("k"), value: btText(rng, 200<<10)}
	}
	return map[string][]btRecord{
		"one":            {{ts: base, key: []byte("key"), value: []byte("value")}},
		"one-null":       {{ts: base}},
		"one-empty":      {{ts: base, key: []byte{}, value: []byte{}}},
		"one-headers":    {{ts: base, value: []byte("v"), headers: []Header{{"a", []byte("1")}, {"b", nil}, {"", []byte{}}}}},
		"negative-delta": {{ts: base, value: []byte("a")}, {ts: base - 5000, value: []byte("b")}, {ts: base + 3, value: []byte("c")}},
		"extreme-ts":     {{ts: -1, value: []byte("x")}, {ts: math.MaxInt64 / 2, value: []byte("y")}, {ts: math.MinInt64 / 2}},
		"many":           many,
		"big-values":     big,
	}
}

// btSealOptions are the header variants each scenario is sealed with.
var btSealOptions = map[string]SealOptions{
	"plain":         {ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1},
	"idempotent":    {ProducerID: 1234567890123, ProducerEpoch: 7, BaseSequence: 2147483000, PartitionLeaderEpoch: -1},
	"transactional": {ProducerID: 99, ProducerEpoch: 32767, BaseSequence: 0, Transactional: true, LogAppendTime: true, PartitionLeaderEpoch: 12},
}

func btBuild(t testing.TB, recs []btRecord) *BatchBuilder {
	t.Helper()
	var bb BatchBuilder
	bb.Reset(nil)
	if bb.Size() != RecordBatchOverhead || bb.NumRecords() != 0 {
		t.Fatalf("empty builder: size %d, %d records", bb.Size(), bb.NumRecords())
	}
	for i, r := range recs {
		want := bb.SizeWith(r.ts, r.key, r.value, r.headers)
		bb.Append(r.ts, r.key, r.value, r.headers)
		if bb.Size() != want {
			t.Fatalf("record %d: SizeWith said %d, Size is %d", i, want, bb.Size())
		}
		if bb.NumRecords() != i+1 {
			t.Fatalf("NumRecords %d after %d appends", bb.NumRecords(), i+1)
		}
	}
	return &bb
}

// btCheckCRC checks the batch's CRC-32C independently: its own table, over bytes 21..end.
func btCheckCRC(t testing.TB, batch []byte) {
	t.Helper()
	want := crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli))
	if got := binary.BigEndian.Uint32(batch[17:]); got != want {
		t.Fatalf("CRC field %08x, CRC-32C of bytes 21.. is %08x", got, want)
	}
}

// btKmsgRecords splits a records section with an independent varint reader and parses each
// record with kmsg. With canonical set it also checks that kmsg re-encodes each record to
// exactly the same bytes (which holds for minimal varints: anything an encoder writes).
func btKmsgRecords(t testing.TB, section []byte, n int, canonical bool) []kmsg.Record {
	t.Helper()
	var out []kmsg.Record
	for len(section) > 0 {
		l, vn := binary.Varint(section)
		if vn <= 0 || l < 0 || int64(len(section)-vn) < l {
			t.Fatalf("record %d: bad length varint", len(out))
		}
		raw := section[:vn+int(l)]
		var kr kmsg.Record
		if err := kr.ReadFrom(raw); err != nil {
			t.Fatalf("record %d: kmsg: %v", len(out), err)
		}
		if int64(kr.Length) != l {
			t.Fatalf("record %d: kmsg length %d, varint %d", len(out), kr.Length, l)
		}
		if re := kr.AppendTo(nil); canonical && !bytes.Equal(re, raw) {
			t.Fatalf("record %d: kmsg does not consume exactly the record's bytes", len(out))
		}
		out = append(out, kr)
		section = section[len(raw):]
	}
	if len(out) != n {
		t.Fatalf("records section holds %d records, header says %d", len(out), n)
	}
	return out
}

func btBytesEqual(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func btCompareRecord(t testing.TB, i int, base int64, want btRecord, attrs int8, tsDelta int64, offDelta int32, key, value []byte, headers []Header) {
	t.Helper()
	if attrs != 0 {
		t.Errorf("record %d: attributes %d", i, attrs)
	}
	if tsDelta != want.ts-base {
		t.Errorf("record %d: timestamp delta %d, want %d", i, tsDelta, want.ts-base)
	}
	if offDelta != int32(i) {
		t.Errorf("record %d: offset delta %d", i, offDelta)
	}
	if !btBytesEqual(key, want.key) {
		t.Errorf("record %d: key %q (nil %v), want %q (nil %v)", i, key, key == nil, want.key, want.key == nil)
	}
	if !btBytesEqual(value, want.value) {
		t.Errorf("record %d: value of %d bytes (nil %v), want %d (nil %v)", i, len(value), value == nil, len(want.value), want.value == nil)
	}
	if len(headers) != len(want.headers) {
		t.Fatalf("record %d: %d headers, want %d", i, len(headers), len(want.headers))
	}
	for j := range headers {
		if headers[j].Key != want.headers[j].Key || !btBytesEqual(headers[j].Value, want.headers[j].Value) {
			t.Errorf("record %d header %d: %q=%q, want %q=%q", i, j, headers[j].Key, headers[j].Value, want.headers[j].Key, want.headers[j].Value)
		}
	}
}

func btMinMaxTs(recs []btRecord) (first, maxTs int64) {
	first, maxTs = recs[0].ts, recs[0].ts
	for _, r := range recs {
		maxTs = max(maxTs, r.ts)
	}
	return first, maxTs
}

// TestBatchOracle builds batches for every codec, scenario and header variant and checks them
// with franz-go's kmsg (header and records) and kgo's decompressor, then with our decoder.
func TestBatchOracle(t *testing.T) {
	for sname, recs := range btScenarios() {
		for oname, opts := range btSealOptions {
			for _, c := range btCodecs {
				opts := opts
				opts.Codec = c
				t.Run(fmt.Sprintf("%s/%s/%s", sname, oname, c), func(t *testing.T) {
					bb := btBuild(t, recs)
					uncompressed := bb.Size()
					batch, err := bb.Seal(nil, opts)
					if err != nil {
						t.Fatal(err)
					}
					if c == CodecNone && len(batch) != uncompressed {
						t.Fatalf("uncompressed batch is %d bytes, Size said %d", len(batch), uncompressed)
					}
					btCheckOracle(t, batch, recs, opts)
					btCheckDecode(t, batch, recs, opts)
				})
			}
		}
	}
}

func btCheckOracle(t *testing.T, batch []byte, recs []btRecord, opts SealOptions) {
	t.Helper()
	btCheckCRC(t, batch)
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(batch); err != nil {
		t.Fatalf("kmsg: %v", err)
	}
	first, maxTs := btMinMaxTs(recs)
	wantAttrs := int16(opts.Codec)
	if opts.LogAppendTime {
		wantAttrs |= 8
	}
	if opts.Transactional {
		wantAttrs |= 16
	}
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"FirstOffset", kb.FirstOffset, 0},
		{"Length", int64(kb.Length), int64(len(batch) - 12)},
		{"PartitionLeaderEpoch", int64(kb.PartitionLeaderEpoch), int64(opts.PartitionLeaderEpoch)},
		{"Magic", int64(kb.Magic), 2},
		{"CRC", int64(uint32(kb.CRC)), int64(crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))},
		{"Attributes", int64(kb.Attributes), int64(wantAttrs)},
		{"LastOffsetDelta", int64(kb.LastOffsetDelta), int64(len(recs) - 1)},
		{"FirstTimestamp", kb.FirstTimestamp, first},
		{"MaxTimestamp", kb.MaxTimestamp, maxTs},
		{"ProducerID", kb.ProducerID, opts.ProducerID},
		{"ProducerEpoch", int64(kb.ProducerEpoch), int64(opts.ProducerEpoch)},
		{"FirstSequence", int64(kb.FirstSequence), int64(opts.BaseSequence)},
		{"NumRecords", int64(kb.NumRecords), int64(len(recs))},
	} {
		if f.got != f.want {
			t.Errorf("kmsg %s = %d, want %d", f.name, f.got, f.want)
		}
	}
	section := btKgoDecompress(t, kb.Records, Codec(kb.Attributes&7))
	krs := btKmsgRecords(t, section, len(recs), true)
	for i, kr := range krs {
		var hs []Header
		for _, h := range kr.Headers {
			hs = append(hs, Header{Key: h.Key, Value: h.Value})
		}
		btCompareRecord(t, i, first, recs[i], kr.Attributes, kr.TimestampDelta64, kr.OffsetDelta, kr.Key, kr.Value, hs)
	}
}

func btCheckDecode(t *testing.T, batch []byte, recs []btRecord, opts SealOptions) {
	t.Helper()
	// Two batches back to back: the first decode returns the second.
	two := append(append([]byte(nil), batch...), batch...)
	rb, rest, err := DecodeRecordBatch(two, 1<<26)
	if err != nil {
		t.Fatalf("DecodeRecordBatch: %v", err)
	}
	if !bytes.Equal(rest, batch) {
		t.Fatalf("rest is %d bytes, want the second batch (%d)", len(rest), len(batch))
	}
	first, maxTs := btMinMaxTs(recs)
	if rb.BaseOffset != 0 || int(rb.BatchLength) != len(batch)-12 || rb.Magic != 2 ||
		rb.PartitionLeaderEpoch != opts.PartitionLeaderEpoch || rb.Codec() != opts.Codec ||
		rb.LastOffsetDelta != int32(len(recs)-1) || rb.BaseTimestamp != first || rb.MaxTimestamp != maxTs ||
		rb.ProducerID != opts.ProducerID || rb.ProducerEpoch != opts.ProducerEpoch ||
		rb.BaseSequence != opts.BaseSequence || int(rb.NumRecords) != len(recs) ||
		rb.CRC != binary.BigEndian.Uint32(batch[17:]) || (rb.Attributes&16 != 0) != opts.Transactional ||
		(rb.Attributes&8 != 0) != opts.LogAppendTime {
		t.Fatalf("decoded header %+v", rb)
	}
	if len(rb.Records) != len(recs) {
		t.Fatalf("%d records decoded, want %d", len(rb.Records), len(recs))
	}
	for i, r := range rb.Records {
		btCompareRecord(t, i, first, recs[i], r.Attributes, r.TimestampDelta, r.OffsetDelta, r.Key, r.Value, r.Headers)
	}
	if rb2, rest, err := DecodeRecordBatch(rest, 1<<26); err != nil || len(rest) != 0 || len(rb2.Records) != len(recs) {
		t.Fatalf("second batch: %d records, %d bytes left, %v", len(rb2.Records), len(rest), err)
	}
}

// btKmsgBatch builds a batch entirely with franz-go: records encoded by kmsg.Record.AppendTo,
// compressed by kgo's compressor, header by kmsg.RecordBatch.AppendTo.
func btKmsgBatch(t testing.TB, recs []btRecord, c Codec, pid int64, epoch int16, seq int32) []byte {
	t.Helper()
	first, maxTs := btMinMaxTs(recs)
	var section []byte
	for i, r := range recs {
		kr := kmsg.Record{
			TimestampDelta64: r.ts - first,
			OffsetDelta:      int32(i),
			Key:              r.key,
			Value:            r.value,
		}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		body := kr.AppendTo(nil) // Length 0 encodes as one byte
		kr.Length = int32(len(body) - 1)
		section = kr.AppendTo(section)
	}
	if c != CodecNone {
		codecs := map[Codec]kgo.CompressionCodec{
			CodecGzip: kgo.GzipCompression(), CodecSnappy: kgo.SnappyCompression(),
			CodecLZ4: kgo.Lz4Compression(), CodecZstd: kgo.ZstdCompression(),
		}
		comp, err := kgo.DefaultCompressor(codecs[c])
		if err != nil {
			t.Fatal(err)
		}
		out, used := comp.Compress(new(bytes.Buffer), section)
		if used != kgo.CompressionCodecType(c) {
			t.Fatalf("kgo compressed with %v, want %v", used, c)
		}
		section = append([]byte(nil), out...)
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          0,
		Length:               int32(49 + len(section)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(c),
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       first,
		MaxTimestamp:         maxTs,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        seq,
		NumRecords:           int32(len(recs)),
		Records:              section,
	}
	raw := kb.AppendTo(nil)
	kb.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return kb.AppendTo(nil)
}

func TestDecodeRecordBatchKmsgBuilt(t *testing.T) {
	for sname, recs := range btScenarios() {
		for _, c := range btCodecs {
			t.Run(sname+"/"+c.String(), func(t *testing.T) {
				batch := btKmsgBatch(t, recs, c, 5, 6, 7)
				btCheckDecode(t, batch, recs, SealOptions{Codec: c, ProducerID: 5, ProducerEpoch: 6, BaseSequence: 7, PartitionLeaderEpoch: -1})
				// Our uncompressed encoding is byte-identical to kmsg's.
				if c == CodecNone {
					bb := btBuild(t, recs)
					ours, err := bb.Seal(nil, SealOptions{ProducerID: 5, ProducerEpoch: 6, BaseSequence: 7, PartitionLeaderEpoch: -1})
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(ours, batch) {
						t.Fatal("uncompressed batch differs from kmsg's encoding")
					}
				}
			})
		}
	}
}

func TestSetProducerFields(t *testing.T) {
	recs := btScenarios()["many"]
	for _, c := range btCodecs {
		t.Run(c.String(), func(t *testing.T) {
			bb := btBuild(t, recs)
			opts := SealOptions{Codec: c, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1}
			batch, err := bb.Seal(nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			before := append([]byte(nil), batch...)
			if err := SetProducerFields(batch, 0x0102030405060708, 0x1234, 0x7fffff00); err != nil {
				t.Fatal(err)
			}
			// Only the three fields and the CRC changed.
			for i := range batch {
				inField := (i >= 43 && i < 57) || (i >= 17 && i < 21)
				if batch[i] != before[i] && !inField {
					t.Fatalf("byte %d changed", i)
				}
			}
			opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = 0x0102030405060708, 0x1234, 0x7fffff00
			btCheckOracle(t, batch, recs, opts)
			btCheckDecode(t, batch, recs, opts)
			// And back.
			if err := SetProducerFields(batch, -1, -1, -1); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(batch, before) {
				t.Fatal("rewriting back to -1 does not restore the original bytes")
			}
		})
	}

	good := func() []byte {
		b, err := btBuild(t, recs[:3]).Seal(nil, SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := map[string]func([]byte) []byte{
		"short":        func(b []byte) []byte { return b[:60] },
		"truncated":    func(b []byte) []byte { return b[:len(b)-1] },
		"trailing":     func(b []byte) []byte { return append(b, 0) },
		"magic 1":      func(b []byte) []byte { b[16] = 1; return b },
		"bad crc":      func(b []byte) []byte { b[17] ^= 1; return b },
		"corrupt body": func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b },
	}
	for name, f := range bad {
		b := f(good())
		snapshot := append([]byte(nil), b...)
		if err := SetProducerFields(b, 1, 2, 3); err == nil {
			t.Errorf("%s: no error", name)
		} else if !bytes.Equal(b, snapshot) {
			t.Errorf("%s: batch modified despite the error", name)
		}
	}
	if err := SetProducerFields(bad["corrupt body"](good()), 1, 2, 3); !errors.Is(err, ErrBadCRC) {
		t.Errorf("corrupt body: %v, want ErrBadCRC", err)
	}
}

func TestBatchBuilderReuse(t *testing.T) {
	storage := make([]byte, 0, 4096)
	var bb BatchBuilder
	bb.Reset(storage)
	bb.Append(1000, []byte("k"), []byte("v"), nil)
	batch, err := bb.Seal(nil, SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
	if err != nil {
		t.Fatal(err)
	}
	if &batch[0] != &storage[:1][0] {
		t.Fatal("CodecNone Seal copied instead of returning the builder's buffer")
	}
	// Re-seal with a codec into a caller buffer: the records are intact.
	dst := make([]byte, 0, 4096)
	zb, err := bb.Seal(dst, SealOptions{Codec: CodecZstd, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
	if err != nil {
		t.Fatal(err)
	}
	if &zb[0] != &dst[:1][0] {
		t.Fatal("compressed Seal did not use dst's storage")
	}
	btCheckOracle(t, zb, []btRecord{{ts: 1000, key: []byte("k"), value: []byte("v")}},
		SealOptions{Codec: CodecZstd, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})

	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Append after Seal did not panic")
			}
		}()
		bb.Append(1, nil, nil, nil)
	}()

	// Reset with the same storage starts over; a second batch is independent of the first.
	bb.Reset(batch)
	if bb.NumRecords() != 0 || bb.Size() != RecordBatchOverhead {
		t.Fatalf("after Reset: %d records, size %d", bb.NumRecords(), bb.Size())
	}
	bb.Append(5, nil, []byte("second"), nil)
	b2, err := bb.Seal(nil, SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
	if err != nil {
		t.Fatal(err)
	}
	btCheckOracle(t, b2, []btRecord{{ts: 5, value: []byte("second")}}, SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})

	// The zero value works without Reset.
	var zero BatchBuilder
	zero.Append(1, nil, nil, nil)
	if _, err := zero.Seal(nil, SealOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestBatchSealErrors(t *testing.T) {
	var bb BatchBuilder
	if _, err := bb.Seal(nil, SealOptions{}); err == nil {
		t.Error("sealing an empty batch: no error")
	}
	bb.Append(1, nil, nil, nil)
	for _, c := range []Codec{5, 7, -1} {
		if _, err := bb.Seal(nil, SealOptions{Codec: c}); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("codec %d: %v", c, err)
		}
	}
	if _, err := bb.Seal(nil, SealOptions{Codec: CodecGzip, Level: 42}); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("gzip level 42: %v", err)
	}
}

// btRaceEnabled reports whether the test binary was built with -race, under which sync.Pool
// drops items at random and allocation counts mean nothing.
func btRaceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

func TestBatchAppendAllocs(t *testing.T) {
	if btRaceEnabled() {
		t.Skip("allocation counts are meaningless with -race")
	}
	value := make([]byte, 100)
	headers := []Header{{"trace", []byte("abc")}}
	var bb BatchBuilder
	bb.Reset(make([]byte, 0, 64<<10))
	allocs := testing.AllocsPerRun(1000, func() {
		if bb.Size() > 60<<10 {
			bb.Reset(bb.buf)
		}
		_ = bb.SizeWith(1, []byte("key"), value, headers)
		bb.Append(1, []byte("key"), value, headers)
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocs per SizeWith+Append", allocs)
	}
	// Sealing without compression allocates nothing; with compression into a large enough dst,
	// nothing once the encoder pools are warm.
	dst := make([]byte, 0, 128<<10)
	for _, c := range btCodecs {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := bb.Seal(dst, SealOptions{Codec: c}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 0 {
			t.Errorf("%s: %.1f allocs per Seal", c, allocs)
		}
	}
	batch, err := bb.Seal(dst, SealOptions{Codec: CodecLZ4})
	if err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if err := SetProducerFields(batch, 1, 2, 3); err != nil {
			t.Fatal(err)
		}
	}); allocs > 0 {
		t.Errorf("%.1f allocs per SetProducerFields", allocs)
	}
}

// btMutate returns a copy of b with f applied.
func btMutate(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }

// btResealCRC recomputes the CRC of a hand-damaged batch so the damage is seen past the CRC check.
func btResealCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// btRec prefixes a hand-written record body with its zig-zag varint length.
func btRec(body ...byte) []byte { return append(AppendVarint(nil, int32(len(body))), body...) }

// btRawBatch builds an uncompressed batch around a hand-written records section.
func btRawBatch(numRecords int32, codec Codec, section []byte) []byte {
	b := make([]byte, 61, 61+len(section))
	binary.BigEndian.PutUint32(b[8:], uint32(49+len(section)))
	binary.BigEndian.PutUint32(b[12:], math.MaxUint32)
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(codec))
	binary.BigEndian.PutUint32(b[23:], uint32(numRecords-1))
	binary.BigEndian.PutUint32(b[57:], uint32(numRecords))
	b = append(b, section...)
	return btResealCRC(b)
}

func TestDecodeRecordBatchHostile(t *testing.T) {
	recs := btScenarios()["many"]
	bb := btBuild(t, recs)
	valid, err := bb.Seal(nil, SealOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
	if err != nil {
		t.Fatal(err)
	}
	validZstd, err := bb.Seal(nil, SealOptions{Codec: CodecZstd})
	if err != nil {
		t.Fatal(err)
	}
	// A zstd batch holding 1 GiB of zeros: 1024 concatenated frames of 1 MiB.
	zeros, _ := Compress(nil, make([]byte, 1<<20), CodecZstd, 3)
	bomb := btRawBatch(1, CodecZstd, bytes.Repeat(zeros, 1024))
	gzBomb, _ := Compress(nil, make([]byte, 1<<20), CodecGzip, 9)
	gzipBomb := btRawBatch(1, CodecGzip, bytes.Repeat(gzBomb, 1024))
	// attributes 0, timestamp delta 0, offset delta 0, key "k", value "v", no headers
	oneRecord := btRec(0, 0, 0, 2, 'k', 2, 'v', 0)

	cases := []struct {
		name string
		src  []byte
		want error // nil: any error
	}{
		{"empty", nil, ErrTruncated},
		{"11 bytes", valid[:11], ErrTruncated},
		{"length 2^31-1", btMutate(valid, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], math.MaxInt32); return b }), ErrTruncated},
		{"length 2^31 (negative)", btMutate(valid, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 1<<31); return b }), ErrInvalidLength},
		{"length 0", btMutate(valid, func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0); return b }), ErrInvalidLength},
		{"truncated", valid[:len(valid)-1], ErrTruncated},
		{"header only", valid[:61], ErrTruncated},
		{"bad crc", btMutate(valid, func(b []byte) []byte { b[17] ^= 0xff; return b }), ErrBadCRC},
		{"flipped record byte", btMutate(valid, func(b []byte) []byte { b[100] ^= 0x10; return b }), ErrBadCRC},
		{"magic 1", btMutate(valid, func(b []byte) []byte { b[16] = 1; return b }), nil},
		{"codec 5", btMutate(valid, func(b []byte) []byte { b[22] |= 5; return btResealCRC(b) }), ErrUnsupportedCodec},
		{"count +1", btMutate(valid, func(b []byte) []byte { b[60]++; return btResealCRC(b) }), nil},
		{"count -1", btMutate(valid, func(b []byte) []byte { b[60]--; return btResealCRC(b) }), ErrTrailingBytes},
		{"count 2^31-1", btMutate(valid, func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], math.MaxInt32); return btResealCRC(b) }), ErrInvalidLength},
		{"count negative", btMutate(valid, func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], 1<<31); return btResealCRC(b) }), ErrInvalidLength},
		{"count 0 with records", btMutate(valid, func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], 0); return btResealCRC(b) }), ErrTrailingBytes},
		{"record length varint overlong", btRawBatch(1, 0, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0}), ErrBadVarint},
		{"record length negative", btRawBatch(1, 0, []byte{3, 0, 0, 0, 1, 1, 0, 0}), ErrInvalidLength},
		{"record length past end", btRawBatch(1, 0, []byte{100, 0, 0, 0, 1, 1, 0, 0}), ErrTruncated},
		{"key length -2", btRawBatch(1, 0, btRec(0, 0, 0, 3, 1, 0)), ErrInvalidLength},
		{"key length past record", btRawBatch(1, 0, btRec(0, 0, 0, 20, 1, 0)), ErrTruncated},
		{"header count huge", btRawBatch(1, 0, btRec(0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0x0f)), ErrInvalidLength},
		{"header count negative", btRawBatch(1, 0, btRec(0, 0, 0, 1, 1, 1)), ErrInvalidLength},
		{"header key null", btRawBatch(1, 0, btRec(0, 0, 0, 1, 1, 2, 1, 1)), ErrInvalidLength},
		{"record trailing byte", btRawBatch(1, 0, btRec(0, 0, 0, 1, 1, 0, 0)), ErrTrailingBytes},
		{"timestamp varlong overlong", btRawBatch(1, 0, btRec(0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1, 1, 0)), ErrBadVarint},
		{"header value length -3", btRawBatch(1, 0, btRec(0, 0, 0, 1, 1, 2, 2, 'h', 5)), ErrInvalidLength},
		{"second record truncated", btRawBatch(2, 0, append(btRec(0, 0, 0, 1, 1, 0), btRec(0, 0, 2, 1, 1, 0)[:5]...)), ErrInvalidLength},
		{"zstd garbage", btRawBatch(1, CodecZstd, []byte("definitely not zstd")), nil},
		{"zstd truncated", btRawBatch(int32(len(recs)), CodecZstd, validZstd[61:len(validZstd)-5]), nil},
		{"zstd bomb 1 GiB", bomb, ErrDecompressedTooLarge},
		{"gzip bomb 1 GiB", gzipBomb, ErrDecompressedTooLarge},
	}
	// Sanity: the hand-built record decodes.
	if _, _, err := DecodeRecordBatch(btRawBatch(1, 0, oneRecord), 1<<20); err != nil {
		t.Fatalf("hand-built record: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			alloc := btAllocated(func() {
				_, _, err = DecodeRecordBatch(tc.src, 4<<20)
			})
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			// Nothing is allocated beyond what the input or the decompression limit justifies.
			if limit := uint64(4*len(tc.src)) + 3*(4<<20); alloc > limit {
				t.Fatalf("allocated %d bytes (limit %d)", alloc, limit)
			}
			t.Logf("%v (%d bytes allocated)", err, alloc)
		})
	}
}

// TestBatchTimestampDeltaNegative checks the base timestamp is the first record's even when later
// records are older, and that max timestamp is the maximum, not the last.
func TestBatchTimestampDeltaNegative(t *testing.T) {
	var bb BatchBuilder
	bb.Append(1000, nil, nil, nil)
	bb.Append(5000, nil, nil, nil)
	bb.Append(10, nil, nil, nil)
	b, err := bb.Seal(nil, SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb, _, err := DecodeRecordBatch(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rb.BaseTimestamp != 1000 || rb.MaxTimestamp != 5000 || rb.Records[2].TimestampDelta != -990 {
		t.Fatalf("base %d max %d deltas %d %d %d", rb.BaseTimestamp, rb.MaxTimestamp,
			rb.Records[0].TimestampDelta, rb.Records[1].TimestampDelta, rb.Records[2].TimestampDelta)
	}
}

func TestBatchVarintHelpers(t *testing.T) {
	for shift := range 64 {
		for _, v := range []uint64{1 << shift, 1<<shift - 1, 1<<shift + 1} {
			if got, want := batchUvarLen(v), UvarlongLen(v); got != want {
				t.Fatalf("batchUvarLen(%d) = %d, want %d", v, got, want)
			}
			if got, want := batchAppendUvarint(nil, v), AppendUvarlong(nil, v); !bytes.Equal(got, want) {
				t.Fatalf("batchAppendUvarint(%d) = %x, want %x", v, got, want)
			}
			s := int64(v)
			for _, x := range []int64{s, -s, s - 1, -s - 1} {
				if got, want := batchAppendUvarint(nil, batchZigzag(x)), AppendVarlong(nil, x); !bytes.Equal(got, want) {
					t.Fatalf("zigzag %d: %x, want %x", x, got, want)
				}
			}
		}
	}
	if batchUvarLen(0) != 1 || batchUvarLen(math.MaxUint64) != 10 {
		t.Fatal("batchUvarLen edge values")
	}
}
