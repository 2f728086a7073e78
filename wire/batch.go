package wire

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
)

// RecordBatch v2 (magic 2) layout: offsets of the fixed header fields. The CRC covers everything
// from the attributes to the end of the batch, so the base offset and partition leader epoch,
// which the broker rewrites, are outside it.
const (
	batchLengthOffset     = 8
	batchLeaderEpochOff   = 12
	batchCRCOffset        = 17
	batchAttributesOffset = 21
	batchProducerIDOffset = 43

	// RecordBatchOverhead is the size of the record batch header, the bytes before the records.
	RecordBatchOverhead = 61

	// batchLengthFieldEnd: the length field counts the bytes after it.
	batchLengthFieldEnd = 12

	// batchMinRecordSize is the smallest encoded record: length, attributes, timestamp delta,
	// offset delta, key length, value length and header count, one byte each.
	batchMinRecordSize = 7
	// batchMinHeaderSize is the smallest encoded header: key length and value length.
	batchMinHeaderSize = 2

	// batchMaxRecordOverhead bounds a record's bytes besides key, value and headers: length
	// (5), attributes (1), timestamp delta (10), offset delta (5), key and value lengths (5
	// each) and header count (5).
	batchMaxRecordOverhead = 36
	// batchMaxHeaderOverhead bounds a header's bytes besides key and value: two lengths.
	batchMaxHeaderOverhead = 10
)

// Batch attribute bits.
const (
	batchAttrCodecMask     = 0x07
	batchAttrLogAppendTime = 1 << 3
	batchAttrTransactional = 1 << 4
)

// batchCRCTable is the CRC-32C table; hash/crc32 uses the SSE4.2 / ARMv8 CRC instructions for it.
var batchCRCTable = crc32.MakeTable(crc32.Castagnoli)

var (
	errBatchBadMagic = errors.New("kastor/wire: record batch magic is not 2")
	errBatchEmpty    = errors.New("kastor/wire: record batch has no records")
	errBatchTooLarge = errors.New("kastor/wire: record batch is larger than 2 GiB")
)

// batchZeroHeader is appended to reserve the batch header, which Seal fills in.
var batchZeroHeader [RecordBatchOverhead]byte

// BatchBuilder encodes records straight into one growing buffer: the first 61 bytes are reserved
// for the header, which Seal fills in. It tracks everything Seal needs (record count, first and
// largest timestamps) so sealing is a header write plus, for a codec, one compression pass.
//
// The zero value is ready to use. A BatchBuilder is not safe for concurrent use.
type BatchBuilder struct {
	buf     []byte // header space (once a record is appended) followed by the records
	n       int32  // records appended
	firstTs int64  // first record's timestamp: the batch's base timestamp
	maxTs   int64  // largest timestamp appended
	sealed  bool   // Seal was called; Append panics until Reset
}

// Reset empties the builder and makes it encode into buf's storage (its length is ignored). With
// a nil buf the builder allocates on the first Append.
func (b *BatchBuilder) Reset(buf []byte) {
	b.buf = buf[:0]
	b.n = 0
	b.firstTs, b.maxTs = 0, 0
	b.sealed = false
}

// NumRecords returns the number of records appended since the last Reset.
func (b *BatchBuilder) NumRecords() int { return int(b.n) }

// Size returns the size in bytes of the batch as it stands, uncompressed, header included.
func (b *BatchBuilder) Size() int {
	if len(b.buf) < RecordBatchOverhead {
		return RecordBatchOverhead
	}
	return len(b.buf)
}

// SizeWith returns the exact uncompressed size of the batch if a record with these fields were
// appended. It allocates nothing.
func (b *BatchBuilder) SizeWith(timestampMs int64, key, value []byte, headers []Header) int {
	delta := int64(0)
	if b.n > 0 {
		delta = timestampMs - b.firstTs
	}
	body := batchRecordBodyLen(delta, b.n, key, value, headers)
	return b.Size() + batchUvarLen(uint64(body)<<1) + body
}

// batchRecordBodyLen is the encoded size of a record after its length varint.
func batchRecordBodyLen(tsDelta int64, offsetDelta int32, key, value []byte, headers []Header) int {
	n := 1 + batchUvarLen(batchZigzag(tsDelta)) + batchUvarLen(uint64(offsetDelta)<<1) +
		batchVarBytesLen(key) + batchVarBytesLen(value) + batchUvarLen(uint64(len(headers))<<1)
	for i := range headers {
		h := &headers[i]
		n += batchUvarLen(uint64(len(h.Key))<<1) + len(h.Key) + batchVarBytesLen(h.Value)
	}
	return n
}

// batchVarLenTable[bits.Len64(v)] is the size of v as an unsigned varint.
var batchVarLenTable = [65]uint8{
	1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4,
	5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8,
	9, 9, 9, 9, 9, 9, 9, 10,
}

// batchUvarLen is UvarlongLen without the loop (a table lookup): record sizes are computed for
// every SizeWith and Append, and the loop's data-dependent branches cost more than the rest of
// the length computation.
func batchUvarLen(v uint64) int { return int(batchVarLenTable[bits.Len64(v)]) }

// batchZigzag is the zig-zag form of v, as AppendVarlong writes it.
func batchZigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// batchVarBytesLen is the encoded size of b with a varint length (nil is -1, one byte).
func batchVarBytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return batchUvarLen(uint64(len(b))<<1) + len(b)
}

// batchAppendUvarint is AppendUvarlong with inlined paths for one- and two-byte values, which
// are nearly all of a record's fields (lengths, small deltas); the primitive's loop, with its
// data-dependent exit, made up half of Append's time.
func batchAppendUvarint(dst []byte, v uint64) []byte {
	if v < 1<<7 {
		return append(dst, byte(v))
	}
	if v < 1<<14 {
		return append(dst, byte(v)|0x80, byte(v>>7))
	}
	return AppendUvarlong(dst, v)
}

// batchAppendVarBytes appends b with a zig-zag varint length; nil is length -1.
func batchAppendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 1) // zig-zag -1
	}
	dst = batchAppendUvarint(dst, uint64(len(b))<<1)
	return append(dst, b...)
}

// Append encodes one record: its offset delta is its index in the batch and its timestamp delta
// is relative to the first record's timestamp (it may be negative). A nil key, value or header
// value is encoded as null (length -1); an empty non-nil one as length 0. Once the buffer has
// grown to its working size, Append allocates nothing.
//
// Append panics if called after Seal without a Reset in between (the sealed batch may share
// the builder's buffer).
func (b *BatchBuilder) Append(timestampMs int64, key, value []byte, headers []Header) {
	if b.sealed {
		panic("kastor/wire: BatchBuilder.Append after Seal")
	}
	if b.n == 0 {
		b.firstTs, b.maxTs = timestampMs, timestampMs
		b.buf = append(b.buf[:0], batchZeroHeader[:]...)
	} else if timestampMs > b.maxTs {
		b.maxTs = timestampMs
	}
	delta := timestampMs - b.firstTs

	// Room for the record at its largest: every varint at its maximum size. Computing the exact
	// size first (as SizeWith does) costs about as much as encoding, so the record is encoded
	// after a two-byte hole for its length, which is then filled in: in place for bodies of
	// 64..8191 bytes, the common case, else by moving the body (by one byte for a short one, or
	// right for a large one, where the move is small next to the encoding).
	bound := batchMaxRecordOverhead + len(key) + len(value)
	for i := range headers {
		bound += batchMaxHeaderOverhead + len(headers[i].Key) + len(headers[i].Value)
	}
	buf := b.buf
	if cap(buf)-len(buf) < bound {
		buf = batchGrow(buf, bound)
	}
	off := len(buf)
	buf = buf[:off+2]    // the length hole
	buf = append(buf, 0) // record attributes: unused
	buf = batchAppendUvarint(buf, batchZigzag(delta))
	// Lengths and counts are non-negative: their zig-zag form is just v<<1.
	buf = batchAppendUvarint(buf, uint64(b.n)<<1)
	buf = batchAppendVarBytes(buf, key)
	buf = batchAppendVarBytes(buf, value)
	buf = batchAppendUvarint(buf, uint64(len(headers))<<1)
	for i := range headers {
		h := &headers[i]
		buf = batchAppendUvarint(buf, uint64(len(h.Key))<<1)
		buf = append(buf, h.Key...)
		buf = batchAppendVarBytes(buf, h.Value)
	}

	body := len(buf) - off - 2
	zl := uint64(body) << 1 // the length, zig-zag
	switch {
	case zl >= 1<<7 && zl < 1<<14: // two bytes: fill the hole
		buf[off] = byte(zl) | 0x80
		buf[off+1] = byte(zl >> 7)
	case zl < 1<<7: // one byte: move the body left by one
		buf[off] = byte(zl)
		buf = buf[:off+1+copy(buf[off+1:], buf[off+2:])]
	default: // three or more: move the body right
		n := batchUvarLen(zl)
		buf = buf[:len(buf)+n-2]
		copy(buf[off+n:], buf[off+2:off+2+body])
		AppendUvarlong(buf[off:off], zl)
	}
	b.buf = buf
	b.n++
}

// AppendIfFits appends the record only if the batch stays within limit bytes (uncompressed, header
// included), and reports whether it did. An empty batch always takes the record, so a record
// larger than limit gets a batch of its own. A cheap upper bound on the record's size settles
// nearly every call; only near the end of a batch is the exact size computed (SizeWith).
func (b *BatchBuilder) AppendIfFits(limit int, timestampMs int64, key, value []byte, headers []Header) bool {
	if b.n > 0 {
		bound := batchMaxRecordOverhead + len(key) + len(value)
		for i := range headers {
			bound += batchMaxHeaderOverhead + len(headers[i].Key) + len(headers[i].Value)
		}
		if len(b.buf)+bound > limit && b.SizeWith(timestampMs, key, value, headers) > limit {
			return false
		}
	}
	b.Append(timestampMs, key, value, headers)
	return true
}

// AppendSlack is how many bytes past a batch's size limit Append may need as working room for a
// record that does fit (it reserves each varint at its largest): buffers of limit+AppendSlack
// bytes never grow.
const AppendSlack = batchMaxRecordOverhead

// batchGrow returns buf with room for need more bytes: at least double, as append would, but in
// one step so a large record does not cause several copies.
func batchGrow(buf []byte, need int) []byte {
	nb := make([]byte, len(buf), max(2*cap(buf), len(buf)+need, 1024))
	copy(nb, buf)
	return nb
}

// SealOptions are the batch header fields that are not derived from the records.
type SealOptions struct {
	Codec Codec // compression of the records section
	Level int   // codec level; 0 or -1 for the codec's default (see Compress)

	// ProducerID, ProducerEpoch and BaseSequence are -1, -1, -1 when not idempotent.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32

	Transactional        bool  // attribute bit 4
	LogAppendTime        bool  // timestamp type (attribute bit 3); false is CreateTime
	PartitionLeaderEpoch int32 // -1 normally; the broker sets it
}

// Seal fills in the batch header and returns the complete batch: base offset 0, batch length,
// partition leader epoch, magic 2, CRC-32C, attributes (codec | timestampType<<3 |
// transactional<<4), last offset delta, base timestamp (the first record's), max timestamp,
// producer id, epoch, base sequence and record count.
//
// With CodecNone the returned batch is the builder's own buffer (no copy). With a codec the
// records section is compressed into dst's storage (dst may be nil; its length is ignored) and
// that is returned, compressed even when it does not shrink: the codec the caller chose is the
// codec on the wire, which keeps broker-side accounting and tests predictable.
//
// After Seal the builder must not be appended to until Reset. Seal may be called again, for
// example to re-seal with another codec after a broker rejected zstd; with CodecNone that
// rewrites the header of the batch a previous CodecNone Seal returned. A batch returned by a
// CodecNone Seal is the builder's storage: it stays valid until the builder is Reset and
// appended to (including when Reset is given that same storage).
func (b *BatchBuilder) Seal(dst []byte, opts SealOptions) ([]byte, error) {
	if !opts.Codec.valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(opts.Codec))
	}
	if b.n == 0 {
		return nil, errBatchEmpty
	}
	var batch []byte
	if opts.Codec == CodecNone {
		batch = b.buf
	} else {
		out := append(dst[:0], batchZeroHeader[:]...)
		var err error
		out, err = Compress(out, b.buf[RecordBatchOverhead:], opts.Codec, opts.Level)
		if err != nil {
			return nil, err
		}
		batch = out
	}
	if len(batch)-batchLengthFieldEnd > math.MaxInt32 {
		return nil, errBatchTooLarge
	}
	b.sealed = true

	attrs := int16(opts.Codec)
	if opts.LogAppendTime {
		attrs |= batchAttrLogAppendTime
	}
	if opts.Transactional {
		attrs |= batchAttrTransactional
	}
	// Appending into batch[:0] writes the header in place: the capacity is there.
	h := batch[:0]
	h = AppendInt64(h, 0)
	h = AppendInt32(h, int32(len(batch)-batchLengthFieldEnd))
	h = AppendInt32(h, opts.PartitionLeaderEpoch)
	h = AppendInt8(h, 2)
	h = AppendUint32(h, 0) // CRC, below
	h = AppendInt16(h, attrs)
	h = AppendInt32(h, b.n-1)
	h = AppendInt64(h, b.firstTs)
	h = AppendInt64(h, b.maxTs)
	h = AppendInt64(h, opts.ProducerID)
	h = AppendInt16(h, opts.ProducerEpoch)
	h = AppendInt32(h, opts.BaseSequence)
	_ = AppendInt32(h, b.n)
	batchPutCRC(batch)
	return batch, nil
}

// batchPutCRC computes the CRC-32C of batch[21:] and stores it at offset 17.
func batchPutCRC(batch []byte) {
	_ = AppendUint32(batch[batchCRCOffset:batchCRCOffset], crc32.Checksum(batch[batchAttributesOffset:], batchCRCTable))
}

// SetProducerFields rewrites the producer id, producer epoch and base sequence of a sealed
// batch in place and recomputes its CRC; the records are not touched. batch must be exactly one
// record batch. The current CRC is verified first (ErrBadCRC), so that a batch whose bytes were
// damaged after sealing, for example by a buffer reused too early, is never given a fresh valid
// CRC.
func SetProducerFields(batch []byte, producerID int64, epoch int16, baseSequence int32) error {
	if len(batch) < RecordBatchOverhead {
		return fmt.Errorf("%w: record batch of %d bytes", ErrTruncated, len(batch))
	}
	r := NewReader(batch[batchLengthOffset:batchCRCOffset])
	length := r.Int32()
	_ = r.Int32() // partition leader epoch
	magic := r.Int8()
	if magic != 2 {
		return fmt.Errorf("%w: %d", errBatchBadMagic, magic)
	}
	if int64(length) != int64(len(batch)-batchLengthFieldEnd) {
		return fmt.Errorf("%w: batch length field %d, %d bytes", ErrInvalidLength, length, len(batch)-batchLengthFieldEnd)
	}
	if crc32.Checksum(batch[batchAttributesOffset:], batchCRCTable) != NewReader(batch[batchCRCOffset:]).Uint32() {
		return ErrBadCRC
	}
	h := batch[batchProducerIDOffset:batchProducerIDOffset]
	h = AppendInt64(h, producerID)
	h = AppendInt16(h, epoch)
	_ = AppendInt32(h, baseSequence)
	batchPutCRC(batch)
	return nil
}

// Record is one decoded record. A nil Key or Value is null; Headers are nil when there are none.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte
	Headers        []Header
}

// RecordBatch is one decoded record batch (magic 2).
type RecordBatch struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
	Records              []Record
}

// Codec returns the compression codec from the attributes.
func (rb *RecordBatch) Codec() Codec { return Codec(rb.Attributes & batchAttrCodecMask) }

// DecodeRecordBatch decodes the record batch at the front of src and returns it with the bytes
// after it. It checks the length field, magic 2 and the CRC-32C (ErrBadCRC), decompresses the
// records (output bounded by maxDecompressed bytes; ErrDecompressedTooLarge), decodes exactly
// NumRecords records and requires that they fill the records section exactly.
//
// The returned Key, Value and header Value slices alias src (uncompressed batch) or a
// decompression buffer; header keys are copied into strings. Hostile input never panics, and
// the record slice is allocated only after its length has been checked against the bytes that
// could hold it.
func DecodeRecordBatch(src []byte, maxDecompressed int) (RecordBatch, []byte, error) {
	var rb RecordBatch
	if len(src) < batchLengthFieldEnd {
		return rb, src, fmt.Errorf("record batch header: %w", ErrTruncated)
	}
	r := NewReader(src)
	rb.BaseOffset = r.Int64()
	rb.BatchLength = r.Int32()
	if rb.BatchLength < RecordBatchOverhead-batchLengthFieldEnd {
		return rb, src, fmt.Errorf("%w: record batch length %d", ErrInvalidLength, rb.BatchLength)
	}
	if int64(rb.BatchLength) > int64(r.Len()) {
		return rb, src, fmt.Errorf("%w: record batch length %d, %d bytes left", ErrTruncated, rb.BatchLength, r.Len())
	}
	end := batchLengthFieldEnd + int(rb.BatchLength)
	batch, rest := src[:end:end], src[end:]

	r = NewReader(batch[batchLeaderEpochOff:])
	rb.PartitionLeaderEpoch = r.Int32()
	rb.Magic = r.Int8()
	rb.CRC = r.Uint32()
	rb.Attributes = r.Int16()
	rb.LastOffsetDelta = r.Int32()
	rb.BaseTimestamp = r.Int64()
	rb.MaxTimestamp = r.Int64()
	rb.ProducerID = r.Int64()
	rb.ProducerEpoch = r.Int16()
	rb.BaseSequence = r.Int32()
	rb.NumRecords = r.Int32()
	if err := r.Err(); err != nil { // cannot happen: the length was checked
		return rb, src, err
	}
	if rb.Magic != 2 {
		return rb, src, fmt.Errorf("%w: %d", errBatchBadMagic, rb.Magic)
	}
	if crc := crc32.Checksum(batch[batchAttributesOffset:], batchCRCTable); crc != rb.CRC {
		return rb, src, fmt.Errorf("%w: header %08x, computed %08x", ErrBadCRC, rb.CRC, crc)
	}
	codec := rb.Codec()
	if !codec.valid() {
		return rb, src, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(codec))
	}
	if rb.NumRecords < 0 {
		return rb, src, fmt.Errorf("%w: %d records", ErrInvalidLength, rb.NumRecords)
	}
	records := batch[RecordBatchOverhead:]
	if codec != CodecNone {
		var err error
		records, err = Decompress(nil, records, codec, maxDecompressed)
		if err != nil {
			return rb, src, err
		}
	}
	if int64(rb.NumRecords) > int64(len(records)/batchMinRecordSize) {
		return rb, src, fmt.Errorf("%w: %d records in %d bytes", ErrInvalidLength, rb.NumRecords, len(records))
	}
	if rb.NumRecords > 0 {
		rb.Records = make([]Record, rb.NumRecords)
	}
	r = NewReader(records)
	for i := range rb.Records {
		if err := batchDecodeRecord(r, &rb.Records[i]); err != nil {
			rb.Records = nil
			return rb, src, fmt.Errorf("record %d: %w", i, err)
		}
	}
	if err := r.Complete(); err != nil {
		rb.Records = nil
		return rb, src, fmt.Errorf("records section: %w", err)
	}
	return rb, rest, nil
}

// batchDecodeRecord decodes one length-prefixed record from r into rec.
func batchDecodeRecord(r *Reader, rec *Record) error {
	length := r.Varint()
	if err := r.Err(); err != nil {
		return err
	}
	if length < batchMinRecordSize-1 {
		return fmt.Errorf("%w: record length %d", ErrInvalidLength, length)
	}
	body := r.take(int(length))
	if err := r.Err(); err != nil {
		return err
	}
	rr := Reader{Src: body}
	rec.Attributes = rr.Int8()
	rec.TimestampDelta = rr.Varlong()
	rec.OffsetDelta = rr.Varint()
	rec.Key = batchReadVarBytes(&rr)
	rec.Value = batchReadVarBytes(&rr)
	nh := rr.Varint()
	if rr.err == nil && (nh < 0 || int64(nh) > int64(rr.Len()/batchMinHeaderSize)) {
		rr.Fail(fmt.Errorf("%w: %d headers in %d bytes", ErrInvalidLength, nh, rr.Len()))
	}
	if rr.err == nil && nh > 0 {
		rec.Headers = make([]Header, nh)
		for i := range rec.Headers {
			h := &rec.Headers[i]
			kl := rr.Varint()
			if rr.err == nil && kl < 0 {
				rr.Fail(fmt.Errorf("%w: header key length %d", ErrInvalidLength, kl))
			}
			h.Key = string(rr.take(int(kl)))
			h.Value = batchReadVarBytes(&rr)
		}
	}
	if err := rr.Complete(); err != nil {
		rec.Headers = nil
		return err
	}
	return nil
}

// batchReadVarBytes reads bytes with a zig-zag varint length; -1 is nil, other negative lengths
// are errors. An empty value is a non-nil empty slice.
func batchReadVarBytes(r *Reader) []byte {
	n := r.Varint()
	if r.err != nil {
		return nil
	}
	if n < -1 {
		r.Fail(fmt.Errorf("%w: %d", ErrInvalidLength, n))
		return nil
	}
	if n == -1 {
		return nil
	}
	b := r.take(int(n))
	if b == nil && r.err == nil {
		b = []byte{}
	}
	return b
}
