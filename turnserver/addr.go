package turnserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// advertisedIP returns the relay address told to clients: public_ip when
// set, else a non-loopback address of this host. Browsers ignore ICE
// servers and candidates on loopback, so 127.0.0.1 is used only when the
// relay is bound there (tests) or the host has no other address.
func advertisedIP(cfg Config) (netip.Addr, error) {
	if cfg.PublicIP != "" {
		return netip.ParseAddr(cfg.PublicIP)
	}
	bind := netip.MustParseAddr(cfg.RelayBind)
	if !bind.IsUnspecified() {
		return bind, nil
	}
	ip, err := HostIP()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("turn.public_ip is not set and %w", err)
	}
	return ip, nil
}

// HostIP returns the first IPv4 address of an interface that is up, not
// loopback and not link-local, preferring global unicast over private.
func HostIP() (netip.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list interfaces: %w", err)
	}
	var private netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr()
			switch {
			case !ip.Is4() || ip.IsLoopback() || ip.IsLinkLocalUnicast():
			case ip.IsPrivate():
				if !private.IsValid() {
					private = ip
				}
			default:
				return ip, nil
			}
		}
	}
	if private.IsValid() {
		return private, nil
	}
	return netip.Addr{}, errors.New("no non-loopback IPv4 address found on this host; set turn.public_ip")
}
