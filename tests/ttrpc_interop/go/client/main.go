// The Go peer's client for the ttRPC interop tests and benchmarks: containerd's Go ttrpc
// (Debian's 1.1.1) calling ttrpc.interop.Echo (src/libs/ttrpc/interop/echo.proto).
//
//	client --socket PATH --test NAME
//	client --socket PATH --test bench --concurrency N --payload BYTES --seconds S
//
// Runs one test case over ONE connection and prints "PASS NAME ..." (exit 0) or
// "FAIL NAME: reason" (exit 1). peer_dies and hang print "started" first, once the call is on
// the wire. bench prints one JSON line {"calls", "calls_per_sec", "p50_us", "p99_us"}.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"katacpp/ttrpcinterop/echo"
)

// notifyConn closes `sent` after the first write, i.e. once the first request is on the wire.
type notifyConn struct {
	net.Conn
	once sync.Once
	sent chan struct{}
}

func (c *notifyConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err == nil {
		c.once.Do(func() { close(c.sent) })
	}
	return n, err
}

// timeoutOverride, set on a call's context, replaces the timeout_nano the client would send
// (derived from the context's deadline): it lets a test give the server a shorter deadline
// than the client's own, to see the server enforce it.
type timeoutOverride struct{}

func overrideTimeout(ctx context.Context, req *ttrpc.Request, resp *ttrpc.Response, _ *ttrpc.UnaryClientInfo, invoker ttrpc.Invoker) error {
	if v, ok := ctx.Value(timeoutOverride{}).(time.Duration); ok {
		req.TimeoutNano = v.Nanoseconds()
	}
	return invoker(ctx, req, resp)
}

type env struct {
	client *ttrpc.Client
	conn   *notifyConn
	// bench flags
	concurrency int
	payload     int
	seconds     float64
}

func (e *env) echo(ctx context.Context, req *echo.EchoRequest) (*echo.EchoResponse, error) {
	var resp echo.EchoResponse
	if err := e.client.Call(ctx, echo.Service, "Echo", req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// codeOf is the status code of a call's error; local context errors count as theirs.
func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

func fromServer(err error) bool { _, ok := status.FromError(err); return ok }

func timeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// unaryCheck is the `unary` case: payload and metadata come back; no deadline, so the server
// saw timeout_nano 0.
func unaryCheck(e *env) (string, error) {
	ctx := ttrpc.WithMetadata(context.Background(), ttrpc.MD{"k1": {"v1"}, "k2": {"v2"}})
	resp, err := e.echo(ctx, &echo.EchoRequest{Payload: []byte("hello")})
	if err != nil {
		return "", fmt.Errorf("Echo: %v (code %v)", err, codeOf(err))
	}
	if string(resp.Payload) != "hello" {
		return "", fmt.Errorf("payload %q, want \"hello\"", resp.Payload)
	}
	if strings.Join(resp.Metadata, ",") != "k1=v1,k2=v2" {
		return "", fmt.Errorf("metadata %q, want [\"k1=v1\" \"k2=v2\"]", resp.Metadata)
	}
	if resp.TimeoutNano != 0 {
		return "", fmt.Errorf("server saw timeout_nano %d for a call without deadline, want 0", resp.TimeoutNano)
	}
	return "payload and metadata echoed", nil
}

func testConcurrent(e *env) (string, error) {
	const n = 1000
	ctx, cancel := timeout(60 * time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			want := fmt.Sprintf("call-%d", i)
			resp, err := e.echo(ctx, &echo.EchoRequest{Payload: []byte(want)})
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("call %d: %v (code %v)", i, err, codeOf(err))
			case string(resp.Payload) != want:
				errs[i] = fmt.Errorf("call %d: answer %q, want %q", i, resp.Payload, want)
			}
		}(i)
	}
	wg.Wait()
	bad := 0
	var first error
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			bad++
		}
	}
	if bad > 0 {
		return "", fmt.Errorf("%d of %d calls wrong, first: %v", bad, n, first)
	}
	return fmt.Sprintf("%d calls in %s", n, time.Since(start).Round(time.Millisecond)), nil
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}

func testLarge(e *env) (string, error) {
	ctx, cancel := timeout(30 * time.Second)
	defer cancel()
	want := pattern(3 << 20)
	resp, err := e.echo(ctx, &echo.EchoRequest{Payload: want})
	if err != nil {
		return "", fmt.Errorf("Echo: %v (code %v)", err, codeOf(err))
	}
	if !bytes.Equal(resp.Payload, want) {
		return "", fmt.Errorf("payload of %d bytes differs from the %d sent", len(resp.Payload), len(want))
	}
	return "3 MiB echoed intact", nil
}

func testOverlimit(e *env) (string, error) {
	ctx, cancel := timeout(30 * time.Second)
	defer cancel()
	_, err := e.echo(ctx, &echo.EchoRequest{Payload: pattern(5 << 20)})
	if err == nil {
		return "", errors.New("a 5 MiB request succeeded, want RESOURCE_EXHAUSTED")
	}
	if c := codeOf(err); c != codes.ResourceExhausted {
		return "", fmt.Errorf("5 MiB request: %v (code %v), want RESOURCE_EXHAUSTED", err, c)
	}
	msg := status.Convert(err).Message()
	if _, err := unaryCheck(e); err != nil {
		return "", fmt.Errorf("after the over-limit call, on the same connection: %v", err)
	}
	return fmt.Sprintf("RESOURCE_EXHAUSTED (%q), then unary ok", msg), nil
}

func testDeadline(e *env) (string, error) {
	// 1. The server's side: the client waits up to 1.5 s but tells the server 200 ms; the
	//    server must answer DEADLINE_EXCEEDED itself, within ~1 s.
	ctx, cancel := timeout(1500 * time.Millisecond)
	ctx = context.WithValue(ctx, timeoutOverride{}, 200*time.Millisecond)
	start := time.Now()
	_, err := e.echo(ctx, &echo.EchoRequest{Payload: []byte("slow"), SleepMs: 2000})
	server := time.Since(start)
	cancel()
	switch {
	case err == nil:
		return "", errors.New("a 2000 ms sleep with a 200 ms timeout_nano succeeded")
	case !fromServer(err):
		return "", fmt.Errorf("server did not enforce timeout_nano=200ms: no answer after %s (%v)", server.Round(time.Millisecond), err)
	case codeOf(err) != codes.DeadlineExceeded:
		return "", fmt.Errorf("server answered %v (%v), want DEADLINE_EXCEEDED", codeOf(err), err)
	case server > time.Second:
		return "", fmt.Errorf("server answered DEADLINE_EXCEEDED only after %s", server.Round(time.Millisecond))
	}

	// 2. The client's side: a 200 ms deadline (sent as timeout_nano too) ends the call.
	ctx, cancel = timeout(200 * time.Millisecond)
	start = time.Now()
	_, err = e.echo(ctx, &echo.EchoRequest{Payload: []byte("slow"), SleepMs: 2000})
	client := time.Since(start)
	cancel()
	switch {
	case err == nil:
		return "", errors.New("a 2000 ms sleep with a 200 ms deadline succeeded")
	case codeOf(err) != codes.DeadlineExceeded:
		return "", fmt.Errorf("200 ms deadline: %v (code %v), want DEADLINE_EXCEEDED", err, codeOf(err))
	case client > time.Second:
		return "", fmt.Errorf("200 ms deadline: DEADLINE_EXCEEDED only after %s", client.Round(time.Millisecond))
	}

	// 3. The connection still works, and the server saw the timeout we sent.
	ctx, cancel = timeout(5 * time.Second)
	defer cancel()
	resp, err := e.echo(ctx, &echo.EchoRequest{Payload: []byte("after")})
	if err != nil {
		return "", fmt.Errorf("a normal call after the deadlines: %v (code %v)", err, codeOf(err))
	}
	if string(resp.Payload) != "after" {
		return "", fmt.Errorf("a normal call after the deadlines answered %q", resp.Payload)
	}
	if resp.TimeoutNano <= 0 || resp.TimeoutNano > int64(5*time.Second) {
		return "", fmt.Errorf("server saw timeout_nano %d for a 5 s deadline, want (0, 5e9]", resp.TimeoutNano)
	}
	return fmt.Sprintf("server-side DEADLINE_EXCEEDED in %s, client-side in %s, then ok (server saw timeout_nano %.3f s)",
		server.Round(time.Millisecond), client.Round(time.Millisecond), float64(resp.TimeoutNano)/1e9), nil
}

func testUnknownMethod(e *env) (string, error) {
	var msgs []string
	for _, target := range [][2]string{{echo.Service, "NoSuchMethod"}, {"no.such.Service", "Echo"}} {
		ctx, cancel := timeout(10 * time.Second)
		var resp echo.EchoResponse
		err := e.client.Call(ctx, target[0], target[1], &echo.EchoRequest{Payload: []byte("x")}, &resp)
		cancel()
		if err == nil {
			return "", fmt.Errorf("%s/%s succeeded, want UNIMPLEMENTED", target[0], target[1])
		}
		if c := codeOf(err); c != codes.Unimplemented {
			return "", fmt.Errorf("%s/%s: %v (code %v), want UNIMPLEMENTED", target[0], target[1], err, c)
		}
		msgs = append(msgs, fmt.Sprintf("%q", status.Convert(err).Message()))
	}
	return "UNIMPLEMENTED: " + strings.Join(msgs, ", "), nil
}

func testErrorStatus(e *env) (string, error) {
	ctx, cancel := timeout(10 * time.Second)
	defer cancel()
	_, err := e.echo(ctx, &echo.EchoRequest{Payload: []byte("x"), FailCode: int32(codes.NotFound), FailMessage: "no such thing"})
	if err == nil {
		return "", errors.New("fail_code=5 succeeded")
	}
	s, ok := status.FromError(err)
	if !ok {
		return "", fmt.Errorf("not a status error: %v", err)
	}
	if s.Code() != codes.NotFound || s.Message() != "no such thing" {
		return "", fmt.Errorf("got code %d %q, want 5 \"no such thing\"", s.Code(), s.Message())
	}
	return "NOT_FOUND \"no such thing\"", nil
}

// startSleeper starts an Echo sleeping 10 s and prints "started" once it is on the wire.
func startSleeper(e *env) (<-chan error, time.Time) {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := timeout(30 * time.Second)
		defer cancel()
		_, err := e.echo(ctx, &echo.EchoRequest{Payload: []byte("sleeper"), SleepMs: 10000})
		done <- err
	}()
	select {
	case <-e.conn.sent:
	case err := <-done:
		done <- err
	}
	fmt.Println("started")
	return done, time.Now()
}

// testPeerDies: the harness kills the server while the call is in flight; the call must fail
// promptly (the harness checks the timing from the kill).
func testPeerDies(e *env) (string, error) {
	done, start := startSleeper(e)
	err := <-done
	elapsed := time.Since(start)
	switch {
	case err == nil:
		return "", errors.New("the call succeeded: the server was not killed")
	case codeOf(err) == codes.DeadlineExceeded:
		return "", fmt.Errorf("no error after the server died, only the call's own deadline: %v", err)
	}
	return fmt.Sprintf("error %s after started: %q (code %v)", elapsed.Round(time.Millisecond), err.Error(), codeOf(err)), nil
}

// testHang: the harness kills this client while the call is in flight.
func testHang(e *env) (string, error) {
	done, _ := startSleeper(e)
	err := <-done
	return "", fmt.Errorf("the call returned (%v) before the harness killed this client", err)
}

// testAsync: 200 calls in flight at once (each sleeping 50 ms on the server), then one that
// ends at its 200 ms deadline. (The C++ client issues them from one thread with its
// asynchronous API; Go has goroutines.)
func testAsync(e *env) (string, error) {
	const n = 200
	ctx, cancel := timeout(20 * time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			want := fmt.Sprintf("async %d", i)
			resp, err := e.echo(ctx, &echo.EchoRequest{Payload: []byte(want), SleepMs: 50})
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("call %d: %v", i, err)
			case string(resp.Payload) != want:
				errs[i] = fmt.Errorf("wrong answer to call %d", i)
			}
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", err
		}
	}
	dctx, dcancel := timeout(200 * time.Millisecond)
	defer dcancel()
	_, err := e.echo(dctx, &echo.EchoRequest{SleepMs: 5000})
	if codeOf(err) != codes.DeadlineExceeded {
		return "", fmt.Errorf("the deadline call ended with %v", err)
	}
	return "", nil
}

func testBench(e *env) (string, error) {
	if e.concurrency < 1 || e.payload < 0 || e.seconds <= 0 {
		return "", errors.New("bench needs --concurrency >= 1, --payload >= 0, --seconds > 0")
	}
	payload := pattern(e.payload)
	lat := make([][]time.Duration, e.concurrency)
	errs := make([]error, e.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(time.Duration(e.seconds * float64(time.Second)))
	for w := 0; w < e.concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			req := &echo.EchoRequest{Payload: payload}
			l := make([]time.Duration, 0, 1<<16)
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				resp, err := e.echo(context.Background(), req)
				if err != nil {
					errs[w] = err
					break
				}
				if len(resp.Payload) != len(payload) {
					errs[w] = fmt.Errorf("answer of %d bytes, want %d", len(resp.Payload), len(payload))
					break
				}
				l = append(l, time.Since(t0))
			}
			lat[w] = l
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return "", fmt.Errorf("a call failed: %v", err)
		}
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return "", errors.New("no call completed")
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p int) float64 {
		i := len(all) * p / 100
		if i >= len(all) {
			i = len(all) - 1
		}
		return float64(all[i].Nanoseconds()) / 1e3
	}
	fmt.Printf("{\"calls\": %d, \"calls_per_sec\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
		len(all), float64(len(all))/elapsed.Seconds(), pct(50), pct(99))
	return "", nil
}

var tests = map[string]func(*env) (string, error){
	"unary":          unaryCheck,
	"concurrent":     testConcurrent,
	"large":          testLarge,
	"overlimit":      testOverlimit,
	"deadline":       testDeadline,
	"unknown_method": testUnknownMethod,
	"error_status":   testErrorStatus,
	"peer_dies":      testPeerDies,
	"hang":           testHang,
	"bench":          testBench,
	"async":          testAsync,
}

func main() {
	socket := flag.String("socket", "", "unix socket path of the server")
	test := flag.String("test", "", "test case to run")
	e := &env{}
	flag.IntVar(&e.concurrency, "concurrency", 1, "bench: callers sharing the connection")
	outstanding := flag.Int("outstanding", 0, "bench: calls in flight at once (Go: that many goroutines, as --concurrency)")
	flag.IntVar(&e.payload, "payload", 64, "bench: payload bytes")
	flag.Float64Var(&e.seconds, "seconds", 5, "bench: duration")
	flag.Parse()
	if *outstanding > 0 {
		e.concurrency = *outstanding
	}
	run, ok := tests[*test]
	if *socket == "" || !ok || flag.NArg() != 0 {
		var names []string
		for n := range tests {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: client --socket PATH --test {%s} [--concurrency N --payload BYTES --seconds S]\n", strings.Join(names, "|"))
		os.Exit(2)
	}

	conn, err := net.Dial("unix", *socket)
	if err != nil {
		fmt.Printf("FAIL %s: connect %s: %v\n", *test, *socket, err)
		os.Exit(1)
	}
	e.conn = &notifyConn{Conn: conn, sent: make(chan struct{})}
	e.client = ttrpc.NewClient(e.conn, ttrpc.WithUnaryClientInterceptor(overrideTimeout))
	defer e.client.Close()

	detail, err := run(e)
	if err != nil {
		fmt.Printf("FAIL %s: %v\n", *test, err)
		os.Exit(1)
	}
	if *test != "bench" {
		fmt.Printf("PASS %s %s\n", *test, detail)
	}
}
