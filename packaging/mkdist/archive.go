package main

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// archiveFiles are what a release archive holds besides the binary, by
// their path in the module, kept at that path inside the archive (so the
// README's manual steps read the same).
var archiveFiles = []string{"README.md", "LICENSE", "config.example.toml", "systemd/streamsync.service"}

// archive writes streamsync-VERSION-linux-ARCH.tar.gz, whose files sit in a
// directory of that name: root-owned, dated SOURCE_DATE_EPOCH, in a fixed
// order.
func (r *release) archive(arch, bin string) (string, error) {
	name := fmt.Sprintf("streamsync-%s-linux-%s", r.version, arch)
	path := filepath.Join(r.out, name+".tar.gz")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: r.date, Uname: "root", Gname: "root"}); err != nil {
		return "", err
	}
	if err := addFile(tw, bin, name+"/streamsync", 0o755, r.date); err != nil {
		return "", err
	}
	dirs := map[string]bool{}
	for _, src := range archiveFiles {
		if d := filepath.Dir(src); d != "." && !dirs[d] {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/" + d + "/", Mode: 0o755, ModTime: r.date, Uname: "root", Gname: "root"}); err != nil {
				return "", err
			}
		}
		if err := addFile(tw, src, name+"/"+src, 0o644, r.date); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return path, f.Close()
}

func addFile(tw *tar.Writer, src, name string, mode int64, date time.Time) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: date, Uname: "root", Gname: "root"}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = tw.Write(data)
	return err
}
