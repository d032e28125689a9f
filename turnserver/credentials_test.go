package turnserver

import (
	"strings"
	"testing"
	"time"
)

func TestParseRESTUsername(t *testing.T) {
	t.Parallel()
	ok := map[string]RESTUsername{
		"1700000000:alice":      {Expiry: time.Unix(1700000000, 0), User: "alice"},
		"alice:1700000000":      {Expiry: time.Unix(1700000000, 0), User: "alice"},
		"1700000000":            {Expiry: time.Unix(1700000000, 0)},
		"1700000000:r-ab.p-1:x": {Expiry: time.Unix(1700000000, 0), User: "r-ab.p-1:x"},
	}
	for in, want := range ok {
		got, err := ParseRESTUsername(in)
		if err != nil || !got.Expiry.Equal(want.Expiry) || got.User != want.User {
			t.Errorf("ParseRESTUsername(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "alice", ":", "abc:def", "-5:alice", "0:alice", "99999999999999:a", strings.Repeat("1", 600)} {
		if _, err := ParseRESTUsername(in); err == nil {
			t.Errorf("ParseRESTUsername(%q) accepted", in)
		}
	}
}

func TestMintRESTMatchesCoturnScheme(t *testing.T) {
	t.Parallel()
	// base64(HMAC-SHA1("secret", "1700000000:alice")), computed independently with openssl.
	if got := RESTPassword("secret", "1700000000:alice"); got != "d8soP47RbdIKLDUOpnJPVQyq5Ts=" {
		t.Fatalf("RESTPassword = %s", got)
	}
	u, p, exp, err := MintREST("secret", "alice", time.Unix(1699996400, 0), time.Hour)
	if err != nil || u != "1700000000:alice" || p != "d8soP47RbdIKLDUOpnJPVQyq5Ts=" || exp.Unix() != 1700000000 {
		t.Fatalf("MintREST = %q %q %v %v", u, p, exp, err)
	}
	if _, _, _, err := MintREST("secret", "a:b", time.Now(), time.Hour); err == nil {
		t.Fatal("a user with ':' was accepted")
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Realm = ""
	cfg.ListenUDP = []string{"nonsense"}
	cfg.RelayPortMin = 50000
	cfg.RelayPortMax = 49000
	cfg.Secrets = []string{"short"}
	cfg.CredentialTTL = time.Second
	cfg.MaxAllocations = 0
	cfg.PublicIP = "::1"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{
		`realm: must be non-empty`,
		`listen_udp[0]: must be IP:port (got "nonsense")`,
		`relay_port_max: must be >= relay_port_min (got 49000 < 50000)`,
		`secrets[0]: must be at least 16 characters (got 5)`,
		`credential_ttl: must be between 1m and 168h (got 1s)`,
		`max_allocations: must be at least 1 (got 0)`,
		`public_ip: must be a specific IPv4 address (got "::1")`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}
