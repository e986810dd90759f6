package namespaces

import (
	"strconv"
	"strings"
	"testing"
)

// The sealed copy is exec'd by descriptor number after exec.Cmd has moved
// ExtraFiles onto fds 3 and up; a low number gets overwritten (an exec with
// seven namespace fds once ran a namespace file and failed with EACCES).
func TestSealedBinaryAboveExtraFiles(t *testing.T) {
	path, err := SealedBinary()
	if err != nil {
		t.Skipf("cannot make a sealed memfd here: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(path, "/proc/self/fd/"))
	if err != nil || n < sealedMinFd {
		t.Fatalf("sealed binary at %q, want a descriptor >= %d", path, sealedMinFd)
	}
}
