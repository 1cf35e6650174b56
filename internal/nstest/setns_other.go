//go:build !linux

package nstest

import (
	"errors"
	"os"
)

var errNotLinux = errors.New("network namespaces need Linux")

func setNetNS(*os.File) error { return errNotLinux }

func openNetNS(string) (*os.File, error) { return nil, errNotLinux }
