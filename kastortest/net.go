package kastortest

import (
	"net"
	"strconv"
	"sync"
)

// A broker goes down at the socket level, the way a dead broker looks to a client: its open
// connections are closed and new ones are closed as soon as they are accepted. kfake's RemoveNode
// alone closes only the listener and keeps serving the connections already open (on a broker
// that, once the node is added back, no longer leads anything: a client reusing such a connection
// would be told NOT_LEADER_OR_FOLLOWER forever), so every listener kfake opens is wrapped to track
// its connections.

// listeners tracks the listeners kfake opens, by port.
type listeners struct {
	mu     sync.Mutex
	byPort map[int]*trackedListener
}

func (ls *listeners) listen(network, address string) (net.Listener, error) {
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	tl := &trackedListener{Listener: l, conns: map[*trackedConn]struct{}{}}
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		ls.mu.Lock()
		ls.byPort[a.Port] = tl
		ls.mu.Unlock()
	}
	return tl, nil
}

// setDown takes the listener on addr's port down (closing its connections) or up.
func (ls *listeners) setDown(port int, down bool) {
	ls.mu.Lock()
	tl := ls.byPort[port]
	ls.mu.Unlock()
	if tl != nil {
		tl.setDown(down)
	}
}

type trackedListener struct {
	net.Listener
	mu    sync.Mutex
	down  bool
	conns map[*trackedConn]struct{}
}

func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.down {
			l.mu.Unlock()
			c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, l: l}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

func (l *trackedListener) setDown(down bool) {
	l.mu.Lock()
	l.down = down
	var open []*trackedConn
	if down {
		for c := range l.conns {
			open = append(open, c)
		}
		clear(l.conns)
	}
	l.mu.Unlock()
	for _, c := range open {
		c.Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	l *trackedListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
