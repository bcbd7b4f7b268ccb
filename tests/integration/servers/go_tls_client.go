// Go HTTPS client (tests/integration/test_go_tls.sh): sends COUNT GET
// requests to URL one after the other over one keep-alive connection,
// trusting CA (PEM) only, and prints "ok N/COUNT".
//
// Build (standard library only, no module): go build -o go_tls_client go_tls_client.go
// Usage: go_tls_client URL COUNT CA [DELAY_MS]
// DELAY_MS: wait this long before the first request (so that a tracer that
// looks for new processes now and then has found this one).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 4 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go_tls_client URL COUNT CA [DELAY_MS]")
		os.Exit(2)
	}
	count, err := strconv.Atoi(os.Args[2])
	if err != nil || count < 1 {
		fmt.Fprintln(os.Stderr, "bad COUNT")
		os.Exit(2)
	}
	pem, err := os.ReadFile(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fmt.Fprintln(os.Stderr, "no certificate in", os.Args[3])
		os.Exit(1)
	}
	if len(os.Args) == 5 {
		ms, err := strconv.Atoi(os.Args[4])
		if err != nil || ms < 0 {
			fmt.Fprintln(os.Stderr, "bad DELAY_MS")
			os.Exit(2)
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	// A Transport with its own TLSClientConfig speaks HTTP/1.1 (no h2).
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:    &tls.Config{RootCAs: pool},
			DisableCompression: true,
		},
	}
	ok := 0
	for i := 0; i < count; i++ {
		resp, err := client.Get(os.Args[1] + "/" + strconv.Itoa(i))
		if err != nil {
			fmt.Fprintln(os.Stderr, "request", i, err)
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == 200 && resp.ProtoMajor == 1 {
			ok++
		} else {
			fmt.Fprintln(os.Stderr, "request", i, resp.Status, resp.Proto, err)
		}
	}
	fmt.Printf("ok %d/%d\n", ok, count)
	if ok != count {
		os.Exit(1)
	}
}
