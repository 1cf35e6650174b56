// Command benchreport turns the raw measurements that scripts/bench.sh
// collects into bench/results.json and a Markdown table for the README.
//
// The raw directory holds meta.txt (key=value lines about the run),
// scenarios.txt (the scenarios in run order) and, per scenario, an optional
// "error" file (setup failed) and one directory per repetition with
// tcp1.json, tcp4.json and udp64.json (iperf3 -J reports) and ping.txt
// (ping -q output). A measurement that failed leaves NAME.err instead.
//
// Usage:
//
//	benchreport -raw DIR -json bench/results.json -md bench/results.md
//	benchreport -summary FILE   (one line about one iperf3 report or ping output)
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	raw := flag.String("raw", "bench/raw", "directory of raw measurements written by scripts/bench.sh")
	jsonOut := flag.String("json", "bench/results.json", "where to write the JSON results")
	mdOut := flag.String("md", "bench/results.md", "where to write the Markdown table")
	summary := flag.String("summary", "", "print a one-line summary of one iperf3 JSON report or ping output, and exit")
	flag.Parse()

	if *summary != "" {
		line, err := Summary(*summary)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		fmt.Println(line)
		return
	}

	rep, err := Load(*raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	js, err := rep.JSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	md := rep.Markdown()
	for _, f := range []struct {
		path string
		data []byte
	}{{*jsonOut, js}, {*mdOut, []byte(md)}} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
	}
	fmt.Print(md)
}
