package registrytest

import (
	"testing"

	"github.com/streamsync/streamsync/signaling"
)

// TestMemoryRegistry: the single-node registry keeps the contract.
func TestMemoryRegistry(t *testing.T) {
	Run(t, func(t *testing.T, o Options) []signaling.Registry {
		r := signaling.NewMemoryRegistry(o.MaxRooms, o.MaxPeers, o.EmptyRoomTTL)
		t.Cleanup(func() { _ = r.Close() })
		return []signaling.Registry{r}
	})
}
