// Go middle tier of a call chain (tests/integration/test_go_probes.sh): an
// HTTP/1.1 server on net/http that calls a downstream service for each
// request, the way Go services do: through a shared http.Client.
//
// Build (standard library only, no module): go build -o go_mid go_mid.go
// Usage: go_mid ADDR PORT LEAF_ADDR LEAF_PORT MODE
//
// MODE says where the downstream call is made (a path /inline/...,
// /goroutine/... or /parallel/... picks the mode per request instead):
//
//	inline     on the handler's goroutine
//	goroutine  on a goroutine the handler spawns (and waits for)
//	parallel   two calls at once, each on its own spawned goroutine
//
// Each downstream call is GET LEAF/PATH?QUERY with the incoming request's
// path and query (spans.py check-chain --attribution tells true parents by
// them). Every
// request is answered 200 with the leaf's body once its calls are done, 502
// if one failed (never retried: one request in, exactly one or two requests
// out). No header of the incoming request is passed on: any trace context on
// the outgoing requests is tracewire's.
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

var (
	leafURL string
	client  = &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     60 * time.Second,
			DisableCompression:  true,
		},
	}
	defaultMode string
)

func callLeaf(path string) (string, error) {
	resp, err := client.Get(leafURL + strings.TrimPrefix(path, "/"))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("leaf answered %d", resp.StatusCode)
	}
	return string(body), nil
}

func modeOf(path string) string {
	for _, m := range []string{"inline", "goroutine", "parallel"} {
		if path == "/"+m || strings.HasPrefix(path, "/"+m+"/") {
			return m
		}
	}
	return defaultMode
}

func handle(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	var body string
	var err error
	switch modeOf(r.URL.Path) {
	case "inline":
		body, err = callLeaf(r.URL.RequestURI())
	case "goroutine":
		done := make(chan struct{})
		go func() {
			body, err = callLeaf(r.URL.RequestURI())
			close(done)
		}()
		<-done
	case "parallel":
		var wg sync.WaitGroup
		var bodies [2]string
		var errs [2]error
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				bodies[i], errs[i] = callLeaf(r.URL.RequestURI())
			}(i)
		}
		wg.Wait()
		body = bodies[0] + bodies[1]
		if errs[0] != nil {
			err = errs[0]
		} else {
			err = errs[1]
		}
	}
	if err != nil {
		w.WriteHeader(502)
		fmt.Fprintf(w, "leaf call failed: %v\n", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	io.WriteString(w, body)
}

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: go_mid ADDR PORT LEAF_ADDR LEAF_PORT inline|goroutine|parallel")
		os.Exit(2)
	}
	defaultMode = os.Args[5]
	if modeOf("/"+defaultMode) != defaultMode {
		fmt.Fprintln(os.Stderr, "go_mid: MODE must be inline, goroutine or parallel")
		os.Exit(2)
	}
	leafURL = "http://" + net.JoinHostPort(os.Args[3], os.Args[4]) + "/"
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Args[1], os.Args[2]))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("go_mid listening on %s port %s, leaf %s, mode %s\n", os.Args[1], os.Args[2],
		leafURL, defaultMode)
	srv := &http.Server{Handler: http.HandlerFunc(handle), IdleTimeout: 60 * time.Second}
	log.Fatal(srv.Serve(ln))
}
