package sys

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Cred is a Unix socket peer's credentials as the kernel recorded them at
// connect time (SO_PEERCRED): trustworthy, unlike anything the peer says.
type Cred struct {
	Pid int
	UID uint32
	GID uint32
}

// PeerCred returns the credentials of the process at the other end of c.
func PeerCred(c *net.UnixConn) (Cred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var u *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		u, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, err
	}
	if serr != nil {
		return Cred{}, fmt.Errorf("getsockopt SO_PEERCRED: %w", serr)
	}
	return Cred{Pid: int(u.Pid), UID: u.Uid, GID: u.Gid}, nil
}

// RightsOOB returns the ancillary data that passes fd with SCM_RIGHTS.
func RightsOOB(fd int) []byte { return unix.UnixRights(fd) }

// RightsOOBSpace is the ancillary buffer size for receiving n descriptors.
func RightsOOBSpace(n int) int { return unix.CmsgSpace(n * 4) }

// ParseRights returns every descriptor carried by SCM_RIGHTS messages in oob.
// The caller owns (and must close) each of them, even on error: descriptors
// parsed before a malformed message are returned with the error.
func ParseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse ancillary data: %w", err)
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		fds = append(fds, got...)
		if err != nil {
			return fds, fmt.Errorf("parse SCM_RIGHTS: %w", err)
		}
	}
	return fds, nil
}

// Seals the channel contract requires on a connection segment.
const RequiredSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// GetSeals returns a memfd's seals (F_GET_SEALS).
func GetSeals(fd int) (int, error) {
	s, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return 0, fmt.Errorf("fcntl F_GET_SEALS: %w", err)
	}
	return s, nil
}

// Ftruncate resizes the file open on fd (tests use it to check seals).
func Ftruncate(fd int, size int64) error { return unix.Ftruncate(fd, size) }

// EPERM and ECONNREFUSED re-exported for callers that test for them.
var (
	EPERM        = unix.EPERM
	ECONNREFUSED = unix.ECONNREFUSED
)

// IsConnRefused reports whether err is a connect refused (a stale socket file).
func IsConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// Getuid and Getgid return the process's real ids.
func Getuid() int { return unix.Getuid() }

// Getgid returns the process's real group id.
func Getgid() int { return unix.Getgid() }

// Chmod sets path's mode bits.
func Chmod(path string, mode uint32) error { return unix.Chmod(path, mode) }

// IsSocketFile reports whether path exists and is a Unix socket.
func IsSocketFile(path string) (exists, socket bool, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, false, nil
		}
		return false, false, err
	}
	return true, st.Mode&unix.S_IFMT == unix.S_IFSOCK, nil
}

// MsgCtrunc is the recvmsg flag saying ancillary data was truncated.
const MsgCtrunc = unix.MSG_CTRUNC
