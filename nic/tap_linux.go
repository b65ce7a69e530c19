package nic

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tunPath is the TUN/TAP clone device.
const tunPath = "/dev/net/tun"

// ErrNoTUN and ErrNotPermitted are wrapped into the errors of OpenTAP and
// CheckTUN, so a command line can print the whole error as one clear line and
// a test can decide to skip with errors.Is.
var (
	ErrNoTUN        = errors.New("/dev/net/tun is missing (load the tun module, or run the container with --device /dev/net/tun)")
	ErrNotPermitted = errors.New("creating a TAP device needs root or CAP_NET_ADMIN")
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
}

// TAPStats counts a TAP's traffic. ReadFull counts reads that filled the
// whole buffer: such a frame may have been truncated by the kernel, which
// does so silently, so a non-zero ReadFull with a buffer larger than MaxFrame
// points at a link whose MTU was raised behind our back.
type TAPStats struct {
	FramesRead, BytesRead       uint64
	FramesWritten, BytesWritten uint64
	WriteErrors                 uint64
	ReadFull                    uint64
}

// TAP is a Linux TAP device: the kernel sees a network interface and we read
// and write its Ethernet frames. It implements Device with Batch 1 and no
// offloads.
//
// It owns the file descriptor; a TAP that OpenTAP created disappears when it
// is closed. The descriptor is non-blocking and served by Go's netpoller, so
// Close unblocks a pending Read. Concurrency is as for Device; HostMAC and
// Stats may be called at any time.
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
// TODO(offload): a TAP opened with IFF_VNET_HDR and TUNSETOFFLOAD, and Meta
// from the virtio-net header. See notes/tap-offload.md §6 pitfall 10 (why
// water cannot do it) and §9.
type TAP struct {
	f       *os.File
	rc      syscall.RawConn
	info    Info
	hostMAC [6]byte

	framesRead, bytesRead       atomic.Uint64
	framesWritten, bytesWritten atomic.Uint64
	writeErrors, readFull       atomic.Uint64
	closed                      atomic.Bool
}

// OpenTAP opens (creating it if needed) the TAP device cfg.Name in the
// calling thread's network namespace, sets its MTU, brings it up and gives it
// cfg.HostAddr. On failure it closes what it opened. Errors wrap ErrNoTUN or
// ErrNotPermitted when that is the cause, and the errno.
//
// Only the open and the netlink calls depend on the namespace: the TAP
// keeps working from any goroutine afterwards.
func OpenTAP(cfg TAPConfig) (*TAP, error) {
	if len(cfg.Name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("nic: TAP name %q is %d bytes; Linux allows at most %d", cfg.Name, len(cfg.Name), unix.IFNAMSIZ-1)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("nic: TAP MTU %d out of range [68, 65535]", cfg.MTU)
	}
	if cfg.MAC == ([6]byte{}) {
		cfg.MAC = randomMAC(rand.Uint64())
	}

	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("nic: opening %s: %w", tunPath, classifyErrno(err))
	}
	ifr, err := unix.NewIfreq(cfg.Name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nic: TAP name %q: %w", cfg.Name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nic: creating TAP %q (TUNSETIFF): %w%s", cfg.Name, classifyErrno(err), tunsetiffHint(err))
	}
	name := ifr.Name()
	// The fd is non-blocking, so os.NewFile registers it with the netpoller.
	// Never call f.Fd(): it would make the fd blocking again.
	t := &TAP{f: os.NewFile(uintptr(fd), tunPath)}
	t.info = Info{Name: name, MAC: cfg.MAC, MTU: cfg.MTU, MaxFrame: 14 + cfg.MTU, Batch: tapBatch}
	rc, err := t.f.SyscallConn()
	if err != nil {
		t.f.Close()
		return nil, fmt.Errorf("nic: TAP %s: %w", name, err)
	}
	t.rc = rc
	if err := t.configure(cfg); err != nil {
		t.f.Close()
		return nil, err
	}
	return t, nil
}

// configure sets the kernel side of the TAP up through netlink.
func (t *TAP) configure(cfg TAPConfig) error {
	name := t.info.Name
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("nic: netlink: %w", classifyErrno(err))
	}
	defer h.Close()
	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("nic: TAP %s: finding the link: %w", name, err)
	}
	if err := h.LinkSetMTU(link, cfg.MTU); err != nil {
		return fmt.Errorf("nic: TAP %s: setting MTU %d: %w", name, cfg.MTU, classifyErrno(err))
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("nic: TAP %s: bringing the link up: %w", name, classifyErrno(err))
	}
	if cfg.HostAddr.IsValid() {
		p := cfg.HostAddr
		addr := &netlink.Addr{IPNet: &net.IPNet{
			IP:   p.Addr().Unmap().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().Unmap().BitLen()),
		}}
		if err := h.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("nic: TAP %s: adding host address %v: %w", name, p, classifyErrno(err))
		}
	}
	copy(t.hostMAC[:], link.Attrs().HardwareAddr)
	return nil
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

func tunsetiffHint(err error) string {
	switch {
	case errors.Is(err, unix.EBUSY):
		return " (another process has it open)"
	case errors.Is(err, unix.EINVAL):
		return " (an interface of that name exists and is not a TAP, or the name is invalid)"
	}
	return ""
}

// CheckTUN reports whether this process can create TAP devices: it needs
// /dev/net/tun, able to be opened, and CAP_NET_ADMIN in its effective set
// (root normally has it; a container may not). The error wraps ErrNoTUN or
// ErrNotPermitted.
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
		return fmt.Errorf("nic: opening %s: %w", tunPath, classifyErrno(err))
	}
	unix.Close(fd)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("nic: reading capabilities: %w", err)
	}
	if data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) == 0 {
		return fmt.Errorf("nic: %w", ErrNotPermitted)
	}
	return nil
}

// Info describes the TAP; MAC is the stack's own.
func (t *TAP) Info() Info { return t.info }

// HostMAC returns the kernel side's MAC (the TAP interface's hardware
// address), as it was when the TAP was opened.
func (t *TAP) HostMAC() [6]byte { return t.hostMAC }

// tapBatch is how many frames one Read may return.
const tapBatch = 64

// Read blocks until a frame arrives, then keeps reading, without blocking,
// until fs is full or the TAP has nothing more ready. Every fs[i].Data must
// have a capacity of at least MaxFrame. It returns ErrClosed after Close.
func (t *TAP) Read(fs []Frame) (int, error) {
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
			k, err := unix.Read(int(fd), buf)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return n > 0 // nothing (more) ready: wait on the netpoller unless we have frames
			case err != nil:
				rerr = fmt.Errorf("nic: reading TAP %s: %w", t.info.Name, err)
				return true
			case k <= 0:
				return n > 0
			}
			if k >= len(buf) {
				// The kernel truncates a frame to the buffer without saying so.
				t.readFull.Add(1)
				k = len(buf)
			}
			t.framesRead.Add(1)
			t.bytesRead.Add(uint64(k))
			fs[n].Data, fs[n].Meta = buf[:k], Meta{}
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
		return n, fmt.Errorf("nic: reading TAP %s: %w", t.info.Name, err)
	}
	if n == 0 && rerr != nil {
		return 0, rerr
	}
	return n, nil
}

// Write sends fs in order, one write(2) each. A frame larger than MaxFrame
// stops with ErrFrameTooBig, a frame with a non-zero Meta with
// ErrOffloadUnsupported, and a frame the kernel refuses (EINVAL for a
// malformed frame, EIO while the link is down) with that error, counted in
// Stats().WriteErrors.
func (t *TAP) Write(fs []Frame) (int, error) {
	for i := range fs {
		data := fs[i].Data
		if len(data) > t.info.MaxFrame {
			return i, fmt.Errorf("%w: %d bytes, MaxFrame %d", ErrFrameTooBig, len(data), t.info.MaxFrame)
		}
		if fs[i].Meta != (Meta{}) {
			return i, ErrOffloadUnsupported
		}
		if _, err := t.f.Write(data); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return i, ErrClosed
			}
			t.writeErrors.Add(1)
			return i, fmt.Errorf("nic: writing to TAP %s: %w", t.info.Name, err)
		}
		t.framesWritten.Add(1)
		t.bytesWritten.Add(uint64(len(data)))
	}
	return len(fs), nil
}

// Close closes the TAP, unblocking a pending Read. A TAP that OpenTAP
// created is deleted by the kernel; a persistent one stays.
func (t *TAP) Close() error {
	t.closed.Store(true)
	if err := t.f.Close(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("nic: closing TAP %s: %w", t.info.Name, err)
	}
	return nil
}

// Stats returns the TAP's counters.
func (t *TAP) Stats() TAPStats {
	return TAPStats{
		FramesRead:    t.framesRead.Load(),
		BytesRead:     t.bytesRead.Load(),
		FramesWritten: t.framesWritten.Load(),
		BytesWritten:  t.bytesWritten.Load(),
		WriteErrors:   t.writeErrors.Load(),
		ReadFull:      t.readFull.Load(),
	}
}
