// Package netnsdo runs a function on a thread inside a network namespace,
// so that sockets it makes live there. Tests use it to send from inside a
// zone or a namespace standing in for another host.
package netnsdo

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on a locked thread that has entered the network namespace at
// path (/proc/PID/ns/net, /run/netns/NAME) and returns the thread to its
// own namespace after. A socket fn makes stays in the namespace.
func Do(path string, fn func()) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("own network namespace: %w", err)
	}
	defer orig.Close()
	h, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	defer func() {
		// A thread left in another namespace would serve other
		// goroutines there: better to crash.
		if err := netns.Set(orig); err != nil {
			panic(err)
		}
	}()
	fn()
	return nil
}
