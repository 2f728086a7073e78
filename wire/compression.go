package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec is a record batch compression codec: the value of attribute bits 0-2.
type Codec int8

// The codecs Kafka defines. zstd needs Produce v7+ on the broker side.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

var (
	// ErrDecompressedTooLarge means decompressed data would exceed the caller's limit. Decompress
	// stops before the output grows past the limit, so a decompression bomb costs at most the
	// limit in memory.
	ErrDecompressedTooLarge = errors.New("kastor/wire: decompressed data exceeds the limit")
	// ErrBadCRC means a record batch's CRC-32C does not match its contents.
	ErrBadCRC = errors.New("kastor/wire: record batch CRC mismatch")
	// ErrUnsupportedCodec means a codec id or name that is not one of none, gzip, snappy, lz4,
	// zstd, or a compression level the codec does not have.
	ErrUnsupportedCodec = errors.New("kastor/wire: unsupported compression codec")
)

// String returns the codec's Kafka name ("none", "gzip", "snappy", "lz4", "zstd").
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// ParseCodec returns the codec named s, as in Kafka's compression.type (case-insensitive).
func ParseCodec(s string) (Codec, error) {
	for c := CodecNone; c <= CodecZstd; c++ {
		if strings.EqualFold(s, c.String()) {
			return c, nil
		}
	}
	return CodecNone, fmt.Errorf("%w: %q", ErrUnsupportedCodec, s)
}

func (c Codec) valid() bool { return c >= CodecNone && c <= CodecZstd }

// Compress appends the compressed form of src to dst and returns the extended slice.
//
// Levels (0 and -1 always mean the codec's default):
//   - gzip: 1 (fastest) to 9 (best), the range of Java's compression.gzip.level; the default
//     is klauspost/compress's DefaultCompression, which it runs as level 5.
//   - snappy: has no levels; level is ignored.
//   - lz4: the default is LZ4's fast compressor (what kgo and Java's level 1 use); 1-9 select
//     pierrec/lz4's high-compression levels Level1-Level9 (search depth 2^9 .. 2^17); 10-17 (the
//     top of Java's HC range) are treated as 9.
//   - zstd: zstd levels; the default is 3. klauspost/compress/zstd has four speeds, chosen with
//     zstd.EncoderLevelFromZstd: < 3 fastest, 3-5 default, 6-9 better, >= 10 best. Negative
//     (zstd "fast") levels map to fastest.
//
// Encoders are pooled, so in steady state Compress allocates only when dst must grow.
func Compress(dst, src []byte, c Codec, level int) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return compressGzip(dst, src, level)
	case CodecSnappy:
		return compressSnappy(dst, src), nil
	case CodecLZ4:
		return compressLZ4(dst, src, level)
	case CodecZstd:
		return compressZstd(dst, src, level), nil
	}
	return dst, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(c))
}

// Decompress appends the decompressed form of src to dst and returns the extended slice. It
// fails with an error wrapping ErrDecompressedTooLarge if the output would be longer than
// maxSize bytes, and whatever the input claims it never allocates an output buffer larger than
// len(dst)+maxSize (zstd: plus one 128 KiB block of slack, see decompressZstd); size claims in
// headers (snappy's decoded length, zstd's content size) are checked before allocating. Codecs
// keep fixed working memory of their own: gzip a 32 KiB window, lz4 one block buffer of the
// frame's declared block size (at most 4 MiB, from a pool).
//
// Snappy input may be raw snappy blocks or xerial (snappy-java) framing. Concatenated gzip
// members, lz4 frames and zstd frames are all decoded.
func Decompress(dst, src []byte, c Codec, maxSize int) ([]byte, error) {
	if maxSize < 0 {
		maxSize = 0
	}
	var (
		out []byte
		err error
	)
	switch c {
	case CodecNone:
		if len(src) > maxSize {
			return dst, fmt.Errorf("%w: %d bytes > %d", ErrDecompressedTooLarge, len(src), maxSize)
		}
		return append(dst, src...), nil
	case CodecGzip:
		out, err = decompressGzip(dst, src, maxSize)
	case CodecSnappy:
		out, err = decompressSnappy(dst, src, maxSize)
	case CodecLZ4:
		out, err = decompressLZ4(dst, src, maxSize)
	case CodecZstd:
		out, err = decompressZstd(dst, src, maxSize)
	default:
		return dst, fmt.Errorf("%w: %d", ErrUnsupportedCodec, int8(c))
	}
	if err != nil {
		if errors.Is(err, ErrDecompressedTooLarge) {
			return dst, fmt.Errorf("%s: %w", c, err)
		}
		return dst, fmt.Errorf("kastor/wire: %s decompression: %w", c, err)
	}
	return out, nil
}

// codecTooLarge builds the error for output that would pass maxSize.
func codecTooLarge(maxSize int) error {
	return fmt.Errorf("%w (limit %d bytes)", ErrDecompressedTooLarge, maxSize)
}

// codecAppendWriter is an io.Writer that appends to a slice: stream encoders write into the
// caller's dst through it without an intermediate bytes.Buffer.
type codecAppendWriter struct{ b []byte }

func (w *codecAppendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// codecGrowCap returns b with room for at least n more bytes, keeping its contents.
func codecGrowCap(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// codecReadBounded appends everything r produces to dst. The output never grows past
// len(dst)+maxSize bytes: when that much has been read, one more byte is probed, and if there is
// one the result is ErrDecompressedTooLarge. hint is the expected output size (clamped). A
// reader that keeps returning nothing fails with io.ErrNoProgress.
func codecReadBounded(dst []byte, r io.Reader, maxSize, hint int) ([]byte, error) {
	start := len(dst)
	limit := start + maxSize
	hint = min(max(hint, 512), maxSize)
	dst = codecGrowCap(dst, hint)
	for empty := 0; ; {
		if len(dst) == limit {
			var probe [1]byte
			for ; empty < codecMaxEmptyReads; empty++ {
				n, err := r.Read(probe[:])
				if n > 0 {
					return dst, codecTooLarge(maxSize)
				}
				if err == io.EOF {
					return dst, nil
				}
				if err != nil {
					return dst, err
				}
			}
			return dst, io.ErrNoProgress
		}
		if len(dst) == cap(dst) {
			// Double what was produced so far, never past the limit.
			grow := min(max(len(dst)-start, 512), limit-len(dst))
			dst = codecGrowCap(dst, grow)
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if n > 0 {
			empty = 0
		} else if err == nil {
			if empty++; empty >= codecMaxEmptyReads {
				return dst, io.ErrNoProgress
			}
		}
		if err != nil {
			return dst, err
		}
	}
}

// codecMaxEmptyReads is how many (0, nil) reads in a row codecReadBounded tolerates.
const codecMaxEmptyReads = 100

// codecSizeHint guesses the decompressed size from the compressed size (an initial capacity only).
func codecSizeHint(compressedLen int) int { return 4 * compressedLen }

// ---------------------------------------------------------------------------------------------
// gzip

// codecStream is what the gzip and lz4 writers have in common.
type codecStream interface {
	io.WriteCloser
	Reset(io.Writer)
}

// codecWriter is a pooled stream compressor together with the codecAppendWriter it writes into, so
// that a Compress call allocates nothing once its pool is warm.
type codecWriter struct {
	aw codecAppendWriter
	zw codecStream
}

// compress appends src, compressed, to dst and returns w to pool.
func (w *codecWriter) compress(pool *sync.Pool, dst, src []byte) ([]byte, error) {
	w.aw.b = dst
	w.zw.Reset(&w.aw)
	_, err := w.zw.Write(src)
	if err == nil {
		err = w.zw.Close()
	}
	out := w.aw.b
	w.aw.b = nil
	pool.Put(w)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// gzipWriterPools[level+1] pools writers of gzip level (-1..9); index 0 is the default level.
var gzipWriterPools [11]sync.Pool

func compressGzip(dst, src []byte, level int) ([]byte, error) {
	if level == 0 {
		level = gzip.DefaultCompression
	}
	if level < gzip.DefaultCompression || level > gzip.BestCompression {
		return dst, fmt.Errorf("%w: gzip level %d", ErrUnsupportedCodec, level)
	}
	pool := &gzipWriterPools[level+1]
	w, _ := pool.Get().(*codecWriter)
	if w == nil {
		w = new(codecWriter)
		zw, err := gzip.NewWriterLevel(&w.aw, level)
		if err != nil {
			return dst, err
		}
		w.zw = zw
	}
	return w.compress(pool, dst, src)
}

// gzipReader is a pooled gzip reader with its bytes.Reader. bytes.Reader is an io.ByteReader, so
// the inflater reads from it directly instead of wrapping it in a new bufio.Reader.
type gzipReader struct {
	br bytes.Reader
	zr gzip.Reader
}

var gzipReaderPool = sync.Pool{New: func() any { return new(gzipReader) }}

func decompressGzip(dst, src []byte, maxSize int) ([]byte, error) {
	r := gzipReaderPool.Get().(*gzipReader)
	defer func() {
		r.br.Reset(nil)
		gzipReaderPool.Put(r)
	}()
	r.br.Reset(src)
	if err := r.zr.Reset(&r.br); err != nil {
		return dst, err
	}
	r.zr.Multistream(true)
	// The gzip trailer holds the input size mod 2^32: a good capacity hint for one member. It
	// is only a hint, capped by deflate's best possible ratio (about 1032:1) so that a lying
	// trailer on a small input cannot make us allocate much.
	hint := codecSizeHint(len(src))
	if len(src) >= 18 {
		hint = min(int(binary.LittleEndian.Uint32(src[len(src)-4:])), 1032*len(src))
	}
	return codecReadBounded(dst, &r.zr, maxSize, hint)
}

// ---------------------------------------------------------------------------------------------
// snappy
//
// kastor writes raw snappy (one block in the format of golang/snappy Encode), not the xerial
// (snappy-java) framing the Java client writes. Every Kafka reader accepts raw snappy: the Java
// broker and consumer (snappy-java's SnappyInputStream falls back to raw when the xerial magic is
// missing), librdkafka, franz-go, sarama and kafka-go. It is also what franz-go and librdkafka
// write, it is smaller (no 16-byte header or per-block lengths), and it is encoded in one call
// with no intermediate buffer. Decompress reads both forms.

func compressSnappy(dst, src []byte) []byte {
	n := snappy.MaxEncodedLen(len(src))
	dst = codecGrowCap(dst, n)
	enc := snappy.Encode(dst[len(dst):len(dst)+n], src)
	return dst[:len(dst)+len(enc)]
}

// xerialMagic starts snappy-java's stream format: 0x82 "SNAPPY" 0, then a big-endian int32
// version and an int32 minimum compatible version, then blocks of [int32 length][raw snappy].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

func decompressSnappy(dst, src []byte, maxSize int) ([]byte, error) {
	if len(src) >= len(xerialMagic) && bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return decodeXerial(dst, src, maxSize)
	}
	return decodeSnappyBlock(dst, src, dst, maxSize)
}

// decodeSnappyBlock appends the raw snappy block src to out. base is the output buffer as the
// caller first passed it: the limit applies to everything appended after len(base).
func decodeSnappyBlock(out, src, base []byte, maxSize int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return out, err
	}
	// The block header states the decoded length; check it before allocating anything.
	if n < 0 || n > maxSize-(len(out)-len(base)) {
		return out, codecTooLarge(maxSize)
	}
	out = codecGrowCap(out, n)
	dec, err := snappy.Decode(out[len(out):len(out)+n], src)
	if err != nil {
		return out, err
	}
	if len(dec) != n {
		return out, snappy.ErrCorrupt
	}
	return out[:len(out)+n], nil
}

func decodeXerial(dst, src []byte, maxSize int) ([]byte, error) {
	if len(src) < xerialHeaderLen {
		return dst, fmt.Errorf("xerial header: %w", ErrTruncated)
	}
	// The version fields (snappy-java writes 1 and 1) are not checked: every version so far has
	// the same block layout, and other Kafka clients do not check them either.
	rest := src[xerialHeaderLen:]
	out := dst
	for len(rest) > 0 {
		if len(rest) < 4 {
			return dst, fmt.Errorf("xerial block length: %w", ErrTruncated)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return dst, fmt.Errorf("%w: xerial block of %d bytes in %d", ErrInvalidLength, n, len(rest))
		}
		var err error
		out, err = decodeSnappyBlock(out, rest[:n], dst, maxSize)
		if err != nil {
			return dst, err
		}
		rest = rest[n:]
	}
	return out, nil
}

// ---------------------------------------------------------------------------------------------
// lz4
//
// Output is the standard LZ4 frame format (magic 0x184D2204) with the correct header checksum
// (KIP-57), independent 64 KiB blocks and no content checksum: the framing Java's
// KafkaLZ4BlockOutputStream writes. The batch CRC-32C already covers the compressed bytes, so a
// content checksum would only cost time; 64 KiB blocks keep the pooled block buffers small.

// lz4WriterPools[i] pools writers of lz4Levels[i].
var (
	lz4WriterPools [10]sync.Pool
	lz4Levels      = [10]lz4.CompressionLevel{lz4.Fast, lz4.Level1, lz4.Level2, lz4.Level3,
		lz4.Level4, lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9}
)

func compressLZ4(dst, src []byte, level int) ([]byte, error) {
	if level < -1 {
		return dst, fmt.Errorf("%w: lz4 level %d", ErrUnsupportedCodec, level)
	}
	idx := min(max(level, 0), 9)
	pool := &lz4WriterPools[idx]
	w, _ := pool.Get().(*codecWriter)
	if w == nil {
		w = new(codecWriter)
		zw := lz4.NewWriter(&w.aw)
		w.zw = zw
		if err := zw.Apply(
			lz4.BlockSizeOption(lz4.Block64Kb),
			lz4.ChecksumOption(false),
			lz4.ConcurrencyOption(1),
			lz4.CompressionLevelOption(lz4Levels[idx]),
		); err != nil {
			return dst, err
		}
	}
	return w.compress(pool, dst, src)
}

type lz4Reader struct {
	br bytes.Reader
	zr *lz4.Reader
}

var lz4ReaderPool = sync.Pool{New: func() any {
	r := new(lz4Reader)
	r.zr = lz4.NewReader(nil) // concurrency 1 by default: no goroutines
	return r
}}

func decompressLZ4(dst, src []byte, maxSize int) ([]byte, error) {
	r := lz4ReaderPool.Get().(*lz4Reader)
	defer func() {
		r.zr.Reset(nil)
		r.br.Reset(nil)
		lz4ReaderPool.Put(r)
	}()
	r.br.Reset(src)
	r.zr.Reset(&r.br)
	return codecReadBounded(dst, r.zr, maxSize, codecSizeHint(len(src)))
}

// ---------------------------------------------------------------------------------------------
// zstd

// zstdEncoderPools[l] pools encoders of zstd.EncoderLevel l (1..4). EncodeAll on an encoder made
// with concurrency 1 runs on the calling goroutine and starts none.
var zstdEncoderPools [5]sync.Pool

func compressZstd(dst, src []byte, level int) []byte {
	if level == 0 || level == -1 {
		level = 3
	}
	el := zstd.EncoderLevelFromZstd(level)
	pool := &zstdEncoderPools[el]
	enc, _ := pool.Get().(*zstd.Encoder)
	if enc == nil {
		var err error
		enc, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(el),
			zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true))
		if err != nil {
			// Only invalid options fail, and these are constant.
			panic("kastor/wire: zstd.NewWriter: " + err.Error())
		}
	}
	out := enc.EncodeAll(src, dst)
	pool.Put(enc)
	return out
}

// zstdDecoderPool holds decoders made with concurrency 1 (DecodeAll runs on the caller's
// goroutine; no goroutine is ever started) and WithDecodeAllCapLimit, under which DecodeAll
// never writes past cap(dst): that is how a per-call limit is enforced with a decoder whose
// options are fixed. DecodeAll writes straight into the output (the output is the history
// window), so no window buffer is allocated, whatever window a frame declares.
var zstdDecoderPool = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(zstdMaxMemory))
	if err != nil {
		panic("kastor/wire: zstd.NewReader: " + err.Error())
	}
	return d
}}

const (
	// zstdMaxMemory is the decoder's own ceiling; the caller's maxSize is the effective limit.
	zstdMaxMemory = 1 << 32
	// zstdBlockSlack is the room beyond the limit given to DecodeAll: one maximum-size zstd
	// block (128 KiB) plus the decoder's 16-byte copy overrun, and a little more.
	zstdBlockSlack = 128<<10 + 64
	// zstdCopySlack covers the decoder's 16-byte copy overrun past the output.
	zstdCopySlack = 64
)

// decompressZstd decodes with DecodeAll. A first frame declaring more than maxSize fails at
// once; one declaring its size is first decoded into exactly that room. Otherwise (no declared
// size, several frames) it decodes into a buffer of room+zstdBlockSlack capacity, room starting
// at a multiple of the input and doubling up to maxSize while the output does not fit.
//
// When a block does not fit the capacity the decoder does not always say so with
// ErrDecoderSizeExceeded: the sequence decoder reports "output bigger than max block size",
// the same words as for a corrupt block. The slack tells the two apart: a block produces at
// most 128 KiB, so a block that ran out of capacity means more than room bytes had been
// decoded before it. An error with at most room bytes decoded is genuine corruption.
//
// The retries cost at most about twice the work of one decode, and the output buffer is never
// larger than len(dst)+maxSize+zstdBlockSlack.
func decompressZstd(dst, src []byte, maxSize int) ([]byte, error) {
	if len(src) == 0 {
		return dst, nil // no frames: DecodeAll's answer too
	}
	// A first frame whose header does not parse fails DecodeAll too; fail before allocating.
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return dst, err
	}
	dec := zstdDecoderPool.Get().(*zstd.Decoder)
	defer zstdDecoderPool.Put(dec)

	room := codecSizeHint(len(src))
	if h.HasFCS {
		if h.FrameContentSize > uint64(maxSize) {
			return dst, codecTooLarge(maxSize)
		}
		// The common case, one frame with its size declared (what EncodeAll writes): decode
		// into exactly that much room plus the decoder's copy overrun.
		fcs := int(h.FrameContentSize)
		n := fcs + zstdCopySlack
		buf := codecGrowCap(dst, n)
		out, err := dec.DecodeAll(src, buf[:len(dst):len(dst)+n])
		if err == nil && len(out)-len(dst) <= maxSize {
			return out, nil
		}
		// More frames, or a bad one: take the general path below.
		room = 2 * fcs
	}
	room = min(max(room, 1024), maxSize)
	buf := dst
	for {
		buf = codecGrowCap(buf[:len(dst)], room+zstdBlockSlack)
		out, err := dec.DecodeAll(src, buf[:len(dst):len(dst)+room+zstdBlockSlack])
		if err == nil {
			if len(out)-len(dst) > maxSize {
				return dst, codecTooLarge(maxSize)
			}
			return out, nil
		}
		if !errors.Is(err, zstd.ErrDecoderSizeExceeded) && len(out)-len(dst) <= room {
			return dst, err
		}
		if room >= maxSize {
			return dst, codecTooLarge(maxSize)
		}
		room = min(2*room, maxSize)
	}
}
