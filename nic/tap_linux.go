package nic

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// tunPath is the TUN/TAP clone device.
const tunPath = "/dev/net/tun"

// The errors of OpenTAP, OpenTUN and CheckTUN wrap one of these when it is the cause,
// so a command line can print the whole error as one clear line and a test
// can decide to skip with errors.Is.
var (
	// ErrNoTUN: the clone device is not there.
	ErrNoTUN = errors.New("/dev/net/tun is missing (load the tun module, or run the container with --device /dev/net/tun)")
	// ErrTUNDenied: the clone device is there, but its permissions do not
	// let this user open it (EACCES), whatever its capabilities.
	ErrTUNDenied = errors.New("this user may not open /dev/net/tun")
	// ErrNotPermitted: creating a TAP or TUN, attaching to one without an
	// owner, or configuring one needs CAP_NET_ADMIN and the process lacks it.
	ErrNotPermitted = errors.New("needs root or CAP_NET_ADMIN")
	// ErrNotOwner: the TAP or TUN exists and belongs to another user (and group),
	// and the process lacks CAP_NET_ADMIN.
	ErrNotOwner = errors.New("belongs to another user")
)

// TAPConfig configures OpenTAP.
type TAPConfig struct {
	// Name of the TAP device, at most 15 bytes. It is created if absent and
	// attached to if it exists (a persistent TAP made with `ip tuntap add`
	// stays persistent). Empty: the kernel picks tapN.
	Name string
	MTU  int     // default 1500; set on the kernel side with netlink
	MAC  [6]byte // the stack's own MAC; zero: random locally administered
	// HostAddr, if valid, is given to the kernel side of the TAP (replacing
	// an equal address); invalid leaves the kernel side's addresses alone.
	HostAddr netip.Prefix
	// Offload chooses whether the TAP carries the virtio-net header and
	// takes the kernel's TCPv4 super-frames and partial checksums. The zero
	// value is OffloadOff: plain frames.
	Offload OffloadMode
}

// OffloadMode says whether OpenTAP negotiates offloads with the kernel.
type OffloadMode uint8

// Offload modes.
const (
	// OffloadOff: plain Ethernet frames, no virtio-net header (Offloads 0).
	OffloadOff OffloadMode = iota
	// OffloadAuto: offloads when the kernel accepts them, else plain frames.
	OffloadAuto
	// OffloadOn: offloads, or OpenTAP fails with ErrOffloadRefused.
	OffloadOn
)

func (m OffloadMode) String() string {
	switch m {
	case OffloadAuto:
		return "auto"
	case OffloadOn:
		return "on"
	}
	return "off"
}

// ParseOffloadMode reads "auto", "on" or "off".
func ParseOffloadMode(s string) (OffloadMode, error) {
	for _, m := range []OffloadMode{OffloadOff, OffloadAuto, OffloadOn} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("offload mode %q: want auto, on or off", s)
}

// ErrOffloadRefused: OffloadOn was asked and the kernel refused the
// virtio-net header or TUNSETOFFLOAD.
var ErrOffloadRefused = errors.New("the kernel refused TAP offloads (IFF_VNET_HDR, TUNSETOFFLOAD CSUM|TSO4); use offload auto or off")

// TAPStats counts a TAP's or a TUN's traffic. ReadFull counts reads that filled the
// whole buffer: such a frame may have been truncated by the kernel, which
// does so silently, so a non-zero ReadFull with a buffer larger than MaxFrame
// points at a link whose MTU was raised behind our back.
type TAPStats struct {
	FramesRead, BytesRead       uint64
	FramesWritten, BytesWritten uint64
	WriteErrors                 uint64
	ReadFull                    uint64
	// With offloads: GSO super-frames read (the kernel's GRO/TSO output)
	// and their bytes; frames whose L4 checksum the kernel vouched for
	// (NEEDS_CSUM or DATA_VALID); frames dropped for a virtio-net header
	// we cannot use (a GSO type we did not negotiate and the like).
	GSOFramesRead, GSOBytesRead uint64
	CsumTrusted                 uint64
	BadVnetHdr                  uint64
	// TSO super-frames written (a Meta with GSO: the kernel takes them
	// whole or cuts them) and their bytes.
	GSOFramesWritten, GSOBytesWritten uint64
}

// TAP is a Linux TAP device: the kernel sees a network interface and we read
// and write its Ethernet frames. It implements Device with Batch 64 and,
// if TAPConfig.Offload asks and the kernel agrees, offloads (see OpenTAP).
//
// It owns the file descriptor; a TAP that OpenTAP created disappears when it
// is closed. The descriptor is non-blocking and served by Go's netpoller, so
// Close unblocks a pending Read. Concurrency is as for Device; HostMAC,
// HostConfigured, LinkUp and Stats may be called at any time.
//
// The device is opened with golang.org/x/sys/unix rather than
// songgao/water: water opens /dev/net/tun without O_CLOEXEC (every child
// process, such as ping or curl started by a test, inherits the TAP and keeps
// it alive after Close), leaks the descriptor when TUNSETIFF fails, clears the
// persist flag of a TAP it attaches to, and silently truncates long names.
// The offload-capable TAP needs x/sys/unix anyway.
//
// Read drains up to len(fs) ready frames per call (Batch 64): one wake-up
// of the receive goroutine, one lock of the stack, and one ACK for a run of
// in-order segments (a tun fd has no recvmmsg; draining until EAGAIN is the
// batching userspace has, notes/tap-offload.md §6 pitfall 13).
//
// With offloads the TAP is opened with IFF_VNET_HDR: every read and write
// carries a 10-byte virtio-net header (vnethdr.go), which Read turns into
// Frame.Meta and Write builds from it (notes/tap-offload.md §3, §9).
type TAP struct {
	tunFile
}

// tunFile is what a TAP and a TUN share: the descriptor of /dev/net/tun
// bound to one interface, what the open found of its kernel side, and
// Read, Write, Close and the counters, which do not depend on the kind of
// frame.
type tunFile struct {
	mode       *tunMode
	f          *os.File
	rc         syscall.RawConn
	info       Info
	hostMAC    [6]byte
	configured bool // the open set the MTU, link state and address
	linkUp     bool // the kernel side was up when the open returned

	framesRead, bytesRead       atomic.Uint64
	framesWritten, bytesWritten atomic.Uint64
	writeErrors, readFull       atomic.Uint64
	gsoFrames, gsoBytes         atomic.Uint64
	gsoWritten, gsoBytesWritten atomic.Uint64
	csumTrusted, badVnetHdr     atomic.Uint64
	closed                      atomic.Bool
	vnet                        bool             // every read and write carries a virtio-net header
	rdHdr                       [vnetHdrLen]byte // the header of the frame just read (one reader at a time)
	vw                          vnetWriter
}

// MaxTAPMTU is the largest MTU a TAP takes: the tun driver sets its
// max_mtu to 65535 less the 14-byte Ethernet header (drivers/net/tun.c,
// MAX_MTU - dev->hard_header_len), so `ip link set tap0 mtu 65522` fails
// with "mtu greater than device maximum".
const MaxTAPMTU = 65535 - ethernetHeaderLen

// tunMode is what differs between opening a TAP and opening a TUN.
type tunMode struct {
	name   string // "TAP" or "TUN", in messages
	ipMode string // the mode of `ip tuntap add`
	flags  uint16 // TUNSETIFF's: the kind, and no packet information prefix
	link   LinkKind
	maxMTU int
}

var (
	modeTAP = &tunMode{name: "TAP", ipMode: "tap", flags: unix.IFF_TAP | unix.IFF_NO_PI, link: LinkEthernet, maxMTU: MaxTAPMTU}
	modeTUN = &tunMode{name: "TUN", ipMode: "tun", flags: unix.IFF_TUN | unix.IFF_NO_PI, link: LinkIP, maxMTU: MaxTUNMTU}
)

// checkMTU refuses an MTU the device cannot have: below IPv4's 68 (RFC 791
// §3.2) or above its kind's maximum.
func (m *tunMode) checkMTU(mtu int) error {
	if mtu < 68 || mtu > m.maxMTU {
		return fmt.Errorf("nic: %s MTU %d out of range [68, %d]", m.name, mtu, m.maxMTU)
	}
	return nil
}

// OpenTAP opens (creating it if needed) the TAP device cfg.Name in the
// calling thread's network namespace. On failure it closes what it opened.
//
// With CAP_NET_ADMIN it sets the TAP's MTU, brings it up and gives it
// cfg.HostAddr. Without it, it can still attach to a TAP that exists and
// belongs to this user or one of its groups (`ip tuntap add mode tap user
// U name tap0`, the way QEMU runs unprivileged); then it changes nothing on
// the kernel side, whose owner configures it: Info().MTU is the link's own
// MTU (cfg.MTU is not applied), HostConfigured reports false, and LinkUp
// says whether the link was up.
//
// Errors name the cause and wrap ErrNoTUN, ErrTUNDenied, ErrNotPermitted or
// ErrNotOwner when it is one of those, and the errno.
//
// Only the open and the netlink calls depend on the namespace: the TAP
// keeps working from any goroutine afterwards.
func OpenTAP(cfg TAPConfig) (*TAP, error) {
	if cfg.MAC == ([6]byte{}) {
		cfg.MAC = randomMAC(rand.Uint64())
	}
	if cfg.Offload > OffloadOn {
		return nil, fmt.Errorf("nic: TAP offload mode %d: want OffloadOff, OffloadAuto or OffloadOn", cfg.Offload)
	}
	t := &TAP{}
	if err := t.open(modeTAP, cfg.Name, cfg.MTU, cfg.HostAddr, Info{MAC: cfg.MAC, Batch: tapBatch}, cfg.Offload); err != nil {
		return nil, err
	}
	return t, nil
}

// tunSetOffload sets the tun offload bits (TUN_F_*). The argument is the
// value itself, not a pointer (notes §6 pitfall 1). A variable so that a
// test can make the kernel refuse.
var tunSetOffload = func(fd int, bits int) error {
	return unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, bits)
}

// The TUN_F_* bits asked for: the kernel may hand us partial checksums
// and TCPv4 and TCPv6 super-frames (drivers/net/tun.c, set_offload maps
// them to the TAP's NETIF_F_HW_CSUM, NETIF_F_TSO and NETIF_F_TSO6). A
// kernel that refuses the set is asked for it without TSO6 (tapRxOffloads4)
// before the TAP settles for transmit offloads only. TSO_ECN waits for
// ECN-aware segmentation.
const (
	tapRxOffloads  = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	tapRxOffloads4 = unix.TUN_F_CSUM | unix.TUN_F_TSO4
)

// offloadsWith are the Offloads of a TAP with the virtio-net header whose
// TUNSETOFFLOAD took the receive offloads rx (0 when it refused even
// tapRxOffloads4). Frames we write may be super-frames of either family
// with partial checksums whenever the header is there: user→kernel GSO
// needs IFF_VNET_HDR alone (notes §6 pitfall 2; virtio_net_hdr_to_skb
// takes TCPV6 as TCPV4).
func offloadsWith(rx Offloads) Offloads {
	return TxCsum | TxTSO4 | TxTSO6 | rx
}

// decideOffload is what the open does after IFF_VNET_HDR: with mode and
// whether the kernel took the header (vnetOK), it asks set (TUNSETOFFLOAD)
// for tapRxOffloads, then, refused, for tapRxOffloads4, and returns whether
// the TAP keeps the header, the Offloads agreed, or the error that fails
// the open (OffloadOn only, when even tapRxOffloads4 was refused). A
// TUNSETOFFLOAD refused both sets under OffloadAuto keeps the header with
// the transmit offloads only: the kernel then sends plain frames with
// complete checksums, as a TAP without the header.
func decideOffload(mode OffloadMode, vnetOK bool, set func(bits int) error) (vnet bool, o Offloads, err error) {
	switch {
	case mode == OffloadOff:
		return false, 0, nil
	case !vnetOK && mode == OffloadOn:
		return false, 0, fmt.Errorf("%w: no IFF_VNET_HDR", ErrOffloadRefused)
	case !vnetOK:
		return false, 0, nil
	}
	if set(tapRxOffloads) == nil {
		return true, offloadsWith(RxCsumPartial | RxGSO4 | RxGSO6), nil
	}
	setErr := set(tapRxOffloads4)
	switch {
	case setErr == nil:
		return true, offloadsWith(RxCsumPartial | RxGSO4), nil
	case mode == OffloadOn:
		return false, 0, fmt.Errorf("%w: TUNSETOFFLOAD: %w", ErrOffloadRefused, setErr)
	}
	return true, offloadsWith(0), nil
}

// open opens /dev/net/tun and binds it (TUNSETIFF) to the interface name
// of mode m, creating it if absent; then, with CAP_NET_ADMIN, it
// configures the kernel side with mtu (0: DefaultMTU) and hostAddr, or
// without, adopts it as its owner left it. info is the device's Info less
// what open fills in: Name, Link, MTU and MaxFrame. On failure it closes
// what it opened.
//
// With offload other than OffloadOff (a TAP only), it asks for IFF_VNET_HDR
// when the kernel lists it (TUNGETFEATURES) and then settles the receive
// offloads with decideOffload.
func (t *tunFile) open(m *tunMode, name string, mtu int, hostAddr netip.Prefix, info Info, offload OffloadMode) error {
	if len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("nic: %s name %q is %d bytes; Linux allows at most %d", m.name, name, len(name), unix.IFNAMSIZ-1)
	}
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if err := m.checkMTU(mtu); err != nil {
		return err
	}
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return openError(err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("nic: %s name %q: %w", m.name, name, err)
	}
	flags := m.flags
	vnetOK := false
	if offload != OffloadOff {
		feat, err := unix.IoctlGetUint32(fd, unix.TUNGETFEATURES)
		vnetOK = err == nil && feat&unix.IFF_VNET_HDR != 0
	}
	if vnetOK {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return tunsetiffError(m, name, err)
	}
	vnet, offloads, err := decideOffload(offload, vnetOK, func(bits int) error { return tunSetOffload(fd, bits) })
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("nic: %s %s: %w", m.name, ifr.Name(), err)
	}
	// The fd is non-blocking, so os.NewFile registers it with the netpoller.
	// Never call f.Fd(): it would make the fd blocking again.
	t.mode, t.f = m, os.NewFile(uintptr(fd), tunPath)
	t.info = info
	t.info.Name, t.info.Link = ifr.Name(), m.link
	t.vnet, t.info.Offloads = vnet, offloads
	t.vw.init()
	t.setMTU(mtu)
	rc, err := t.f.SyscallConn()
	if err != nil {
		t.f.Close()
		return fmt.Errorf("nic: %s %s: %w", m.name, t.info.Name, err)
	}
	t.rc = rc
	if hasCapNetAdmin() {
		err = t.configure(mtu, hostAddr)
	} else {
		err = t.adopt()
	}
	if err != nil {
		t.f.Close()
		return err
	}
	return nil
}

// setMTU sets the MTU and the largest frame it makes with the link header.
// A device that takes super-frames reads frames up to IPv4's largest
// datagram (RFC 791 §3.1, Total Length), or with TCPv6 ones IPv6's
// largest packet (RFC 8200 §3), whatever the MTU.
func (t *tunFile) setMTU(mtu int) {
	t.info.MTU, t.info.MaxFrame = mtu, t.mode.link.HeaderLen()+mtu
	if rx := t.info.Offloads & (RxGSO4 | RxGSO6); rx != 0 {
		t.info.MaxFrame = t.mode.link.HeaderLen() + maxSuperLen(rx)
	}
}

// configure sets the kernel side of the device up through netlink.
func (t *tunFile) configure(mtu int, hostAddr netip.Prefix) error {
	name, kind := t.info.Name, t.mode.name
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("nic: netlink: %w", classifyErrno(err))
	}
	defer h.Close()
	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("nic: %s %s: finding the link: %w", kind, name, err)
	}
	if err := h.LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("nic: %s %s: setting MTU %d: %w", kind, name, mtu, classifyErrno(err))
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("nic: %s %s: bringing the link up: %w", kind, name, classifyErrno(err))
	}
	if hostAddr.IsValid() {
		p := hostAddr
		addr := &netlink.Addr{IPNet: &net.IPNet{
			IP:   p.Addr().Unmap().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().Unmap().BitLen()),
		}}
		if err := h.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("nic: %s %s: adding host address %v: %w", kind, name, p, classifyErrno(err))
		}
	}
	copy(t.hostMAC[:], link.Attrs().HardwareAddr)
	t.configured, t.linkUp = true, true
	return nil
}

// adopt takes the kernel side of a device we may not configure (no
// CAP_NET_ADMIN: its owner does) as it is: its MTU becomes ours.
func (t *tunFile) adopt() error {
	l, err := lookupLink(t.info.Name)
	if err != nil {
		return fmt.Errorf("nic: %s %s: %w", t.mode.name, t.info.Name, err)
	}
	if !l.found || l.mtu < 68 {
		return fmt.Errorf("nic: %s %s: the link vanished or has MTU %d", t.mode.name, t.info.Name, l.mtu)
	}
	t.setMTU(l.mtu)
	t.hostMAC, t.linkUp = l.mac, l.up
	return nil
}

// HostConfigured reports whether the open configured the kernel side (MTU,
// link up, HostAddr). It did not when the process lacks CAP_NET_ADMIN and
// attached to a device its owner made for it.
func (t *tunFile) HostConfigured() bool { return t.configured }

// LinkUp reports whether the kernel side was up when the open returned.
// While it is down the kernel refuses our frames (EIO).
func (t *tunFile) LinkUp() bool { return t.linkUp }

// openError explains why tunPath did not open.
func openError(err error) error {
	if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("nic: opening %s: %w", tunPath, classifyErrno(err))
	}
	// The device node's permissions (or a container's device policy)
	// refuse this user; CAP_NET_ADMIN does not help.
	detail := ""
	var st unix.Stat_t
	if unix.Stat(tunPath, &st) == nil {
		detail = fmt.Sprintf(": it has mode %#o, owner uid %d gid %d, and this process is uid %d gid %d",
			st.Mode&0o7777, st.Uid, st.Gid, os.Geteuid(), os.Getegid())
	}
	return fmt.Errorf("nic: %w%s (most systems make it mode 0666: chmod 0666 %s as root, or run as root): %w",
		ErrTUNDenied, detail, tunPath, err)
}

// tunsetiffError explains why TUNSETIFF refused name for mode m, from what
// the kernel reports about an interface of that name (drivers/net/tun.c,
// tun_set_iff: EPERM for a device we may not attach to or create, EINVAL
// for a name that is not a device of m's kind, EBUSY for one another
// process has open).
func tunsetiffError(m *tunMode, name string, err error) error {
	l, lerr := lookupLink(name)
	if lerr != nil {
		l = linkState{} // explain from the errno alone
	}
	prefix := fmt.Sprintf("nic: %s %q", m.name, name)
	user := currentUser()
	other := modeTUN // the kind of the interface, if it is a tun device
	if l.tap {
		other = modeTAP
	}
	switch {
	case errors.Is(err, unix.EPERM) && l.found && (l.owner >= 0 || l.group >= 0):
		return fmt.Errorf("%s %w (%s) and this process (uid %d) lacks CAP_NET_ADMIN: run as its owner, or have root re-create it for this user: ip tuntap del mode %s name %s; ip tuntap add mode %s user %s name %s: %w",
			prefix, ErrNotOwner, l.ownerString(), os.Geteuid(), m.ipMode, name, m.ipMode, user, name, err)
	case errors.Is(err, unix.EPERM) && l.found:
		// Linux lets anyone attach to a TAP or TUN with neither owner nor
		// group; a security module may not.
		return fmt.Errorf("%s has no owner and the kernel refused to attach to it: attaching %w; or have root re-create it for this user: ip tuntap del mode %s name %s; ip tuntap add mode %s user %s name %s: %w",
			prefix, ErrNotPermitted, m.ipMode, name, m.ipMode, user, name, err)
	case (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)) && !l.found:
		return fmt.Errorf("nic: creating %s %q %w; or have root create it for this user, then run without privileges: ip tuntap add mode %s user %s name %s: %w",
			m.name, name, ErrNotPermitted, m.ipMode, user, name, err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%s: another process has it open (TUNSETIFF): %w", prefix, err)
	case errors.Is(err, unix.EINVAL) && l.found && l.tun && other != m:
		return fmt.Errorf("%s is a %s device, not a %s (TUNSETIFF): %w", prefix, other.name, m.name, err)
	case errors.Is(err, unix.EINVAL) && l.found && l.tun && l.multiQueue:
		return fmt.Errorf("%s is a multi-queue %s, which tapstack does not open (TUNSETIFF): %w", prefix, m.name, err)
	case errors.Is(err, unix.EINVAL) && l.found && !l.tun:
		return fmt.Errorf("%s: an interface of that name exists and is not a %s (TUNSETIFF): %w", prefix, m.name, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%s: the kernel refused the name or the flags (TUNSETIFF): %w", prefix, err)
	}
	return fmt.Errorf("nic: creating %s %q (TUNSETIFF): %w", m.name, name, classifyErrno(err))
}

// currentUser names this process's user for `ip tuntap add ... user U`:
// its name if it has one, else the uid (ip accepts both).
func currentUser() string {
	uid := strconv.Itoa(os.Geteuid())
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return uid
}

// classifyErrno wraps ErrNoTUN or ErrNotPermitted around the errno they
// explain; other errors pass unchanged.
func classifyErrno(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return fmt.Errorf("%w: %w", ErrNoTUN, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %w", ErrNotPermitted, err)
	}
	return err
}

// hasCapNetAdmin reports whether CAP_NET_ADMIN is in this thread's
// effective set (root normally has it; a container may not).
func hasCapNetAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) != 0
}

// linkState is what the kernel reports about an interface, by name, to any
// user (RTM_GETLINK). owner and group are -1 when unset.
type linkState struct {
	found      bool
	mtu        int
	up         bool
	mac        [6]byte
	tun        bool // a TUN/TAP device (IFLA_INFO_KIND "tun")
	tap        bool // IFLA_TUN_TYPE is IFF_TAP
	multiQueue bool
	owner      int64
	group      int64
}

func (l linkState) ownerString() string {
	switch {
	case l.owner >= 0 && l.group >= 0:
		return fmt.Sprintf("owner uid %d, group gid %d", l.owner, l.group)
	case l.owner >= 0:
		return fmt.Sprintf("owner uid %d", l.owner)
	}
	return fmt.Sprintf("group gid %d", l.group)
}

// lookupLink asks the kernel about the interface name in the calling
// thread's network namespace. It reads netlink rather than
// /sys/class/net/NAME/{tun_flags,owner,group}: sysfs shows the namespace
// it was mounted in, which is not the thread's after a bare setns.
// The tun attributes (IFLA_INFO_DATA, Linux 4.15) carry IFLA_TUN_OWNER and
// IFLA_TUN_GROUP only when they are set, which vishvananda/netlink's
// Tuntap cannot tell from uid 0, hence the raw request.
func lookupLink(name string) (linkState, error) {
	l := linkState{owner: -1, group: -1}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if errors.Is(err, unix.ENODEV) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("netlink: looking up the link: %w", err)
	}
	if len(msgs) != 1 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return l, fmt.Errorf("netlink: looking up the link: %d answers", len(msgs))
	}
	l.found = true
	l.up = nl.DeserializeIfInfomsg(msgs[0]).Flags&unix.IFF_UP != 0
	attrs, err := nl.ParseRouteAttr(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		return l, fmt.Errorf("netlink: %w", err)
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.IFLA_MTU:
			if len(a.Value) >= 4 {
				l.mtu = int(nl.NativeEndian().Uint32(a.Value))
			}
		case unix.IFLA_ADDRESS:
			copy(l.mac[:], a.Value)
		case unix.IFLA_LINKINFO:
			l.parseLinkInfo(a.Value)
		}
	}
	return l, nil
}

// parseLinkInfo reads IFLA_LINKINFO: the kind, and a tun's attributes.
func (l *linkState) parseLinkInfo(b []byte) {
	info, err := nl.ParseRouteAttr(b)
	if err != nil {
		return
	}
	var data []byte
	for _, a := range info {
		switch a.Attr.Type {
		case nl.IFLA_INFO_KIND:
			l.tun = strings.TrimRight(string(a.Value), "\x00") == "tun"
		case nl.IFLA_INFO_DATA:
			data = a.Value
		}
	}
	if !l.tun || data == nil {
		return
	}
	tunAttrs, err := nl.ParseRouteAttr(data)
	if err != nil {
		return
	}
	for _, a := range tunAttrs {
		switch {
		case a.Attr.Type == nl.IFLA_TUN_OWNER && len(a.Value) >= 4:
			l.owner = int64(nl.NativeEndian().Uint32(a.Value))
		case a.Attr.Type == nl.IFLA_TUN_GROUP && len(a.Value) >= 4:
			l.group = int64(nl.NativeEndian().Uint32(a.Value))
		case a.Attr.Type == nl.IFLA_TUN_TYPE && len(a.Value) >= 1:
			l.tap = a.Value[0] == unix.IFF_TAP
		case a.Attr.Type == nl.IFLA_TUN_MULTI_QUEUE && len(a.Value) >= 1:
			l.multiQueue = a.Value[0] != 0
		}
	}
}

// CheckTUN reports whether this process can create TAP or TUN devices: it needs
// /dev/net/tun, able to be opened, and CAP_NET_ADMIN in its effective set
// (root normally has it; a container may not). The error wraps ErrNoTUN,
// ErrTUNDenied or ErrNotPermitted. (Without CAP_NET_ADMIN, OpenTAP and
// OpenTUN can still attach to a device that belongs to this user.)
func CheckTUN() error {
	st, err := os.Stat(tunPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("nic: %w", ErrNoTUN)
		}
		return fmt.Errorf("nic: %w", err)
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		return fmt.Errorf("nic: %w (%s is not a character device)", ErrNoTUN, tunPath)
	}
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return openError(err)
	}
	unix.Close(fd)
	if !hasCapNetAdmin() {
		return fmt.Errorf("nic: creating a TAP device %w", ErrNotPermitted)
	}
	return nil
}

// Info describes the device; a TAP's MAC is the stack's own.
func (t *tunFile) Info() Info { return t.info }

// HostMAC returns the kernel side's MAC (the TAP interface's hardware
// address), as it was when the TAP was opened.
func (t *TAP) HostMAC() [6]byte { return t.hostMAC }

// tapBatch is how many frames one Read of a TAP or TUN may return.
const tapBatch = 64

// Read blocks until a frame (a TUN's: a packet) arrives, then keeps reading, without blocking,
// until fs is full or the TAP has nothing more ready. Every fs[i].Data must
// have a capacity of at least MaxFrame. With the virtio-net header, each
// frame's Meta comes from it; a frame whose header we cannot use is dropped
// and counted (Stats().BadVnetHdr). It returns ErrClosed after Close.
func (t *tunFile) Read(fs []Frame) (int, error) {
	if len(fs) == 0 {
		return 0, nil
	}
	n := 0
	var rerr error
	err := t.rc.Read(func(fd uintptr) bool {
		for n < len(fs) {
			buf := fs[n].Data[:cap(fs[n].Data)]
			if len(buf) < t.info.MaxFrame {
				rerr = fmt.Errorf("nic: read buffer capacity %d is below MaxFrame %d", len(buf), t.info.MaxFrame)
				return true
			}
			k, err := t.read(int(fd), buf)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return n > 0 // nothing (more) ready: wait on the netpoller unless we have frames
			case err != nil:
				rerr = fmt.Errorf("nic: reading %s %s: %w", t.mode.name, t.info.Name, err)
				return true
			case k <= 0:
				return n > 0
			}
			if k >= len(buf) {
				// The kernel truncates a frame to the buffer without saying so.
				t.readFull.Add(1)
				k = len(buf)
			}
			meta, ok := t.readMeta(k)
			if !ok {
				continue
			}
			t.framesRead.Add(1)
			t.bytesRead.Add(uint64(k))
			fs[n].Data, fs[n].Meta = buf[:k], meta
			n++
		}
		return true
	})
	if err != nil {
		// RawConn reports the closed file as poll.ErrFileClosing, which
		// only os.File's own methods translate to os.ErrClosed.
		if errors.Is(err, os.ErrClosed) || t.closed.Load() {
			return n, ErrClosed
		}
		return n, fmt.Errorf("nic: reading %s %s: %w", t.mode.name, t.info.Name, err)
	}
	if n == 0 && rerr != nil {
		return 0, rerr
	}
	return n, nil
}

// read reads one frame into buf and returns its length, the virtio-net
// header (into t.rdHdr) not counted. One readv puts the header aside and
// the frame where the caller wants it: no copy.
func (t *tunFile) read(fd int, buf []byte) (int, error) {
	if !t.vnet {
		return unix.Read(fd, buf)
	}
	k, err := unix.Readv(fd, [][]byte{t.rdHdr[:], buf})
	if err != nil || k <= 0 {
		return k, err
	}
	if k < vnetHdrLen {
		return 0, nil // no frame: the kernel always writes the whole header
	}
	return k - vnetHdrLen, nil
}

// readMeta is the Meta of the frame of k bytes just read: from its header
// with the virtio-net header, else zero. ok false: drop the frame.
func (t *tunFile) readMeta(k int) (m Meta, ok bool) {
	if !t.vnet {
		return Meta{}, true
	}
	h, _ := parseVnetHdr(t.rdHdr[:])
	m, err := h.meta(k, t.info.Offloads)
	if err != nil {
		t.badVnetHdr.Add(1)
		return Meta{}, false
	}
	if m.GSO != GSONone {
		t.gsoFrames.Add(1)
		t.gsoBytes.Add(uint64(k))
	}
	if m.Csum != CsumUnverified {
		t.csumTrusted.Add(1)
	}
	return m, true
}

// Write sends fs in order, one write(2) each. A frame larger than MaxFrame
// (a super-frame: larger than IPv6's largest packet) stops with
// ErrFrameTooBig, a frame with a non-zero Meta on a device without the
// virtio-net header with ErrOffloadUnsupported, and a frame the kernel
// refuses (EINVAL for a malformed frame or header, EIO while the link is
// down) with that error, counted in Stats().WriteErrors. With the header, a
// zero Meta is written as a plain frame behind a zero header.
func (t *tunFile) Write(fs []Frame) (int, error) {
	for i := range fs {
		if err := t.writeFrame(fs[i].Data, [2][]byte{}, fs[i].Meta); err != nil {
			return i, err
		}
	}
	return len(fs), nil
}

// WriteVec writes one frame, head then tail, with one writev (VecWriter).
func (t *tunFile) WriteVec(head []byte, tail [2][]byte, meta Meta) error {
	return t.writeFrame(head, tail, meta)
}

// writeFrame checks, writes and counts the frame head+tail[0]+tail[1].
func (t *tunFile) writeFrame(head []byte, tail [2][]byte, m Meta) error {
	n := len(head) + len(tail[0]) + len(tail[1])
	max := t.info.MaxFrame
	if t.vnet && m.GSO != GSONone {
		max = t.mode.link.HeaderLen() + maxSuperLen(t.info.Offloads)
	}
	if n > max {
		return fmt.Errorf("%w: %d bytes, MaxFrame %d", ErrFrameTooBig, n, max)
	}
	if !t.vnet && m != (Meta{}) {
		return ErrOffloadUnsupported
	}
	if err := t.write(head, tail, m); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		t.writeErrors.Add(1)
		return fmt.Errorf("nic: writing to %s %s: %w", t.mode.name, t.info.Name, err)
	}
	t.framesWritten.Add(1)
	t.bytesWritten.Add(uint64(n))
	if m.GSO != GSONone {
		t.gsoWritten.Add(1)
		t.gsoBytesWritten.Add(uint64(n))
	}
	return nil
}

// write writes one frame, head then tail, with one writev behind the
// virtio-net header built from m when the device has it; a plain frame in
// one piece with one write.
func (t *tunFile) write(head []byte, tail [2][]byte, m Meta) error {
	if !t.vnet && len(tail[0])+len(tail[1]) == 0 {
		_, err := t.f.Write(head)
		return err
	}
	w := &t.vw
	w.mu.Lock()
	defer w.mu.Unlock()
	w.iov = w.iovBuf[:0]
	if t.vnet {
		vnetHdrOf(m).encode(w.hdr[:])
		w.iov = append(w.iov, w.hdr[:])
	}
	w.iov = append(w.iov, head)
	for _, b := range tail {
		if len(b) > 0 {
			w.iov = append(w.iov, b)
		}
	}
	err := t.rc.Write(w.fn)
	clear(w.iovBuf[:])
	if err != nil {
		if t.closed.Load() {
			return os.ErrClosed
		}
		return err
	}
	return w.err
}

// vnetWriter is the state of a writev, kept in the device so that a write
// allocates nothing (a closure over locals would, once per frame).
type vnetWriter struct {
	mu     sync.Mutex
	hdr    [vnetHdrLen]byte
	iovBuf [4][]byte // the virtio-net header, the head, two tail pieces
	iov    [][]byte  // the pieces of this write, in iovBuf
	err    error
	fn     func(fd uintptr) bool // writes iov with one writev
}

func (w *vnetWriter) init() {
	w.fn = func(fd uintptr) bool {
		for {
			_, w.err = unix.Writev(int(fd), w.iov)
			switch w.err {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait for room on the netpoller
			}
			return true
		}
	}
}

// Close closes the device, unblocking a pending Read. A device the open
// created is deleted by the kernel; a persistent one stays.
func (t *tunFile) Close() error {
	t.closed.Store(true)
	if err := t.f.Close(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("nic: closing %s %s: %w", t.mode.name, t.info.Name, err)
	}
	return nil
}

// Stats returns the device's counters.
func (t *tunFile) Stats() TAPStats {
	return TAPStats{
		FramesRead:       t.framesRead.Load(),
		BytesRead:        t.bytesRead.Load(),
		FramesWritten:    t.framesWritten.Load(),
		BytesWritten:     t.bytesWritten.Load(),
		WriteErrors:      t.writeErrors.Load(),
		ReadFull:         t.readFull.Load(),
		GSOFramesRead:    t.gsoFrames.Load(),
		GSOBytesRead:     t.gsoBytes.Load(),
		GSOFramesWritten: t.gsoWritten.Load(),
		GSOBytesWritten:  t.gsoBytesWritten.Load(),
		CsumTrusted:      t.csumTrusted.Load(),
		BadVnetHdr:       t.badVnetHdr.Load(),
	}
}
