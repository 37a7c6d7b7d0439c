package mariadbtest

import "syscall"

// procAttr kills mariadbd with the test binary, should that die before
// Main stops it (a -timeout panic, kill -9).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
