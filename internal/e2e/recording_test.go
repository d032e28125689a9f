package e2e

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// testRecording: alice, in a call, records it. The recording reports its
// duration and seeks, in the browser that made it, and its WebM has a
// known-size Segment, a Duration and Cues that point at Clusters.
func testRecording(t *testing.T, alice *participant) {
	alice.waitMedia(1, true)
	click(alice, "#btn-record")
	alice.waitFor("recording", `document.getElementById('btn-record').getAttribute('aria-pressed') === 'true' && (window.__t0 = performance.now())`, joinWait)
	// Record at least 3 s of the call (a length to find in the file, not a
	// timing assertion), and until the recorder has handed over data: on a
	// busy machine its encoder may take a while to produce the first frame.
	alice.waitFor("3 s recorded", `performance.now() - window.__t0 > 3000 && __e2e.recorded() > 0`, mediaWait)
	click(alice, "#btn-record")
	alice.waitFor("recording saved", `__e2e.downloads.length === 1 && /\.webm$/.test(__e2e.downloads[0].name)`, mediaWait)
	var got struct {
		Duration, Seeked, Elapsed float64
		Bytes, Error              string
	}
	raw := alice.js(`(async () => {
		const elapsed = (performance.now() - window.__t0) / 1000;
		const blob = __e2e.blobs.get(__e2e.downloads[0].href);
		const bytes = new Uint8Array(await blob.arrayBuffer());
		let s = '';
		for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
		const v = document.createElement('video');
		v.muted = true;
		v.src = URL.createObjectURL(blob);
		const loaded = await new Promise((r) => { v.onloadedmetadata = () => r(''); v.onerror = () => r('the recording does not load: ' + (v.error && v.error.message)); });
		if (loaded) return { Error: loaded, Elapsed: elapsed, Bytes: btoa(s) };
		const d = v.duration;
		v.currentTime = d / 2;
		await new Promise((r) => { v.onseeked = r; });
		return { Duration: d, Seeked: v.currentTime, Elapsed: elapsed, Bytes: btoa(s) };
	})()`)
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("recording report: %v", err)
	}
	if got.Error != "" {
		file, _ := base64.StdEncoding.DecodeString(got.Bytes)
		path := filepath.Join(t.TempDir(), "recording.webm")
		if shotDir != "" {
			path = filepath.Join(shotDir, "recording-failed.webm")
		}
		_ = os.WriteFile(path, file, 0o644)
		t.Fatalf("%s (%d bytes, kept in %s; structure: %v)", got.Error, len(file), path, checkWebM(file, 0))
	}
	t.Logf("recording: %.2f s long in the player, %.2f s recorded, seeked to %.2f s", got.Duration, got.Elapsed, got.Seeked)
	if math.IsInf(got.Duration, 0) || math.IsNaN(got.Duration) || got.Duration < 2 || got.Duration > got.Elapsed+2 {
		t.Errorf("the player says the recording lasts %v s (recorded %.1f s)", got.Duration, got.Elapsed)
	}
	if math.Abs(got.Seeked-got.Duration/2) > 1 {
		t.Errorf("seeking to %.2f s landed at %.2f s", got.Duration/2, got.Seeked)
	}
	file, err := base64.StdEncoding.DecodeString(got.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkWebM(file, got.Duration); err != nil {
		t.Errorf("recording WebM: %v", err)
	}
}

// ebml is one element: ID, data offsets, and size-known flag.
type ebml struct {
	id          uint64
	start, data int
	end         int
	unknown     bool
}

func vint(b []byte, off int, keepMarker bool) (v uint64, n int, allOnes bool, err error) {
	if off >= len(b) {
		return 0, 0, false, fmt.Errorf("vint past the end at %d", off)
	}
	first := b[off]
	for n = 1; n <= 8 && first&(0x80>>(n-1)) == 0; n++ {
	}
	if n > 8 || off+n > len(b) {
		return 0, 0, false, fmt.Errorf("bad vint at %d", off)
	}
	v = uint64(first)
	if !keepMarker {
		v &= 0xff >> n
	}
	allOnes = v == 0xff>>n
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[off+i])
		if b[off+i] != 0xff {
			allOnes = false
		}
	}
	return v, n, allOnes, nil
}

func readElement(b []byte, off int) (ebml, error) {
	id, n, _, err := vint(b, off, true)
	if err != nil {
		return ebml{}, err
	}
	size, m, unknown, err := vint(b, off+n, false)
	if err != nil {
		return ebml{}, err
	}
	e := ebml{id: id, start: off, data: off + n + m, unknown: unknown}
	e.end = e.data + int(size)
	if unknown || e.end > len(b) {
		return e, fmt.Errorf("element %x at %d: size unknown or past the end", id, off)
	}
	return e, nil
}

func readChildren(b []byte, e ebml) ([]ebml, error) {
	var out []ebml
	for off := e.data; off < e.end; {
		c, err := readElement(b, off)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		off = c.end
	}
	return out, nil
}

func uintOf(b []byte, e ebml) uint64 {
	var v uint64
	for _, x := range b[e.data:e.end] {
		v = v<<8 | uint64(x)
	}
	return v
}

// checkWebM: every element has a known size; the Segment holds a SeekHead
// naming Cues, an Info with Duration near durationS, and Cues whose
// positions land on Clusters.
func checkWebM(b []byte, durationS float64) error {
	head, err := readElement(b, 0)
	if err != nil || head.id != 0x1a45dfa3 {
		return fmt.Errorf("no EBML header: %v", err)
	}
	seg, err := readElement(b, head.end)
	if err != nil || seg.id != 0x18538067 {
		return fmt.Errorf("no Segment of known size: %v", err)
	}
	if seg.end != len(b) {
		return fmt.Errorf("Segment ends at %d of %d bytes", seg.end, len(b))
	}
	kids, err := readChildren(b, seg)
	if err != nil {
		return err
	}
	byID := map[uint64][]ebml{}
	for _, k := range kids {
		byID[k.id] = append(byID[k.id], k)
	}
	if len(byID[0x1f43b675]) == 0 || len(byID[0x1c53bb6b]) != 1 || len(byID[0x1549a966]) != 1 {
		return fmt.Errorf("want Clusters, one Cues and one Info; have %d, %d, %d", len(byID[0x1f43b675]), len(byID[0x1c53bb6b]), len(byID[0x1549a966]))
	}
	scale := uint64(1_000_000)
	duration := -1.0
	info, _ := readChildren(b, byID[0x1549a966][0])
	for _, c := range info {
		switch c.id {
		case 0x2ad7b1:
			scale = uintOf(b, c)
		case 0x4489:
			if c.end-c.data == 8 {
				duration = math.Float64frombits(binary.BigEndian.Uint64(b[c.data:c.end]))
			}
		}
	}
	if got := duration * float64(scale) / 1e9; duration < 0 || math.Abs(got-durationS) > 0.5 {
		return fmt.Errorf("Info Duration %v ticks of %d ns (%.2f s), the player says %.2f s", duration, scale, got, durationS)
	}
	points, err := readChildren(b, byID[0x1c53bb6b][0])
	if err != nil || len(points) == 0 {
		return fmt.Errorf("no CuePoint: %v", err)
	}
	for _, cp := range points {
		pos := -1
		tp, _ := readChildren(b, cp)
		for _, x := range tp {
			if x.id == 0xb7 {
				ps, _ := readChildren(b, x)
				for _, y := range ps {
					if y.id == 0xf1 {
						pos = int(uintOf(b, y))
					}
				}
			}
		}
		if c, err := readElement(b, seg.data+pos); pos < 0 || err != nil || c.id != 0x1f43b675 {
			return fmt.Errorf("a CuePoint's cluster position %d is not a Cluster", pos)
		}
	}
	sh, err := readChildren(b, byID[0x114d9b74][0])
	if err != nil || len(sh) < 3 {
		return fmt.Errorf("SeekHead: %d entries, %v", len(sh), err)
	}
	return nil
}
