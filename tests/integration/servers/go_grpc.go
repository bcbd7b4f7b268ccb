// gRPC (grpc-go, Debian's golang-google-grpc-dev) echo service, middle tier
// and client for tests/integration/test_grpc_chain.sh and bench/grpc.sh. It
// speaks servers/grpc_echo.py's protocol, so either side can be either
// language. No generated code: messages are raw bytes (a codec registered
// as "proto" replaces the protobuf one, so the content-type stays
// application/grpc) and the service is a hand-written grpc.ServiceDesc.
//
// Build (GOPATH mode, offline):
//
//	GO111MODULE=off GOPATH=$PWD/build/gopath:/usr/share/gocode go build -o go_grpc go_grpc.go
//
// Usage:
//
//	go_grpc serve ADDR PORT
//	    service tw.Echo: Unary(req) -> "echo:" + req, the request's x-tw-seq
//	    metadata sent back as header metadata; Stream("N:data") -> N
//	    messages "item-I:" + data
//	go_grpc mid ADDR PORT LEAF
//	    the same service; every call is made again to LEAF (host:port) over
//	    ONE client connection shared by all calls, and LEAF's answer (header
//	    metadata, messages, status) is passed back unchanged
//	go_grpc call TARGET [--channels C] [--unary N] [--stream S] [--items K]
//	                    [--parallel P] [--size BYTES] [--timeout SEC]
//	                    [--pause FILE] [--duration SEC]
//	    C channels (each one TCP connection), on each N unary and S
//	    server-streaming calls (K items each), P in flight at a time. The
//	    first unary call of a channel is made alone before the others (the
//	    warm-up: it opens the connection). Payloads are BYTES pseudo-random
//	    bytes after an HTTP/1-looking prefix (default: the prefix and a tag
//	    only); every answer must be byte-exact within SEC seconds (default
//	    30). With --pause FILE, the channels stay open after the calls, the
//	    client prints "paused" and waits (at most 300 s) until FILE exists,
//	    then makes all calls once more on the same channels. Prints
//	    "channel C round R: unary OK/N stream OK/S" per channel and round,
//	    each failure (at most 5), then "total unary OK/N stream OK/S" and
//	    exits 1 unless every call succeeded. With --duration SEC (load for
//	    bench/grpc.sh): on each channel P callers make unary calls one after
//	    another for SEC seconds (no warm-up, no streams), each answer checked;
//	    prints "load calls N failed F rate R/s" and exits 1 on any failure.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
)

const maxMsg = 64 << 20

var prefix = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// rawCodec passes []byte messages through unchanged.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = append([]byte(nil), data...)
	return nil
}

// echoServer answers itself (leaf == nil) or asks leaf.
type echoServer struct {
	leaf *grpc.ClientConn
}

var streamDesc = grpc.StreamDesc{StreamName: "Stream", ServerStreams: true}

func seqOf(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-tw-seq"); len(v) > 0 {
		return v[0]
	}
	return ""
}

func unaryHandler(srv interface{}, ctx context.Context, dec func(interface{}) error,
	_ grpc.UnaryServerInterceptor) (interface{}, error) {
	s := srv.(*echoServer)
	var req []byte
	if err := dec(&req); err != nil {
		return nil, err
	}
	seq := seqOf(ctx)
	if s.leaf == nil {
		if err := grpc.SendHeader(ctx, metadata.Pairs("x-tw-seq", seq)); err != nil {
			return nil, err
		}
		return append([]byte("echo:"), req...), nil
	}
	var resp []byte
	var hdr metadata.MD
	octx := metadata.AppendToOutgoingContext(ctx, "x-tw-seq", seq)
	if err := s.leaf.Invoke(octx, "/tw.Echo/Unary", &req, &resp, grpc.Header(&hdr)); err != nil {
		return nil, err
	}
	if err := grpc.SendHeader(ctx, hdr); err != nil {
		return nil, err
	}
	return resp, nil
}

func streamHandler(srv interface{}, ss grpc.ServerStream) error {
	s := srv.(*echoServer)
	var req []byte
	if err := ss.RecvMsg(&req); err != nil {
		return err
	}
	if s.leaf == nil {
		i := bytes.IndexByte(req, ':')
		if i < 0 {
			return errors.New("Stream: request is not N:data")
		}
		n, err := strconv.Atoi(string(req[:i]))
		if err != nil {
			return err
		}
		data := req[i+1:]
		for k := 0; k < n; k++ {
			if err := ss.SendMsg(append([]byte(fmt.Sprintf("item-%d:", k)), data...)); err != nil {
				return err
			}
		}
		return nil
	}
	cs, err := s.leaf.NewStream(ss.Context(), &streamDesc, "/tw.Echo/Stream")
	if err != nil {
		return err
	}
	if err := cs.SendMsg(&req); err != nil {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	for {
		var m []byte
		if err := cs.RecvMsg(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := ss.SendMsg(m); err != nil {
			return err
		}
	}
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "tw.Echo",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unaryHandler}},
	Streams: []grpc.StreamDesc{{StreamName: "Stream", Handler: streamHandler,
		ServerStreams: true}},
	Metadata: "tw.proto",
}

func dial(target string) (*grpc.ClientConn, error) {
	return grpc.Dial(target, grpc.WithInsecure(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)))
}

func listen(addr, port string) (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(addr, port))
}

func serve(addr, port, leaf string) error {
	s := &echoServer{}
	if leaf != "" {
		cc, err := dial(leaf)
		if err != nil {
			return err
		}
		s.leaf = cc
	}
	lis, err := listen(addr, port)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
	srv.RegisterService(&serviceDesc, s)
	fmt.Printf("go_grpc listening on %s\n", lis.Addr())
	return srv.Serve(lis)
}

// ---- client ----

type callOpts struct {
	channels, unary, stream, items, parallel, size int
	timeout                                        time.Duration
	pause                                          string
	duration                                       time.Duration
}

func payload(size int, tag string) []byte {
	p := append(append([]byte(nil), prefix...), tag...)
	if size <= len(p) {
		return p
	}
	var seed int64
	for _, c := range []byte(tag) {
		seed = seed*131 + int64(c)
	}
	r := rand.New(rand.NewSource(seed))
	tail := make([]byte, size-len(p))
	r.Read(tail)
	return append(p, tail...)
}

func oneUnary(cc *grpc.ClientConn, o *callOpts, tag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	req := payload(o.size, tag)
	var resp []byte
	var hdr metadata.MD
	ctx = metadata.AppendToOutgoingContext(ctx, "x-tw-seq", tag)
	if err := cc.Invoke(ctx, "/tw.Echo/Unary", &req, &resp, grpc.Header(&hdr)); err != nil {
		return err
	}
	if !bytes.Equal(resp, append([]byte("echo:"), req...)) {
		return fmt.Errorf("answer of %d bytes differs from the %d expected", len(resp), len(req)+5)
	}
	if v := hdr.Get("x-tw-seq"); len(v) != 1 || v[0] != tag {
		return fmt.Errorf("x-tw-seq metadata %q, want %q", v, tag)
	}
	return nil
}

func oneStream(cc *grpc.ClientConn, o *callOpts, tag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	data := payload(o.size, tag)
	req := append([]byte(fmt.Sprintf("%d:", o.items)), data...)
	cs, err := cc.NewStream(ctx, &streamDesc, "/tw.Echo/Stream")
	if err != nil {
		return err
	}
	if err := cs.SendMsg(&req); err != nil {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	for k := 0; ; k++ {
		var m []byte
		err := cs.RecvMsg(&m)
		if err == io.EOF {
			if k != o.items {
				return fmt.Errorf("%d items, want %d", k, o.items)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(m, append([]byte(fmt.Sprintf("item-%d:", k)), data...)) {
			return fmt.Errorf("item %d (%d bytes) differs", k, len(m))
		}
	}
}

type tally struct {
	mu       sync.Mutex
	failures []string
}

func (t *tally) fail(s string) {
	t.mu.Lock()
	t.failures = append(t.failures, s)
	t.mu.Unlock()
}

// round makes one channel's calls; returns the unary and stream successes.
func round(cc *grpc.ClientConn, o *callOpts, c, r int, t *tally) (int, int) {
	type job struct {
		stream bool
		i      int
	}
	var jobs []job
	for i := 0; i < o.unary; i++ {
		jobs = append(jobs, job{false, i})
	}
	for i := 0; i < o.stream; i++ {
		jobs = append(jobs, job{true, i})
	}
	var okU, okS, bad int
	var mu sync.Mutex
	run := func(j job) {
		var err error
		kind := "unary"
		if j.stream {
			kind = "stream"
		}
		tag := fmt.Sprintf("r%d-c%d-%s%d", r, c, kind, j.i)
		if j.stream {
			err = oneStream(cc, o, tag)
		} else {
			err = oneUnary(cc, o, tag)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad++
			t.fail(fmt.Sprintf("channel %d round %d %s %d: %v", c, r, kind, j.i, err))
		} else if j.stream {
			okS++
		} else {
			okU++
		}
	}
	if len(jobs) > 0 && !jobs[0].stream {
		run(jobs[0]) // the warm-up, alone
		jobs = jobs[1:]
	}
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		mu.Lock()
		stop := bad >= 3
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(j job) {
			defer wg.Done()
			run(j)
			<-sem
		}(j)
	}
	wg.Wait()
	fmt.Printf("channel %d round %d: unary %d/%d stream %d/%d\n", c, r, okU, o.unary, okS, o.stream)
	return okU, okS
}

// load: o.parallel callers per channel, unary calls until o.duration is over.
func load(conns []*grpc.ClientConn, o *callOpts, t *tally) (int64, int64, time.Duration) {
	var ok, bad int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	end := t0.Add(o.duration)
	for c, cc := range conns {
		for g := 0; g < o.parallel; g++ {
			wg.Add(1)
			go func(cc *grpc.ClientConn, c, g int) {
				defer wg.Done()
				var n, f int64
				for i := 0; time.Now().Before(end); i++ {
					if err := oneUnary(cc, o, fmt.Sprintf("load-c%d-g%d-%d", c, g, i)); err != nil {
						f++
						t.fail(fmt.Sprintf("channel %d caller %d call %d: %v", c, g, i, err))
					} else {
						n++
					}
				}
				mu.Lock()
				ok += n
				bad += f
				mu.Unlock()
			}(cc, c, g)
		}
	}
	wg.Wait()
	return ok, bad, time.Since(t0)
}

func waitFile(path string) error {
	fmt.Println("paused")
	deadline := time.Now().Add(300 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not appear within 300 s", path)
}

func call(target string, args []string) int {
	fs := flag.NewFlagSet("call", flag.ExitOnError)
	o := &callOpts{}
	fs.IntVar(&o.channels, "channels", 1, "channels")
	fs.IntVar(&o.unary, "unary", 10, "unary calls per channel")
	fs.IntVar(&o.stream, "stream", 2, "streaming calls per channel")
	fs.IntVar(&o.items, "items", 10, "items per streaming call")
	fs.IntVar(&o.parallel, "parallel", 4, "calls in flight")
	fs.IntVar(&o.size, "size", 0, "payload bytes")
	secs := fs.Int("timeout", 30, "seconds per call")
	fs.StringVar(&o.pause, "pause", "", "wait for this file, then call again")
	fs.DurationVar(&o.duration, "duration", 0, "load: unary calls for this long (e.g. 5s)")
	fs.Parse(args)
	o.timeout = time.Duration(*secs) * time.Second
	if o.parallel < 1 {
		o.parallel = 1
	}
	t0 := time.Now()
	conns := make([]*grpc.ClientConn, o.channels)
	for c := range conns {
		cc, err := dial(target)
		if err != nil {
			fmt.Fprintf(os.Stderr, "go_grpc: dial %s: %v\n", target, err)
			return 1
		}
		conns[c] = cc
	}
	if o.duration > 0 {
		t := &tally{}
		ok, bad, d := load(conns, o, t)
		for i, f := range t.failures {
			if i == 5 {
				break
			}
			fmt.Printf("failed: %s\n", f)
		}
		fmt.Printf("load calls %d failed %d rate %.1f/s\n", ok+bad, bad, float64(ok)/d.Seconds())
		if bad > 0 || ok == 0 {
			return 1
		}
		return 0
	}
	rounds := 1
	if o.pause != "" {
		rounds = 2
	}
	t := &tally{}
	var totU, totS int
	for r := 0; r < rounds; r++ {
		if r > 0 {
			if err := waitFile(o.pause); err != nil {
				fmt.Fprintf(os.Stderr, "go_grpc: %v\n", err)
				return 1
			}
		}
		for c, cc := range conns {
			u, s := round(cc, o, c, r, t)
			totU += u
			totS += s
		}
	}
	for _, cc := range conns {
		cc.Close()
	}
	for i, f := range t.failures {
		if i == 5 {
			break
		}
		fmt.Printf("failed: %s\n", f)
	}
	wantU, wantS := o.unary*o.channels*rounds, o.stream*o.channels*rounds
	fmt.Printf("total unary %d/%d stream %d/%d\n", totU, wantU, totS, wantS)
	fmt.Printf("time %.1f s\n", time.Since(t0).Seconds())
	if totU != wantU || totS != wantS {
		return 1
	}
	return 0
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go_grpc serve ADDR PORT | mid ADDR PORT LEAF | call TARGET [options]")
	os.Exit(2)
}

func main() {
	encoding.RegisterCodec(rawCodec{})
	if len(os.Args) < 3 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		if len(os.Args) != 4 {
			usage()
		}
		err = serve(os.Args[2], os.Args[3], "")
	case "mid":
		if len(os.Args) != 5 {
			usage()
		}
		err = serve(os.Args[2], os.Args[3], os.Args[4])
	case "call":
		os.Exit(call(os.Args[2], os.Args[3:]))
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "go_grpc: %v\n", err)
		os.Exit(1)
	}
}
