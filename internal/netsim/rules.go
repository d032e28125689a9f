package netsim

import (
	"fmt"
	"strings"
)

// NAT is how a router maps the hosts behind it to its outside address,
// in the terms of RFC 4787 §4.
type NAT int

const (
	// NoNAT routes the inside addresses as they are.
	NoNAT NAT = iota
	// ConeNAT keeps one mapping per inside address and port whatever the
	// destination (endpoint-independent mapping, port preserved), and lets
	// in only replies from where a host sent to (address-and-port-dependent
	// filtering): Linux masquerade, like most home routers.
	ConeNAT
	// SymmetricNAT picks a new random outside port for every destination
	// address and port (address-and-port-dependent mapping) and filters
	// like ConeNAT: what a host learns from STUN is useless to anyone else,
	// so no direct path exists between two hosts behind such NATs.
	SymmetricNAT
)

// String describes the NAT for people.
func (n NAT) String() string {
	switch n {
	case NoNAT:
		return "no NAT"
	case ConeNAT:
		return "port-restricted cone NAT"
	case SymmetricNAT:
		return "symmetric NAT"
	}
	return fmt.Sprintf("NAT(%d)", int(n))
}

// Firewall is what a router lets out from the inside; replies to what
// went out always come back.
type Firewall int

const (
	// Open lets everything out.
	Open Firewall = iota
	// NoUDP drops every UDP datagram from the inside.
	NoUDP
	// OnlyTCP443 lets out nothing but TCP to port 443.
	OnlyTCP443
)

// String describes the firewall for people.
func (f Firewall) String() string {
	switch f {
	case Open:
		return "open"
	case NoUDP:
		return "outbound UDP dropped"
	case OnlyTCP443:
		return "only TCP to port 443"
	}
	return fmt.Sprintf("Firewall(%d)", int(f))
}

// RouterRules is the nftables ruleset of a router forwarding between its
// inside interface in and outside interface out, with the given NAT and
// firewall. Load it with NS.Nft; the router also needs ip_forward.
func RouterRules(in, out string, nat NAT, fw Firewall) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet netsim_filter {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n")
	if fw != Open {
		fmt.Fprintf(&b, "    ct state established,related accept\n")
	}
	switch fw {
	case NoUDP:
		fmt.Fprintf(&b, "    iifname %q meta l4proto udp drop\n", in)
	case OnlyTCP443:
		fmt.Fprintf(&b, "    iifname %q tcp dport 443 accept\n    iifname %q drop\n", in, in)
	}
	if nat != NoNAT {
		// Nothing unsolicited crosses a NAT inwards.
		fmt.Fprintf(&b, "    iifname %q ct state new drop\n", out)
	}
	fmt.Fprintf(&b, "  }\n}\n")
	if nat != NoNAT {
		flags := ""
		if nat == SymmetricNAT {
			flags = " fully-random"
		}
		fmt.Fprintf(&b, "table ip netsim_nat {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname %q masquerade%s\n  }\n}\n", out, flags)
	}
	return b.String()
}
