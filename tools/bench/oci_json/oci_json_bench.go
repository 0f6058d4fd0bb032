// oci_json_bench: the Go side of the config.json parse/serialize comparison.
//
// For each FILE it measures, with testing.Benchmark (at least 1 s each), json.Unmarshal of the
// file into runtime-spec's specs.Spec ("parse") and json.Marshal of that Spec back to compact
// JSON ("serialize"), the way containerd and runc read and write bundles.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode:$TMP go build -o oci_json_bench oci_json_bench.go
//	oci_json_bench FILE...
//
// Output: one tab-separated line per file and operation, after a header line starting "#":
//
//	# file  op  ns_per_op  iterations  allocs_per_op  alloc_bytes_per_op  input_bytes  exact
//
// `exact` says whether Go's own round trip (Unmarshal then Marshal) gives back the same JSON
// document (key order aside); runtime-spec's omitempty tags drop, for instance, empty arrays.
// Exit status 1 if a file cannot be read or parsed.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func decodeGeneric(data []byte) (interface{}, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v interface{}
	err := d.Decode(&v)
	return v, err
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oci_json_bench FILE...")
		os.Exit(2)
	}
	fmt.Println("# file\top\tns_per_op\titerations\tallocs_per_op\talloc_bytes_per_op\tinput_bytes\texact")
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "oci_json_bench:", err)
			os.Exit(1)
		}
		var spec specs.Spec
		if err := json.Unmarshal(data, &spec); err != nil {
			fmt.Fprintf(os.Stderr, "oci_json_bench: %s: %v\n", path, err)
			os.Exit(1)
		}
		out, err := json.Marshal(&spec)
		if err != nil {
			fmt.Fprintf(os.Stderr, "oci_json_bench: %s: marshal: %v\n", path, err)
			os.Exit(1)
		}
		in, err1 := decodeGeneric(data)
		back, err2 := decodeGeneric(out)
		exact := err1 == nil && err2 == nil && reflect.DeepEqual(in, back)

		parse := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var s specs.Spec
				if err := json.Unmarshal(data, &s); err != nil {
					b.Fatal(err)
				}
			}
		})
		serialize := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := json.Marshal(&spec); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, r := range []struct {
			op  string
			res testing.BenchmarkResult
		}{{"parse", parse}, {"serialize", serialize}} {
			if r.res.N == 0 {
				fmt.Fprintf(os.Stderr, "oci_json_bench: %s: %s benchmark failed\n", path, r.op)
				os.Exit(1)
			}
			fmt.Printf("%s\t%s\t%.1f\t%d\t%d\t%d\t%d\t%t\n", path, r.op,
				float64(r.res.T.Nanoseconds())/float64(r.res.N), r.res.N,
				r.res.AllocsPerOp(), r.res.AllocedBytesPerOp(), len(data), exact)
		}
	}
}
