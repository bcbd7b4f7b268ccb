// A Go program with net/http linked in (so tracewire's Go analysis plans
// probes for it) that replaces itself on demand: on SIGUSR1 it execs the
// program named by its first argument, in the same process (same pid).
// tests/integration/test_binary_opened_once.sh uses it to swap the binary
// behind /proc/PID/exe between tracewire's open and its attach.
//
// Usage: go_exec [PROGRAM]   prints "ready", then waits; without PROGRAM a
// SIGUSR1 is ignored. "go_exec serve ADDR" serves HTTP and "go_exec get
// URL" makes a request (never used by the test: they keep net/http's server
// and client in the binary, which the Go probes need).
package main

import (
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "serve" {
		http.ListenAndServe(os.Args[2], nil)
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "get" {
		if resp, err := http.Get(os.Args[2]); err == nil {
			resp.Body.Close()
		}
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	os.Stdout.WriteString("ready\n")
	for range ch {
		if len(os.Args) > 1 {
			err := syscall.Exec(os.Args[1], []string{os.Args[1]}, os.Environ())
			os.Stdout.WriteString("exec failed: " + err.Error() + "\n")
		}
	}
}
