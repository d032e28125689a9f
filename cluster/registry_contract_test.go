package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/streamsync/streamsync/internal/registrytest"
	"github.com/streamsync/streamsync/signaling"
)

// TestRegistryContract: three cluster nodes on one NATS keep the contract
// signaling.MemoryRegistry keeps on one (internal/registrytest).
func TestRegistryContract(t *testing.T) {
	registrytest.Run(t, func(t *testing.T, o registrytest.Options) []signaling.Registry {
		ns := startNATS(t)
		_, cc := testConfigs(ns.url())
		var out []signaling.Registry
		for i := range 3 {
			cc.NodeID = fmt.Sprint("n", i+1)
			reg, err := New(cc, Options{Logger: testLogger(), MaxRooms: o.MaxRooms, MaxPeers: o.MaxPeers, EmptyRoomTTL: o.EmptyRoomTTL, ResumeGrace: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = reg.Close() })
			waitUntil(t, cc.NodeID+" loaded", func() bool { return reg.Status().Loaded })
			out = append(out, reg)
		}
		return out
	})
}
