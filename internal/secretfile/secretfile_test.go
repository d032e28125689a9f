package secretfile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // not subject to the umask
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		v    string
		min  int
		want string
	}{
		{"abc", 16, "must be at least 16 characters (got 3)"},
		{"a long random string", 8, "placeholder"},
		{"  A Long Random String ", 8, "placeholder"},
		{"ünïcödé-ünïcödé!", 16, ""}, // 16 characters, more bytes
		{"0123456789abcdef", 16, ""},
	} {
		err := Check(tc.v, tc.min)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%q): %v", tc.v, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%q) = %v, want %q", tc.v, err, tc.want)
		case err != nil && strings.Contains(err.Error(), tc.v) && tc.v != "a long random string":
			t.Errorf("Check(%q) quotes the secret: %v", tc.v, err)
		}
	}
}

func TestLines(t *testing.T) {
	p := write(t, "# rotated\n  first-secret-0123456789 \n\nsecond-secret-0123456789\n", 0o600)
	got, err := Lines(p, 16)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"first-secret-0123456789", "second-secret-0123456789"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Lines = %q, want %q", got, want)
	}
	short := write(t, "first-secret-0123456789\nabc\n", 0o600)
	if _, err := Lines(short, 16); err == nil || !strings.Contains(err.Error(), "line 2: must be at least 16 characters (got 3)") {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := Lines(write(t, "# nothing\n\n", 0o600), 16); err == nil || !strings.Contains(err.Error(), "holds no secret") {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := Lines(filepath.Join(t.TempDir(), "missing"), 16); err == nil {
		t.Fatal("missing file read")
	}
}

func TestFirst(t *testing.T) {
	got, err := First(write(t, "  hunter2hunter2 \nignored\n", 0o600), 8)
	if err != nil || got != "hunter2hunter2" {
		t.Fatalf("First = %q, %v", got, err)
	}
	for body, want := range map[string]string{
		"x\n":                    "must be at least 8 characters (got 1)",
		"\n":                     "is empty",
		"a long random string\n": "placeholder",
	} {
		if _, err := First(write(t, body, 0o600), 8); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("First(%q) = %v, want %q", body, err, want)
		}
	}
}

func TestExposed(t *testing.T) {
	for mode, want := range map[os.FileMode]string{
		0o600: "",
		0o640: "", // the service's group: the packaged layout
		0o644: "readable by every user on this machine (mode 0644)",
		0o666: "readable and writable by every user on this machine (mode 0666)",
		0o602: "writable by every user on this machine (mode 0602)",
	} {
		got := Exposed(write(t, "secret-0123456789", mode))
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("mode %04o: Exposed = %q, want %q", mode, got, want)
		}
	}
	if got := Exposed(filepath.Join(t.TempDir(), "missing")); got != "" {
		t.Errorf("missing file: %q", got)
	}
}
