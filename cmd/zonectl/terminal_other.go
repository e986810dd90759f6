//go:build !linux

package main

import (
	"context"
	"syscall"
)

// watchResize is a no-op where zoned does not run; zonectl still builds.
func watchResize(int) (<-chan [2]uint16, func()) { return nil, func() {} }

// forwardSignals is a no-op where zoned does not run.
func forwardSignals(context.CancelFunc) (<-chan syscall.Signal, func()) { return nil, func() {} }
