// Package tcp is TCP (RFC 9293): wire codec, the sans-IO TCB state machine,
// listeners, and the helpers they share.
//
// The wire layer (wire.go, options.go, segment.go) turns the IP payload of an
// arriving segment into a Segment value with Decode, and writes an outgoing
// header with Encode. Header is a view over the bytes with accessors named
// after the RFC 9293 §3.1 fields; Parse is the one checked way in, and after
// it succeeds no accessor panics. Options (RFC 9293 §3.2, RFC 7323, RFC 2018)
// are walked by a bounded loop that rejects illegal lengths. Decode, Encode,
// ParseOptions, EncodeOptions and the checksum functions do not allocate.
//
// isn.go generates initial sequence numbers (RFC 6528); reset.go builds the
// RST that answers a segment reaching no connection (RFC 9293 §3.10.7.1).
//
// Concurrency: Header, Segment and Options are plain values with no locking;
// the functions over them are pure. ISNGenerator is safe for concurrent use.
package tcp
