// Package wire is the Kafka protocol as kastor speaks it: primitives, request and response encoding
// per API version, version negotiation, RecordBatch v2 building and decoding, codecs, and error codes.
//
// Everything here is pure: no goroutines, no I/O, no actors. Encoders append to a caller's buffer;
// decoders take a byte slice, check every length against the bytes that remain, and return an error
// (never panic) on hostile input.
package wire
