package main

import (
	"io"
	"net"
)

// echo (RFC 862): writes back what it reads; closes after the peer's FIN.
func echo(c net.Conn) {
	io.Copy(c, c) // the Conn's WriteTo: no buffer held while idle
}

// discard (RFC 863): reads and drops.
func discard(c net.Conn) {
	io.Copy(io.Discard, c) // the Conn's WriteTo: no buffer held while idle
}

// chargenPattern is RFC 864's: 72-character lines of the 95 printable ASCII
// characters, each line starting one character later than the one before.
var chargenPattern = func() []byte {
	var b []byte
	for line := 0; line < 95; line++ {
		for i := 0; i < 72; i++ {
			b = append(b, byte(' '+(line+i)%95))
		}
		b = append(b, '\r', '\n')
	}
	return b
}()

// chargen (RFC 864): writes the pattern until the peer goes away.
func chargen(c net.Conn) {
	// Reading detects the peer's close; anything it sends is discarded.
	go io.Copy(io.Discard, c)
	buf := make([]byte, 0, 64<<10+len(chargenPattern))
	for len(buf) < 64<<10 {
		buf = append(buf, chargenPattern...)
	}
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// bytesPattern is what GET /bytes/N sends, 64 KiB at a time: shared and
// never written, so a response that waits on a stalled peer holds no buffer
// of its own.
var bytesPattern = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()
