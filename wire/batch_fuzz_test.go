package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// btFuzzBatches returns valid batches, one per codec, for seeding.
func btFuzzBatches(f *testing.F) [][]byte {
	recs := []btRecord{
		{ts: 1000, key: []byte("key"), value: btText(btRand(20), 300), headers: []Header{{"h", []byte("v")}, {"n", nil}}},
		{ts: 900, value: []byte{}},
		{ts: 1100, key: []byte{}, value: btText(btRand(21), 200)},
	}
	var out [][]byte
	for _, c := range btCodecs {
		bb := btBuild(f, recs)
		b, err := bb.Seal(nil, SealOptions{Codec: c, ProducerID: 1, ProducerEpoch: 2, BaseSequence: 3, PartitionLeaderEpoch: -1})
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

const btFuzzMaxDecompressed = 1 << 20

func FuzzDecodeRecordBatch(f *testing.F) {
	for _, b := range btFuzzBatches(f) {
		f.Add(b)
		f.Add(b[:len(b)-1])                                                // truncated
		f.Add(b[:61])                                                      // header only
		f.Add(btMutate(b, func(b []byte) []byte { b[20] ^= 1; return b })) // bad CRC
		f.Add(btMutate(b, func(b []byte) []byte { b[60]++; return btResealCRC(b) }))
		f.Add(btMutate(b, func(b []byte) []byte { b[60]--; return btResealCRC(b) }))
		f.Add(btMutate(b, func(b []byte) []byte { b[len(b)-3] ^= 0x55; return btResealCRC(b) }))
		f.Add(append(append([]byte(nil), b...), b...)) // two batches
	}
	f.Add([]byte{})
	f.Add(make([]byte, 61))
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, rest, err := DecodeRecordBatch(data, btFuzzMaxDecompressed)
		if err != nil {
			if !bytes.Equal(rest, data) {
				t.Fatal("on error the input is not returned whole")
			}
			return
		}
		n := len(data) - len(rest)
		if n < RecordBatchOverhead || !bytes.Equal(rest, data[n:]) || int(rb.BatchLength) != n-12 {
			t.Fatalf("consumed %d bytes, batch length %d", n, rb.BatchLength)
		}
		if len(rb.Records) != int(rb.NumRecords) {
			t.Fatalf("%d records, header says %d", len(rb.Records), rb.NumRecords)
		}
		// franz-go agrees on the header and, for uncompressed batches, on every record.
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(data[:n]); err != nil {
			t.Fatalf("kmsg rejects a batch we accept: %v", err)
		}
		if kb.NumRecords != rb.NumRecords || uint32(kb.CRC) != rb.CRC || kb.ProducerID != rb.ProducerID ||
			kb.FirstTimestamp != rb.BaseTimestamp || kb.Attributes != rb.Attributes {
			t.Fatalf("kmsg header %+v, ours %+v", kb, rb)
		}
		if rb.Codec() == CodecNone {
			krs := btKmsgRecords(t, kb.Records, int(rb.NumRecords), false)
			for i, kr := range krs {
				r := rb.Records[i]
				if kr.TimestampDelta64 != r.TimestampDelta || kr.OffsetDelta != r.OffsetDelta ||
					!btBytesEqual(kr.Key, r.Key) || !btBytesEqual(kr.Value, r.Value) || len(kr.Headers) != len(r.Headers) {
					t.Fatalf("record %d: kmsg %+v, ours %+v", i, kr, r)
				}
			}
		}
	})
}

func FuzzDecompress(f *testing.F) {
	rng := btRand(22)
	text := btText(rng, 3000)
	for _, c := range btCodecs {
		comp, err := Compress(nil, text, c, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(c), comp)
		f.Add(byte(c), comp[:len(comp)/2])
		f.Add(byte(c), btMutate(comp, func(b []byte) []byte { b[len(b)/2] ^= 0x20; return b }))
		f.Add(byte(c), []byte{})
	}
	f.Add(byte(CodecSnappy), btXerial(text, 1000))
	f.Add(byte(CodecSnappy), btXerial(text, 1000)[:40])
	f.Add(byte(CodecSnappy), binary.AppendUvarint(nil, 1<<30))
	f.Fuzz(func(t *testing.T, c byte, data []byte) {
		codec := Codec(c % 5)
		prefix := []byte("pre")
		out, err := Decompress(append([]byte(nil), prefix...), data, codec, btFuzzMaxDecompressed)
		if err == nil {
			if !bytes.HasPrefix(out, prefix) || len(out)-len(prefix) > btFuzzMaxDecompressed {
				t.Fatalf("%s: %d bytes out, prefix kept %v", codec, len(out), bytes.HasPrefix(out, prefix))
			}
		} else if errors.Is(err, ErrDecompressedTooLarge) && codec == CodecNone && len(data) <= btFuzzMaxDecompressed {
			t.Fatal("none: too large for a small input")
		}
		// Whatever the input, it round-trips through each codec.
		comp, err := Compress(nil, data, codec, 0)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decompress(nil, comp, codec, len(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%s round trip: %v", codec, err)
		}
	})
}
