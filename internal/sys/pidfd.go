package sys

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// PeerPidfdSockopt lets tests take PeerPidfd's pidfd_open path on a kernel
// that has SO_PEERPIDFD.
var PeerPidfdSockopt = true

// Pidfd watches a peer process through a pidfd (docs/channels.md §4): it
// becomes readable when the process exits, even if the process left its end
// of the connection socket open in a child.
type Pidfd struct {
	f   *os.File
	pid int
}

// Pid is the process the pidfd refers to.
func (p *Pidfd) Pid() int { return p.pid }

// PeerPidfd returns a pidfd for the process at the other end of c, or nil
// (and no error) where the kernel offers none or the socket's SO_PEERCRED pid
// is not stated, the pid the peer put in its handshake: a process that serves
// a socket another process listened on is not the one to watch. The pidfd is
// SO_PEERPIDFD's (Linux 6.5+, free of pid reuse), else pidfd_open's (5.3+)
// followed by a check that the socket is still open: had the peer died and
// its pid gone to another process, its socket would read end of file.
func PeerPidfd(c *net.UnixConn, cred Cred, stated int) (*Pidfd, error) {
	if cred.Pid <= 0 || cred.Pid != stated {
		return nil, nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, ferr := -1, error(unix.ENOPROTOOPT)
	if PeerPidfdSockopt {
		if err := rc.Control(func(s uintptr) {
			fd, ferr = unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
		}); err != nil {
			return nil, err
		}
	}
	if ferr != nil {
		if !unsupported(ferr) {
			return nil, fmt.Errorf("getsockopt SO_PEERPIDFD: %w", ferr)
		}
		if fd, ferr = unix.PidfdOpen(cred.Pid, 0); ferr != nil {
			if unsupported(ferr) || errors.Is(ferr, unix.ESRCH) {
				return nil, nil // gone already: the socket says so too
			}
			return nil, fmt.Errorf("pidfd_open(%d): %w", cred.Pid, ferr)
		}
		open := false
		if err := rc.Control(func(s uintptr) {
			var b [1]byte
			n, _, rerr := unix.Recvfrom(int(s), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			open = n > 0 || errors.Is(rerr, unix.EAGAIN)
		}); err != nil || !open {
			unix.Close(fd)
			return nil, nil
		}
	}
	unix.CloseOnExec(fd)
	// Non-blocking, so os.NewFile hands it to the runtime's poller and a
	// goroutine can wait on it without a thread of its own.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pidfd of %d: %w", cred.Pid, err)
	}
	return &Pidfd{f: os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", cred.Pid)), pid: cred.Pid}, nil
}

// unsupported: the kernel, or a sandbox's seccomp filter, has no such call
// or option.
func unsupported(err error) bool {
	return errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) ||
		errors.Is(err, unix.EINVAL)
}

// Wait blocks until the process exits (true) or Close is called (false).
func (p *Pidfd) Wait() bool {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return false
	}
	exited := false
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, perr := unix.Poll(fds, 0)
		exited = perr == nil && n > 0
		return exited
	})
	return err == nil && exited
}

// Close releases the pidfd and ends a Wait.
func (p *Pidfd) Close() error { return p.f.Close() }
