package netvirt

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

var packetsRE = regexp.MustCompile(`packets (\d+)`)

// spoofDrops is how many frames a port's anti-spoofing rules dropped:
// the tests read it to see the rules at work.
func (o Owner) spoofDrops(hostIf string) (uint64, error) {
	out, err := exec.Command("nft", "list", "counter", "bridge", o.Table(), "spoof_"+hostIf).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("read counter of %s: %w: %s", hostIf, err, out)
	}
	m := packetsRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("read counter of %s: no packets in %q", hostIf, out)
	}
	return strconv.ParseUint(string(m[1]), 10, 64)
}
