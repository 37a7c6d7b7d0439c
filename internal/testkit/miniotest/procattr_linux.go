package miniotest

import "syscall"

// procAttr kills the server with the test binary, should that die before
// Main stops it (a -timeout panic, kill -9).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
