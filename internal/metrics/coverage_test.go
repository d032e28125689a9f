package metrics

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamsync/streamsync/cluster"
	"github.com/streamsync/streamsync/internal/connlimit"
	"github.com/streamsync/streamsync/signaling"
	"github.com/streamsync/streamsync/turnserver"
)

// TestEveryStatReachesAMetric walks every field of the parts' Stats
// structs: changing any one of them alone must change what a scrape
// reports. A counter added to a Stats struct without its series fails here.
func TestEveryStatReachesAMetric(t *testing.T) {
	t.Run("turnserver.Stats", func(t *testing.T) {
		everyField(t, turnserver.Stats{}, nil, func(v any) []string {
			return scrape(t, func(ch chan<- prometheus.Metric) { collectTURN(ch, 0, v.(turnserver.Stats)) })
		})
	})
	t.Run("signaling.Stats", func(t *testing.T) {
		everyField(t, signaling.Stats{}, nil, func(v any) []string {
			return scrape(t, func(ch chan<- prometheus.Metric) { collectSignaling(ch, v.(signaling.Stats)) })
		})
	})
	t.Run("connlimit.Stats", func(t *testing.T) {
		everyField(t, connlimit.Stats{}, nil, func(v any) []string {
			return scrape(t, func(ch chan<- prometheus.Metric) { collectConnLimit(ch, "open", v.(connlimit.Stats)) })
		})
	})
	t.Run("cluster.Status", func(t *testing.T) {
		// Names, addresses and texts are not series (they would be
		// labels without bound); /readyz and streamsync status show them.
		exempt := map[string]string{
			"Node":      "this node's name: a label without bound",
			"Server":    "a NATS URL: a label without bound",
			"LastError": "free text",
			"DownSince": "cluster_connected says whether; the time is in /readyz",
		}
		everyField(t, cluster.Status{}, exempt, func(v any) []string {
			return scrape(t, func(ch chan<- prometheus.Metric) { collectCluster(ch, v.(cluster.Status)) })
		})
	})
}

// everyField sets each field of zero in turn (bools true, numbers 7, maps
// and slices one entry) and fails when collect's answer stays the same.
func everyField(t *testing.T, zero any, exempt map[string]string, collect func(any) []string) {
	t.Helper()
	typ := reflect.TypeOf(zero)
	base := collect(zero)
	for name := range exempt {
		if _, ok := typ.FieldByName(name); !ok {
			t.Errorf("exempt field %s.%s does not exist", typ, name)
		}
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if _, ok := exempt[f.Name]; ok || !f.IsExported() {
			continue
		}
		v := reflect.New(typ).Elem()
		if !setNonZero(v.Field(i)) {
			t.Errorf("%s.%s (%s): no way to vary it; give it a metric or exempt it with a reason", typ, f.Name, f.Type)
			continue
		}
		if got := collect(v.Interface()); slices.Equal(got, base) {
			t.Errorf("%s.%s reaches no metric: the scrape is the same whatever its value", typ, f.Name)
		}
	}
}

func setNonZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		key := reflect.New(v.Type().Key()).Elem()
		elem := reflect.New(v.Type().Elem()).Elem()
		if key.Kind() == reflect.String {
			key.SetString("x") // a label value
		} else if !setNonZero(key) {
			return false
		}
		if !setNonZero(elem) {
			return false
		}
		m.SetMapIndex(key, elem)
		v.Set(m)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	default: // strings, times: never a series' value

		return false
	}
	return true
}

// scrape returns what collect sends, one sorted line per series.
func scrape(t *testing.T, collect func(chan<- prometheus.Metric)) []string {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() { collect(ch); close(ch) }()
	var out []string
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %v", m.Desc(), d.String()))
	}
	slices.Sort(out)
	return out
}
