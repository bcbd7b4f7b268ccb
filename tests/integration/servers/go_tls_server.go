// Go HTTPS server on crypto/tls and net/http (tests/integration/test_go_tls.sh):
// HTTP/1.1 only (no h2 over ALPN), keep-alive.
//
// Build (standard library only, no module): go build -o go_tls_server go_tls_server.go
// Usage: go_tls_server ADDR PORT CERT KEY
//
// Every request is answered 200 with "tls ok PATH\n" (Content-Length).
package main

import (
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go_tls_server ADDR PORT CERT KEY")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body := "tls ok " + r.URL.Path + "\n"
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write([]byte(body))
	})
	srv := &http.Server{
		Addr:    net.JoinHostPort(os.Args[1], os.Args[2]),
		Handler: mux,
		// a non-nil empty map: no HTTP/2 (tracewire reads HTTP/1.x)
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	log.Fatal(srv.ListenAndServeTLS(os.Args[3], os.Args[4]))
}
