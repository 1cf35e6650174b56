//go:build linux && !amd64 && !386

package nstest

import "syscall"

const sysSetns = syscall.SYS_SETNS
