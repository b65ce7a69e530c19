package main

import (
	"fmt"
	"io"
	"time"
)

// The status page's IPv6 part (issue 12): our addresses with their state
// (RFC 4862: tentative, preferred, deprecated, duplicate), the default
// routers, and the neighbour cache (RFC 4861 §7.3).

type statusAddr6 struct {
	Prefix string `json:"prefix"`
	State  string `json:"state"`
	Origin string `json:"origin"` // link-local, static or slaac
	// Lifetimes left in seconds; absent: for ever.
	ValidSeconds     *int64 `json:"valid_seconds,omitempty"`
	PreferredSeconds *int64 `json:"preferred_seconds,omitempty"`
}

type statusRouter6 struct {
	Addr           string `json:"addr"`
	LifetimeSecond int64  `json:"lifetime_seconds"`
}

type statusNeighbour6 struct {
	IP     string `json:"ip"`
	MAC    string `json:"mac,omitempty"` // absent while INCOMPLETE
	State  string `json:"state"`
	Router bool   `json:"router,omitempty"`
	Queued int    `json:"queued,omitempty"` // packets waiting for resolution
}

// secondsLeft is until's distance from now in whole seconds, nil for the
// zero time (for ever).
func secondsLeft(until, now time.Time) *int64 {
	if until.IsZero() {
		return nil
	}
	s := int64(max(until.Sub(now), 0) / time.Second)
	return &s
}

// status6 fills doc's IPv6 part.
func (d *daemon) status6(doc *statusDoc) {
	st := d.st
	now := st.Clock().Now()
	doc.Addrs6 = []statusAddr6{}
	for _, a := range st.Addrs6() {
		doc.Addrs6 = append(doc.Addrs6, statusAddr6{Prefix: a.Prefix.String(), State: a.State.String(), Origin: a.Origin,
			ValidSeconds: secondsLeft(a.ValidUntil, now), PreferredSeconds: secondsLeft(a.PreferredUntil, now)})
	}
	doc.Routers6 = []statusRouter6{}
	for _, r := range st.Routers6() {
		doc.Routers6 = append(doc.Routers6, statusRouter6{Addr: r.Addr.String(), LifetimeSecond: *secondsLeft(r.Until, now)})
	}
	doc.Neighbours6 = []statusNeighbour6{}
	for _, n := range st.Neighbours6() {
		s := statusNeighbour6{IP: n.IP.String(), State: n.State.String(), Router: n.IsRouter, Queued: n.Pending}
		if !n.MAC.IsZero() {
			s.MAC = n.MAC.String()
		}
		doc.Neighbours6 = append(doc.Neighbours6, s)
	}
}

// writeStatus6Text writes the IPv6 part of the status page.
func writeStatus6Text(w io.Writer, doc statusDoc) {
	fmt.Fprintf(w, "\nIPv6 addresses:\n")
	for _, a := range doc.Addrs6 {
		life := ""
		if a.ValidSeconds != nil {
			life = fmt.Sprintf(" (valid %ds, preferred %ds)", *a.ValidSeconds, *a.PreferredSeconds)
		}
		fmt.Fprintf(w, "  %-40s %-10s %s%s\n", a.Prefix, a.State, a.Origin, life)
	}
	for _, r := range doc.Routers6 {
		fmt.Fprintf(w, "  default router %s (%ds)\n", r.Addr, r.LifetimeSecond)
	}
	fmt.Fprintf(w, "\nIPv6 neighbours:\n")
	for _, n := range doc.Neighbours6 {
		extra := ""
		if n.Router {
			extra += " router"
		}
		if n.Queued > 0 {
			extra += fmt.Sprintf(" (%d queued)", n.Queued)
		}
		fmt.Fprintf(w, "  %-40s %-17s %s%s\n", n.IP, n.MAC, n.State, extra)
	}
}
