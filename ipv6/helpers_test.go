package ipv6

import "github.com/tapstack/tapstack/internal/checksum"

func checksumOf(b []byte, initial uint32) uint16 { return checksum.Checksum(b, initial) }
