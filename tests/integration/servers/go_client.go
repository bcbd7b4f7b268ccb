// A Go HTTP client with no server span: main sends COUNT GET requests to URL,
// PARALLEL at a time, over a keep-alive http.Client, and prints
// "ok N/COUNT". Each request is the root of its own trace
// (tests/integration/test_go_probes.sh).
//
// Build (standard library only, no module): go build -o go_client go_client.go
// Usage: go_client URL COUNT PARALLEL [DELAY_MS]
// DELAY_MS: wait this long before the first request (so that a tracer that
// looks for new processes now and then has found this one).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 4 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go_client URL COUNT PARALLEL [DELAY_MS]")
		os.Exit(2)
	}
	if len(os.Args) == 5 {
		ms, err := strconv.Atoi(os.Args[4])
		if err != nil || ms < 0 {
			fmt.Fprintln(os.Stderr, "go_client: DELAY_MS is a non-negative integer")
			os.Exit(2)
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	url := os.Args[1]
	count, err1 := strconv.Atoi(os.Args[2])
	par, err2 := strconv.Atoi(os.Args[3])
	if err1 != nil || err2 != nil || count < 1 || par < 1 {
		fmt.Fprintln(os.Stderr, "go_client: COUNT and PARALLEL are positive integers")
		os.Exit(2)
	}
	client := &http.Client{Timeout: 20 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: par}}
	var ok int64
	var next int64 = -1
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) < int64(count) {
				resp, err := client.Get(url)
				if err != nil {
					fmt.Fprintln(os.Stderr, "go_client:", err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					atomic.AddInt64(&ok, 1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("ok %d/%d\n", ok, count)
	if ok != int64(count) {
		os.Exit(1)
	}
}
