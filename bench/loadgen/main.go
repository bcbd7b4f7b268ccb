// loadgen: a fixed-rate, open-loop HTTP/1.1 load generator (Go standard
// library only) for tracewire's benchmarks.
//
// Requests are scheduled at fixed times (start + i/RATE), independent of how
// fast the server answers, and handed to CONNS workers that each keep one
// keep-alive connection (reopened after an error or a "Connection: close").
// A request's latency runs from the moment the scheduler queues it (when it
// is due; the scheduler sleeps between requests and queues every request
// that has come due when it wakes, so its own wake-up lag, up to about a
// millisecond in Go's timers, is not counted) to the last byte of its
// response, so time spent waiting for a free connection counts (no
// coordinated omission). When every connection is busy and the queue of
// scheduled requests (QUEUE long) is full, a scheduled request is not sent
// and counts as "overflow": the server could not keep up with RATE.
//
// Usage:
//
//	loadgen -url http://ADDR:PORT/PATH -rate R -duration D [-conns C]
//	        [-warmup W] [-timeout T] [-queue Q]
//
// Output: one line of KEY=VALUE fields on stdout (stable names for scripts):
//
//	rate=R duration_s=D conns=C requests=N ok=N non2xx=N errors=N overflow=N
//	unfinished=N warmup_requests=N connects=N achieved_rps=X
//	p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. mean_us=..
//
// requests: scheduled in the measured phase; ok: answered 2xx; non2xx: other
// statuses; errors: connection or protocol errors and timeouts; overflow: not
// sent (queue full); unfinished: still outstanding when the hard deadline
// (warmup + duration + timeout + 1 s) passed. Latency figures cover the ok
// and non2xx answers of the measured phase. warmup_requests: sent during the
// warmup phase (same rate, not in the figures); connects: connections opened.
// The first error messages go to stderr. Exit status: 0 when the run
// happened (the caller judges errors), 1 when it could not start (bad URL),
// 2 for a bad command line.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type job struct {
	at     time.Time // when the scheduler queued it (its due time, up to the scheduler's wake-up lag)
	warmup bool
}

type result struct {
	lat     []time.Duration
	ok      int64
	non2xx  int64
	errs    int64
	warmups int64
}

var (
	connects   int64
	errShown   int64
	errLimit   int64 = 5
	requestBuf []byte
	target     string
)

func logErr(format string, a ...interface{}) {
	if atomic.AddInt64(&errShown, 1) <= errLimit {
		fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", a...)
	}
}

// conn is one keep-alive client connection.
type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func (k *conn) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
		k.br = nil
	}
}

// do sends one request and reads the whole response: the status code, or an
// error (then the connection is closed).
func (k *conn) do(timeout time.Duration) (int, error) {
	if k.c == nil {
		c, err := net.DialTimeout("tcp", target, timeout)
		if err != nil {
			return 0, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		atomic.AddInt64(&connects, 1)
		k.c = c
		k.br = bufio.NewReaderSize(c, 16384)
	}
	k.c.SetDeadline(time.Now().Add(timeout))
	if _, err := k.c.Write(requestBuf); err != nil {
		k.close()
		return 0, err
	}
	code, keep, err := readResponse(k.br)
	if err != nil {
		k.close()
		return 0, err
	}
	if !keep {
		k.close()
	}
	return code, nil
}

// readResponse reads one HTTP/1.x response to a GET: status line, headers,
// and a body framed by Content-Length or chunked encoding (a body delimited
// by the connection's end is read to EOF). keep tells whether the connection
// may carry another request.
func readResponse(br *bufio.Reader) (code int, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if !strings.HasPrefix(line, "HTTP/1.") || len(line) < 12 {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	code, err = strconv.Atoi(line[9:12])
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	keep = line[7] == '1'
	clen := int64(-1)
	chunked := false
	for {
		h, err := readLine(br)
		if err != nil {
			return 0, false, err
		}
		if h == "" {
			break
		}
		i := strings.IndexByte(h, ':')
		if i <= 0 {
			return 0, false, fmt.Errorf("bad header line %q", h)
		}
		name := strings.ToLower(strings.TrimSpace(h[:i]))
		val := strings.TrimSpace(h[i+1:])
		switch name {
		case "content-length":
			clen, err = strconv.ParseInt(val, 10, 64)
			if err != nil || clen < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %q", val)
			}
		case "transfer-encoding":
			chunked = strings.Contains(strings.ToLower(val), "chunked")
		case "connection":
			v := strings.ToLower(val)
			if strings.Contains(v, "close") {
				keep = false
			} else if strings.Contains(v, "keep-alive") {
				keep = true
			}
		}
	}
	switch {
	case code < 200 && code >= 100, code == 204, code == 304:
		// no body
	case chunked:
		if err := readChunked(br); err != nil {
			return 0, false, err
		}
	case clen >= 0:
		if _, err := io.CopyN(io.Discard, br, clen); err != nil {
			return 0, false, err
		}
	default:
		if _, err := io.Copy(io.Discard, br); err != nil {
			return 0, false, err
		}
		keep = false
	}
	return code, keep, nil
}

func readLine(br *bufio.Reader) (string, error) {
	b, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("header line too long")
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func readChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers up to the empty line
				t, err := readLine(br)
				if err != nil {
					return err
				}
				if t == "" {
					return nil
				}
			}
		}
		if _, err := io.CopyN(io.Discard, br, n+2); err != nil {
			return err
		}
	}
}

func pct(a []time.Duration, p float64) int64 {
	if len(a) == 0 {
		return 0
	}
	i := int(p*float64(len(a)) + 0.5)
	if i < 1 {
		i = 1
	}
	if i > len(a) {
		i = len(a)
	}
	return a[i-1].Microseconds()
}

func main() {
	rawURL := flag.String("url", "", "target URL, http://ADDR:PORT/PATH (IP literal or name)")
	rate := flag.Float64("rate", 0, "requests per second (> 0)")
	dur := flag.Duration("duration", 5*time.Second, "length of the measured phase")
	warm := flag.Duration("warmup", 0, "unmeasured phase at the same rate before it")
	nconns := flag.Int("conns", 16, "keep-alive connections (workers)")
	timeout := flag.Duration("timeout", 5*time.Second, "bound on one request (connect + answer)")
	qlen := flag.Int("queue", 0, "scheduled requests that may wait for a free connection (default: RATE/10, at least 100)")
	flag.Parse()
	if flag.NArg() != 0 || *rawURL == "" || !(*rate > 0) || *dur <= 0 || *warm < 0 ||
		*nconns < 1 || *nconns > 10000 || *timeout <= 0 || *rate > 1e6 {
		fmt.Fprintln(os.Stderr, "usage: loadgen -url http://ADDR:PORT/PATH -rate R -duration D [-conns C] [-warmup W] [-timeout T] [-queue Q]")
		os.Exit(2)
	}
	u, err := url.Parse(*rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fmt.Fprintf(os.Stderr, "loadgen: bad URL %q (http://HOST:PORT/PATH)\n", *rawURL)
		os.Exit(1)
	}
	target = u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.RequestURI()
	requestBuf = []byte("GET " + path + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: tracewire-loadgen\r\nAccept: */*\r\n\r\n")
	q := *qlen
	if q <= 0 {
		q = int(*rate / 10)
		if q < 100 {
			q = 100
		}
	}

	interval := time.Duration(float64(time.Second) / *rate)
	nWarm := int64(warm.Seconds() * *rate)
	nMeas := int64(dur.Seconds() * *rate)
	if nMeas < 1 {
		nMeas = 1
	}
	queue := make(chan job, q)
	results := make([]*result, *nconns)
	var wg sync.WaitGroup
	for w := 0; w < *nconns; w++ {
		r := &result{lat: make([]time.Duration, 0, nMeas/int64(*nconns)*2+16)}
		results[w] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &conn{}
			defer k.close()
			for j := range queue {
				code, err := k.do(*timeout)
				if j.warmup {
					atomic.AddInt64(&r.warmups, 1)
					continue
				}
				if err != nil {
					logErr("%v", err)
					atomic.AddInt64(&r.errs, 1)
					continue
				}
				r.lat = append(r.lat, time.Since(j.at))
				if code >= 200 && code < 300 {
					atomic.AddInt64(&r.ok, 1)
				} else {
					if atomic.LoadInt64(&r.non2xx) == 0 {
						logErr("status %d", code)
					}
					atomic.AddInt64(&r.non2xx, 1)
				}
			}
		}()
	}

	// The scheduler: every request whose time has come is queued, then it
	// sleeps until the next one is due.
	var overflow, scheduled int64
	start := time.Now()
	total := nWarm + nMeas
	for i := int64(0); i < total; {
		now := time.Now()
		for i < total {
			at := start.Add(time.Duration(i) * interval)
			if at.After(now) {
				break
			}
			warmup := i < nWarm
			select {
			case queue <- job{at: now, warmup: warmup}:
			default:
				if !warmup {
					overflow++
				}
			}
			if !warmup {
				scheduled++
			}
			i++
		}
		if i < total {
			next := start.Add(time.Duration(i) * interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
	}
	close(queue)
	measStart := start.Add(time.Duration(nWarm) * interval)

	// Drain, bounded: what is still outstanding after the deadline is
	// "unfinished" (the workers are abandoned; the process exits).
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	finished := true
	select {
	case <-done:
	case <-time.After(*timeout + time.Second):
		finished = false
	}
	end := time.Now()

	var all []time.Duration
	var ok, non2xx, errs, warmups int64
	for _, r := range results {
		ok += atomic.LoadInt64(&r.ok)
		non2xx += atomic.LoadInt64(&r.non2xx)
		errs += atomic.LoadInt64(&r.errs)
		warmups += atomic.LoadInt64(&r.warmups)
		if finished {
			all = append(all, r.lat...)
		}
	}
	unfinished := scheduled - overflow - ok - non2xx - errs
	if unfinished < 0 {
		unfinished = 0
	}
	if !finished {
		// the latency slices may still be appended to: report none
		all = nil
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	mean := int64(0)
	if len(all) > 0 {
		mean = (sum / time.Duration(len(all))).Microseconds()
	}
	elapsed := end.Sub(measStart).Seconds()
	fmt.Printf("rate=%g duration_s=%g conns=%d requests=%d ok=%d non2xx=%d errors=%d overflow=%d "+
		"unfinished=%d warmup_requests=%d connects=%d achieved_rps=%.0f "+
		"p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%d\n",
		*rate, dur.Seconds(), *nconns, scheduled, ok, non2xx, errs, overflow,
		unfinished, warmups, atomic.LoadInt64(&connects), float64(ok+non2xx)/elapsed,
		pct(all, 0.50), pct(all, 0.90), pct(all, 0.99), pct(all, 0.999), pct(all, 1), mean)
}
