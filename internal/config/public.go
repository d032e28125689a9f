package config

// Public reports whether the config says where browsers on other machines
// reach the appliance: turn.public_host, turn.public_ip or [tls]. Without
// any of them, TURN URLs name whatever address this host's interfaces have
// and the page is plain HTTP, on which browsers give camera and microphone
// to localhost only. The package's postinst starts the service only once
// Public is true (streamsync check-config -public).
func (c Config) Public() bool {
	return c.TURN.PublicHost != "" || c.TURN.PublicIP != "" || c.TLS.Enabled()
}
