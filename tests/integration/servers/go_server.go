// Test HTTP/1.1 server on Go's net/http, keep-alive.
//
// Build (no network, no module): see lab_build_go_server in ../lab.sh.
// Usage: go_server ADDR PORT   (ADDR: IPv4 or IPv6 literal)
//
// Routes (any method; a request body is read and its length reported):
//
//	/              200, small body with Content-Length
//	/status/NNN    status NNN (no body for 1xx/204/304)
//	/chunked       chunked body; ?n=CHUNKS (default 4) ?delay_ms=D (default 2)
//	               between chunks; each chunk is its own write (flushed)
//	/big           200, 204800-byte body with Content-Length
//	/slow?ms=N     200 after N ms (at most 60000)
//	/close         closes the connection without any response
//	anything else  404
package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

var big = bytes.Repeat([]byte("0123456789abcdef"), 12800) // 204800 bytes

func qint(r *http.Request, name string, def, lo, hi int) int {
	v, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil {
		return def
	}
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func reply(w http.ResponseWriter, code int, body []byte, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	noBody := code < 200 || code == 204 || code == 304
	if !noBody {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(code)
	if !noBody {
		w.Write(body)
	}
}

func handle(w http.ResponseWriter, r *http.Request) {
	got, _ := io.Copy(io.Discard, r.Body)
	path := r.URL.Path
	switch {
	case path == "/":
		reply(w, 200, []byte(fmt.Sprintf("hello from go (%d body bytes)\n", got)), "text/plain")
	case strings.HasPrefix(path, "/status/"):
		code, err := strconv.Atoi(path[len("/status/"):])
		if err != nil || code < 100 || code > 599 {
			reply(w, 400, []byte("bad status\n"), "text/plain")
			return
		}
		reply(w, code, []byte(fmt.Sprintf("status %d\n", code)), "text/plain")
	case path == "/chunked":
		n := qint(r, "n", 4, 1, 1000)
		delay := time.Duration(qint(r, "delay_ms", 2, 0, 1000)) * time.Millisecond
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(200)
		f, _ := w.(http.Flusher)
		if f != nil {
			f.Flush()
		}
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "chunk %d of %d\n", i, n)
			if f != nil {
				f.Flush()
			}
			if delay > 0 {
				time.Sleep(delay)
			}
		}
	case path == "/big":
		reply(w, 200, big, "application/octet-stream")
	case path == "/slow":
		time.Sleep(time.Duration(qint(r, "ms", 100, 0, 60000)) * time.Millisecond)
		reply(w, 200, []byte("slow\n"), "text/plain")
	case path == "/close":
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		reply(w, 404, []byte("not found\n"), "text/plain")
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_server ADDR PORT")
		os.Exit(2)
	}
	addr := net.JoinHostPort(os.Args[1], os.Args[2])
	network := "tcp4"
	if strings.Contains(os.Args[1], ":") {
		network = "tcp6"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("go_server listening on %s port %s\n", os.Args[1], os.Args[2])
	srv := &http.Server{Handler: http.HandlerFunc(handle), IdleTimeout: 60 * time.Second}
	log.Fatal(srv.Serve(ln))
}
