// chainsrv: the Go tier of bench/chain.sh's two-hop chain (Go standard
// library only): a net/http server that, for each request, makes one GET to
// the next service with net/http's client and answers 200 with its body; or,
// without -upstream, a trivial leaf that answers every request 200 "ok".
//
// Usage:
//
//	chainsrv -listen ADDR:PORT [-upstream http://HOST:PORT/PATH] [-idle-per-host N]
//
// The client uses a clone of http.DefaultTransport (keep-alive, connection
// pool) with MaxIdleConnsPerHost set to N (default 64). Go's own default is
// 2: with more requests in flight than that, most finished connections are
// closed instead of returned to the pool and new ones opened, so the chain
// would no longer be keep-alive; -idle-per-host 0 keeps Go's default.
// Nothing of the incoming request is passed on (any trace context on the
// outgoing request is tracewire's); an upstream failure or non-200 is a 502.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	listen := flag.String("listen", "", "ADDR:PORT to serve on")
	upstream := flag.String("upstream", "", "URL to GET per request (none: leaf)")
	idle := flag.Int("idle-per-host", 64, "Transport.MaxIdleConnsPerHost (0: Go's default, 2)")
	flag.Parse()
	if *listen == "" || flag.NArg() != 0 || *idle < 0 {
		fmt.Fprintln(os.Stderr, "usage: chainsrv -listen ADDR:PORT [-upstream URL] [-idle-per-host N]")
		os.Exit(2)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if *idle > 0 {
		tr.MaxIdleConnsPerHost = *idle
		if tr.MaxIdleConns < *idle {
			tr.MaxIdleConns = *idle
		}
	}
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	leafBody := []byte("ok\n")

	handler := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if *upstream == "" {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(leafBody)))
			w.Write(leafBody)
			return
		}
		resp, err := client.Get(*upstream)
		if err != nil {
			http.Error(w, "upstream call failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			http.Error(w, fmt.Sprintf("upstream answered %d (%v)", resp.StatusCode, err), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	mode := "leaf"
	if *upstream != "" {
		mode = "upstream " + *upstream
	}
	fmt.Printf("chainsrv listening on %s, %s\n", *listen, mode)
	srv := &http.Server{Handler: http.HandlerFunc(handler), IdleTimeout: 60 * time.Second}
	log.Fatal(srv.Serve(ln))
}
