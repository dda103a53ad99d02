package cloudsim_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/convergehq/converge/cloudsim"
)

func TestServeShutsDownGracefully(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	s := cloudsim.New(cloudsim.Config{Clock: clk})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 50*time.Millisecond) }()
	base := "http://" + ln.Addr().String()

	res, err := http.Get(base + "/v1/networks")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET: got %d; want 200", res.StatusCode)
	}

	// A hung request must not keep the server from stopping.
	if err := s.SetFaults(cloudsim.Faults{HangRate: 1, HangFor: cloudsim.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	hung := make(chan error, 1)
	go func() {
		res, err := http.Get(base + "/v1/networks")
		if err == nil {
			res.Body.Close()
		}
		hung <- err
	}()
	waitUntil(t, "the request hangs", clk.HasWaiters)
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: got %v; want nil after a graceful stop", err)
	}
	if err := <-hung; err == nil {
		t.Errorf("hung request: got an answer; want its connection closed at shutdown")
	}
}

func TestServeReportsListenerErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := cloudsim.New(cloudsim.Config{}).Serve(context.Background(), ln, time.Second); err == nil {
		t.Errorf("Serve on a closed listener: got nil; want an error")
	}
}
