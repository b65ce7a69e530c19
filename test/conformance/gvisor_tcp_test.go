package conformance

import gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

// Linking gVisor's TCP needs github.com/google/btree v1.1.2 in go.mod and
// go.sum (see gvisorTCP). Once they list it, drop the build constraint.
func init() { gvisorTCP = gtcp.NewProtocol }
