package turnserver

import (
	"reflect"
	"sync/atomic"
	"testing"
)

// TestStatsCopiesEveryCounter gives each counter its own value and finds
// it in the namesake field of Stats; Stats has no field without a counter,
// and a copy does not move with the counters after it was taken.
func TestStatsCopiesEveryCounter(t *testing.T) {
	var c counters
	cv := reflect.ValueOf(&c).Elem()
	for i := range cv.NumField() {
		cv.Field(i).Addr().Interface().(*atomic.Uint64).Store(uint64(1000 + i))
	}
	st := c.snapshot()
	sv := reflect.ValueOf(st)
	if cv.NumField() != sv.NumField() {
		t.Errorf("counters has %d fields, Stats %d", cv.NumField(), sv.NumField())
	}
	for i := range cv.NumField() {
		name := cv.Type().Field(i).Name
		f := sv.FieldByName(name)
		if !f.IsValid() {
			t.Errorf("Stats has no field %s", name)
			continue
		}
		if got := f.Uint(); got != uint64(1000+i) {
			t.Errorf("Stats.%s = %d, want %d", name, got, 1000+i)
		}
	}
	c.AllocationsTotal.Add(1)
	if st.AllocationsTotal != 1000 {
		t.Fatalf("a copy moved with the counter: %d", st.AllocationsTotal)
	}
}
