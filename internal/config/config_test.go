package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	streamsync "github.com/streamsync/streamsync"
)

// TestExampleIsTheDefault: config.example.toml documents every key with its
// default; decoding it must give exactly Default(), and it must validate.
func TestExampleIsTheDefault(t *testing.T) {
	cfg, err := Parse(streamsync.ExampleConfig)
	if err != nil {
		t.Fatalf("config.example.toml: %v", err)
	}
	if !reflect.DeepEqual(normalize(cfg), normalize(Default())) {
		t.Fatalf("config.example.toml differs from the defaults:\nexample: %+v\ndefault: %+v", cfg, Default())
	}
}

// TestExampleListsEveryKey: every key of every section appears in the example.
func TestExampleListsEveryKey(t *testing.T) {
	text := string(streamsync.ExampleConfig)
	var walk func(section string, v reflect.Type)
	walk = func(section string, v reflect.Type) {
		for i := range v.NumField() {
			tag := v.Field(i).Tag.Get("toml")
			if v.Field(i).Type.Kind() == reflect.Struct && v.Field(i).Type.PkgPath() != "time" && section == "" {
				if !strings.Contains(text, "["+tag+"]") {
					t.Errorf("section [%s] missing from config.example.toml", tag)
				}
				walk(tag, v.Field(i).Type)
				continue
			}
			if !strings.Contains(text, "\n"+tag+" = ") {
				t.Errorf("key %s.%s missing from config.example.toml", section, tag)
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
}

// normalize makes nil and empty slices compare equal, in every section.
func normalize(c Config) Config {
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Field(i).CanSet() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			if v.Len() == 0 {
				v.Set(reflect.Zero(v.Type()))
			}
		}
	}
	walk(reflect.ValueOf(&c).Elem())
	return c
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string
	}{
		{"unknown key", "[http]\nlissten = \"x\"\n[turnn]\nrealm = \"a\"\n",
			[]string{"http.lissten: unknown key", "turnn: unknown key"}},
		{"bad type", "[turn]\nrealm = \"ok\"\nrelay_port_min = \"high\"\n",
			[]string{"line 3", "relay_port_min"}},
		{"syntax", "[turn\n", []string{"line ", "table name"}},
		{"bad duration", "[turn]\ncredential_ttl = \"soon\"\n", []string{"line 2", "credential_ttl"}},
		{"no TURN listener", "[turn]\nlisten_udp = []\nlisten_tcp = []\n", []string{"turn.listen_udp: no TURN listener"}},
		{"bad cidr", "[turn]\nallowed_peer_ranges = [\"10.0.0.0/33\"]\n", []string{"line 2", "allowed_peer_ranges"}},
		{"every invalid value", "[http]\nlisten = \"nowhere\"\n[turn]\nrelay_port_min = 50000\nrelay_port_max = 40000\nmax_allocations = 0\n[signaling]\nmax_peers_per_room = 1\n[log]\nlevel = \"loud\"\n",
			[]string{
				`http.listen: must be host:port (got "nowhere")`,
				"turn.relay_port_max: must be >= relay_port_min (got 40000 < 50000)",
				"turn.max_allocations: must be at least 1 (got 0)",
				"signaling.max_peers_per_room:",
				`log.level: must be debug, info, warn or error (got "loud")`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadReadsSecretFile(t *testing.T) {
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretPath, []byte("# rotated 2026-11\nnew-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.toml")
	body := "[turn]\nsecrets = [\"old-secret-0123456789\"]\nsecret_file = \"" + secretPath + "\"\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"old-secret-0123456789", "new-secret-0123456789"}; !reflect.DeepEqual(cfg.TURN.Secrets, want) {
		t.Fatalf("secrets = %q, want %q", cfg.TURN.Secrets, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil {
		t.Fatal("a missing file loaded")
	}
}
