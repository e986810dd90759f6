package kfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadSeesNewContentAndRecreatedFiles: a cached descriptor reads
// fresh content each time, and a file replaced at its path is reopened.
func TestReadSeesNewContentAndRecreatedFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer Forget(dir)
	if b, err := Read(p); err != nil || string(b) != "one" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	// /proc/self/stat changes between reads through one descriptor.
	a, err := Read("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read("/proc/self/stat")
	if err != nil || len(a) == 0 || len(b) == 0 {
		t.Fatalf("proc reads: %q %q %v", a, b, err)
	}
	Forget("/proc/self")
	os.Remove(p)
	if _, err := Read(filepath.Join(dir, "missing")); !IsNotExist(err) {
		t.Errorf("Read of a missing file: %v, want not-exist", err)
	}
	Forget(dir)
	if err := os.WriteFile(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(p); err != nil || string(b) != "two" {
		t.Fatalf("Read after recreate = %q, %v", b, err)
	}
	mu.RLock()
	n := len(fds)
	mu.RUnlock()
	Forget(dir)
	mu.RLock()
	defer mu.RUnlock()
	if len(fds) != n-1 {
		t.Errorf("Forget left %d descriptors, want %d", len(fds), n-1)
	}
}
