// The Go peer's server for the ttRPC interop tests and benchmarks: containerd's Go ttrpc
// (Debian's 1.1.1) serving ttrpc.interop.Echo (src/libs/ttrpc/interop/echo.proto).
//
//	server --socket PATH
//
// Listens on the unix socket PATH, prints "ready" once listening, serves until SIGTERM or
// SIGINT, then exits 0. Go ttrpc 1.1.1 has no streaming, so only Echo is registered
// (ServerStream/ClientStream answer UNIMPLEMENTED here).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"katacpp/ttrpcinterop/echo"
)

// handleEcho gives Echo the meaning echo.proto defines: wait sleep_ms (ending early if the
// call's deadline passes or it is cancelled), fail with fail_code/fail_message if set, else
// answer the payload, the metadata as sorted "key=value" strings, and the timeout.
//
// Go ttrpc does not hand a method the request's timeout_nano, only a context whose deadline is
// now + timeout_nano; timeout_nano is answered as the time left until that deadline, so it is a
// little below what the client sent (0 when the request carried none).
func handleEcho(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var req echo.EchoRequest
	if err := unmarshal(&req); err != nil {
		return nil, err
	}
	var timeoutNano int64
	if dl, ok := ctx.Deadline(); ok {
		timeoutNano = time.Until(dl).Nanoseconds()
		if timeoutNano <= 0 {
			timeoutNano = 1
		}
	}
	if req.SleepMs > 0 {
		t := time.NewTimer(time.Duration(req.SleepMs) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, status.Errorf(codes.DeadlineExceeded, "deadline exceeded after %s of a %d ms sleep", time.Duration(timeoutNano).Round(time.Millisecond), req.SleepMs)
			}
			return nil, status.Errorf(codes.Canceled, "cancelled during a %d ms sleep", req.SleepMs)
		}
	}
	if req.FailCode != 0 {
		return nil, status.Error(codes.Code(req.FailCode), req.FailMessage)
	}
	resp := &echo.EchoResponse{Payload: req.Payload, TimeoutNano: timeoutNano}
	if md, ok := ttrpc.GetMetadata(ctx); ok {
		for k, values := range md {
			for _, v := range values {
				resp.Metadata = append(resp.Metadata, k+"="+v)
			}
		}
		sort.Strings(resp.Metadata)
	}
	return resp, nil
}

func main() {
	socket := flag.String("socket", "", "unix socket path to listen on")
	flag.Parse()
	if *socket == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: server --socket PATH")
		os.Exit(2)
	}

	srv, err := ttrpc.NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	srv.Register(echo.Service, map[string]ttrpc.Method{"Echo": handleEcho})

	_ = os.Remove(*socket)
	l, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), l) }()
	fmt.Println("ready")

	select {
	case <-sigs:
		srv.Close() // closes the listener (which unlinks the socket) and every connection
		os.Exit(0)
	case err := <-served:
		fmt.Fprintln(os.Stderr, "server: serve:", err)
		os.Exit(1)
	}
}
