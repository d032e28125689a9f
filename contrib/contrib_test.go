// Package contrib_test checks the Grafana dashboard and the Prometheus
// rules under contrib/: promtool accepts the rules and their unit tests
// pass, the dashboard selects its data source and instances through
// variables, and every metric either names exists on a running appliance.
package contrib_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamsync/streamsync/internal/apptest"
)

// TestPromtool: `promtool check rules` accepts alerts.yml and `promtool
// test rules` passes alerts_test.yml, where each alert fires on the
// series it is for and not on its neighbours.
func TestPromtool(t *testing.T) {
	promtool := apptest.Tool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "prometheus/alerts.yml"},
		{"test", "rules", "prometheus/alerts_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, _ := exec.Command(promtool, "check", "rules", "prometheus/alerts.yml").CombinedOutput()
	if !strings.Contains(string(out), "SUCCESS: 8 rules found") {
		t.Errorf("promtool found other rules than the 8 alerts:\n%s", out)
	}
}

// dashboard is the part of a Grafana dashboard model the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("grafana/streamsync.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana/streamsync.json: %v", err)
	}
	return d
}

// TestDashboardVariables: a data source variable of type prometheus,
// every panel and query on it, and every query limited to $job and
// $instance rather than to a named instance.
func TestDashboardVariables(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" {
		t.Error("no uid: a re-import would make a second dashboard")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "datasource" && string(v.Query) != `"prometheus"` {
			t.Errorf("data source variable %s is for %s, want prometheus", v.Name, v.Query)
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %s does not query ${datasource}", v.Name)
		}
	}
	if vars["datasource"] != "datasource" || vars["job"] != "query" || vars["instance"] != "query" {
		t.Fatalf("variables %v, want datasource, job and instance", vars)
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %v, want ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if q.Datasource == nil || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a query not on ${datasource}", p.Title)
			}
			if strings.Count(q.Expr, "{") != strings.Count(q.Expr, `job=~"$job", instance=~"$instance"}`) {
				t.Errorf("panel %q: a selector not limited to $job and $instance: %s", p.Title, q.Expr)
			}
			if regexp.MustCompile(`instance\s*=~?\s*"[^$]`).MatchString(q.Expr) {
				t.Errorf("panel %q names an instance: %s", p.Title, q.Expr)
			}
		}
	}
	if queries < 20 {
		t.Errorf("%d queries; the dashboard lost its panels?", queries)
	}
}

// metricName matches the series names the dashboard and rules use: the
// appliance's own and the Go and process collectors'.
var metricName = regexp.MustCompile(`\b(?:streamsync|process|go)_[a-z0-9_]+\b`)

// namedMetrics are the metric names in the dashboard's queries and
// variables and in the rules' expressions.
func namedMetrics(t *testing.T) []string {
	t.Helper()
	d := readDashboard(t)
	var exprs []string
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range d.Templating.List {
		exprs = append(exprs, string(v.Query))
	}
	exprs = append(exprs, ruleExprs(t)...)
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			seen[name] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ruleExprs are the expr: values of alerts.yml, block scalars included.
func ruleExprs(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exprs []string
	block, indent := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		lead := len(line) - len(trimmed)
		if block {
			if trimmed == "" || lead > indent {
				exprs[len(exprs)-1] += " " + trimmed
				continue
			}
			block = false
		}
		if e, ok := strings.CutPrefix(trimmed, "expr:"); ok {
			e = strings.TrimSpace(e)
			exprs = append(exprs, e)
			block, indent = e == "|", lead
		}
	}
	if len(exprs) != 8 {
		t.Fatalf("read %d rule expressions, want 8", len(exprs))
	}
	return exprs
}

// scrapeNames is every metric name on a /metrics page.
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}
