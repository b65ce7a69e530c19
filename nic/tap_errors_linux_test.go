package nic

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestClassifyErrno_WrapsTheCauseAndTheErrno(t *testing.T) {
	for _, c := range []struct {
		errno unix.Errno
		want  error
	}{
		{unix.ENOENT, ErrNoTUN},
		{unix.ENODEV, ErrNoTUN},
		{unix.EPERM, ErrNotPermitted},
		{unix.EACCES, ErrNotPermitted},
	} {
		err := classifyErrno(c.errno)
		if !errors.Is(err, c.want) || !errors.Is(err, c.errno) {
			t.Errorf("classifyErrno(%v) = %v, want it to wrap %q and the errno", c.errno, err, c.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("classifyErrno(%v) is not one line: %q", c.errno, err)
		}
	}
	if err := classifyErrno(unix.EBUSY); errors.Is(err, ErrNoTUN) || errors.Is(err, ErrNotPermitted) {
		t.Errorf("classifyErrno(EBUSY) = %v, want it unclassified", err)
	}
}

// OpenTAP refuses, before it touches anything, an MTU a TAP cannot have:
// below IPv4's 68 (RFC 791) or above the tun driver's max_mtu.
func TestCheckMTU_TAPBounds(t *testing.T) {
	for _, mtu := range []int{67, MaxTAPMTU + 1, 65535} {
		if err := modeTAP.checkMTU(mtu); err == nil || !strings.Contains(err.Error(), "out of range [68, 65521]") {
			t.Errorf("MTU %d: %v, want out of range [68, 65521]", mtu, err)
		}
	}
	for _, mtu := range []int{68, 1500, MaxTAPMTU} {
		if err := modeTAP.checkMTU(mtu); err != nil {
			t.Errorf("MTU %d: %v", mtu, err)
		}
	}
}
