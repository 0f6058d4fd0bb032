// promcheck parses Prometheus text (stdin) with Prometheus's own parser (expfmt, Debian's
// golang-github-prometheus-common-dev) and prints the value of each query, one per line:
//
//   promcheck 'kata_shim_threads' 'kata_guest_cpu_time{cpu=total,item=user}' < metrics.txt
//
// A query is a metric name with optional label=value pairs that a sample must carry (others
// may be there too); the first matching sample's value is printed. Exit 1 if the text does
// not parse or a query matches nothing; with no query, prints the number of families.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func matches(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.Label {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func main() {
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "promcheck: not Prometheus text:", err)
		os.Exit(1)
	}
	if len(os.Args) == 1 {
		names := make([]string, 0, len(families))
		for n := range families {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Println(len(names), "families")
		return
	}
	for _, q := range os.Args[1:] {
		name, want := q, map[string]string{}
		if i := strings.Index(q, "{"); i >= 0 && strings.HasSuffix(q, "}") {
			name = q[:i]
			for _, kv := range strings.Split(q[i+1:len(q)-1], ",") {
				if parts := strings.SplitN(kv, "=", 2); len(parts) == 2 {
					want[parts[0]] = parts[1]
				}
			}
		}
		f, ok := families[name]
		found := false
		if ok {
			for _, m := range f.Metric {
				if matches(m, want) {
					fmt.Println(value(m))
					found = true
					break
				}
			}
		}
		if !found {
			fmt.Fprintln(os.Stderr, "promcheck: no sample for", q)
			os.Exit(1)
		}
	}
}
