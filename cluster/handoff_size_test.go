package cluster

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/registrytest"
	"github.com/streamsync/streamsync/signaling"
)

// TestALargeHandOffFitsNATS: the old node hands over 800 KB queued (within
// send_queue_bytes and resume_queue_bytes, 1 MiB each by default): the
// answer fits in NATS's max_payload (1 MB) and all of it arrives (as
// base64 it did not fit: its Respond failed unseen, the new node took the
// old one for dead and the queue was lost).
func TestALargeHandOffFitsNATS(t *testing.T) {
	big := []byte(`"` + strings.Repeat("x", 8<<10-2) + `"`) // JSON, as the server's messages are
	handOff := func(m signaling.Member) ([][]byte, bool) {
		if _, ok := registrytest.HandOff(m); !ok {
			return nil, false
		}
		var q [][]byte
		for range 100 {
			q = append(q, big)
		}
		return q, true
	}
	n1, n2 := twoRegistries(t, handOff)
	_, _, token := roomOfTwo(t, n1, n2)
	start := time.Now()
	queued, err := n1.Takeover(token, func(string, signaling.Peer) signaling.Member { return &registrytest.Recorder{} })
	t.Logf("takeover: err %v, %d queued handed over, after %s", err, len(queued), time.Since(start).Round(time.Millisecond))
	if err != nil || len(queued) != 100 {
		t.Fatalf("want the 100 queued messages (800 KB) handed over")
	}
}

// TestAHandOffPastNATSsPayloadKeepsTheNewest: an answer that cannot fit
// even as JSON drops the oldest queued messages, not all of them.
func TestAHandOffPastNATSsPayloadKeepsTheNewest(t *testing.T) {
	var queued [][]byte
	for i := range 200 {
		queued = append(queued, []byte(fmt.Sprintf(`"%d%s"`, i, strings.Repeat("x", 8<<10))))
	}
	var resp handOffResp
	resp.setQueued(queued, 1<<20)
	got := resp.queuedMessages()
	b, _ := json.Marshal(resp)
	if len(got) == 0 || len(got) == len(queued) || len(b) > 1<<20 {
		t.Fatalf("kept %d of %d in %d bytes", len(got), len(queued), len(b))
	}
	if want := queued[len(queued)-1]; string(got[len(got)-1]) != string(want) {
		t.Fatal("the newest message was dropped")
	}
}
