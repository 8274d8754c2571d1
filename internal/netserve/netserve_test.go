package netserve

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestIPOf(t *testing.T) {
	tests := map[string]struct {
		addr net.Addr
		want netip.Addr
	}{
		"no address is the zero IP":                {nil, netip.Addr{}},
		"a TCP address gives its IP":               {&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 25}, netip.MustParseAddr("192.0.2.7")},
		"an IPv4-mapped address is unmapped":       {&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 25}, netip.MustParseAddr("192.0.2.7")},
		"another kind is parsed from its text":     {&net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 53}, netip.MustParseAddr("2001:db8::1")},
		"an address without a port is the zero IP": {&net.UnixAddr{Name: "/run/x", Net: "unix"}, netip.Addr{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := IPOf(tc.addr); got != tc.want {
				t.Errorf("IPOf(%v) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}

func TestListenersCloseEveryOneAndRefuseLaterOnes(t *testing.T) {
	var s Listeners
	listen := func() net.Listener {
		t.Helper()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	a, b, gone := listen(), listen(), listen()
	if !s.Track(a) || !s.Track(b) || !s.Track(gone) {
		t.Fatal("Track refused a listener before Close")
	}
	s.Untrack(gone)
	s.Close()
	for name, l := range map[string]net.Listener{"a": a, "b": b} {
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("listener %s still accepts after Close: %v", name, err)
		}
	}
	// An untracked listener is not the set's to close.
	c, err := net.Dial("tcp", gone.Addr().String())
	if err != nil {
		t.Fatalf("the untracked listener was closed: %v", err)
	}
	_ = c.Close()
	late := listen()
	if s.Track(late) {
		t.Fatal("Track accepted a listener after Close")
	}
	if _, err := late.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a listener tracked after Close was left open: %v", err)
	}
}
