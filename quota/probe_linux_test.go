package quota

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// wantFill checks what a probe says.
func wantFill(t *testing.T, p *Probe, want Fill, what string) {
	t.Helper()
	got, err := p.Fill()
	if err != nil {
		t.Fatalf("%s: probe: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: probe says %d, want %d", what, got, want)
	}
}

// madeProbe makes dir under l with b, to be removed at the test's end, and
// returns a probe of it, which finds it clear.
func madeProbe(t *testing.T, b Backend, dir string, l Limits) *Probe {
	t.Helper()
	if err := b.Make(dir, l); err != nil {
		t.Fatal(err)
	}
	p, err := NewProbe(NewUsageReader(b, dir))
	t.Cleanup(func() {
		if p != nil {
			p.Close()
		}
		_ = b.Remove(dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFill(t, p, Clear, "new quota")
	return p
}

func TestImageProbeSeesFullBytesAndInodes(t *testing.T) {
	b, dir := testImageBackend(t)
	p := madeProbe(t, b, dir, Limits{Bytes: 64 << 20, Inodes: 2000})
	// Writes in 1 MiB chunks stop up to a chunk short of the end: the
	// margin must still call that full.
	if err := fill(filepath.Join(dir, "big"), 100<<20); !isQuotaErr(err) {
		t.Fatalf("writing 100 MiB under a 64 MiB image: %v, want ENOSPC", err)
	}
	wantFill(t, p, Full, "after a refused write")
	if err := os.Remove(filepath.Join(dir, "big")); err != nil {
		t.Fatal(err)
	}
	wantFill(t, p, Clear, "after deleting the file")
	// Out of inodes with space left is full too.
	var err2 error
	for i := 0; err2 == nil && i < 5000; i++ {
		err2 = os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), nil, 0o600)
	}
	if !errors.Is(err2, syscall.ENOSPC) {
		t.Fatalf("creating 5000 files under 2000 inodes: %v", err2)
	}
	wantFill(t, p, Full, "out of inodes")
	// An unmounted image is an error, not the host's free space.
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Fill(); err == nil {
		t.Fatal("probe of an unmounted image succeeded")
	}
}

func TestBtrfsProbeSeesFullQgroup(t *testing.T) {
	mnt := btrfsFS(t)
	b := btrfsBackend{}
	dir := filepath.Join(mnt, "zone")
	p := madeProbe(t, b, dir, Limits{Bytes: 16 << 20})
	if err := fill(filepath.Join(dir, "big"), 40<<20); !isQuotaErr(err) {
		t.Fatalf("writing 40 MiB under a 16 MiB qgroup: %v, want EDQUOT", err)
	}
	// No sync: the refused write committed what it could.
	wantFill(t, p, Full, "after a refused write")
	if err := os.Remove(filepath.Join(dir, "big")); err != nil {
		t.Fatal(err)
	}
	unix.Sync()
	wantFill(t, p, Clear, "after deleting the file")
	// Unlimited reads as clear.
	if err := b.SetLimits(dir, Limits{}, false); err != nil {
		t.Fatal(err)
	}
	wantFill(t, p, Clear, "without a limit")
}

func TestFillMargin(t *testing.T) {
	for _, c := range []struct {
		free, limit int64
		want        Fill
	}{
		{0, 64 << 20, Full},
		{920 << 10, 64 << 20, Full}, // what dd bs=1M leaves on a 64 MiB image
		{3 << 20, 64 << 20, Near},
		{5 << 20, 64 << 20, Clear},
		{200 << 10, 4 << 20, Near}, // a small quota's margin is 1/32
		{100 << 10, 4 << 20, Full},
		{1 << 30, 100 << 30, Clear},
	} {
		if got := fillOf(c.free, c.limit); got != c.want {
			t.Errorf("fillOf(%d, %d) = %d, want %d", c.free, c.limit, got, c.want)
		}
	}
}

// nlattr encodes one netlink attribute.
func nlattr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseWarning(t *testing.T) {
	u32 := func(n uint32) []byte { return binary.NativeEndian.AppendUint32(nil, n) }
	u64 := func(n uint64) []byte { return binary.NativeEndian.AppendUint64(nil, n) }
	msg := []byte{quotaNlCWarning, 1, 0, 0}
	for _, a := range [][]byte{
		nlattr(quotaNlAQtype, u32(prjQuota)), nlattr(quotaNlAExcessID, u64(1234)),
		nlattr(quotaNlAWarning, u32(quotaNlBHardWarn)), nlattr(quotaNlADevMajor, u32(7)),
		nlattr(quotaNlADevMinor, u32(3)), nlattr(quotaNlACausedID, u64(1000)),
	} {
		msg = append(msg, a...)
	}
	w, ok := parseWarning(msg)
	want := Warning{Key: WarningKey{Major: 7, Minor: 3, Type: prjQuota, ID: 1234}, Kind: quotaNlBHardWarn, Caused: 1000}
	if !ok || w != want || !w.Refused() {
		t.Fatalf("parseWarning = %+v, %v; want %+v", w, ok, want)
	}
	for _, bad := range [][]byte{nil, {0, 1, 0, 0}, msg[:4], append([]byte{quotaNlCWarning, 1, 0, 0}, 0xff, 0xff, 1, 0)} {
		if w, ok := parseWarning(bad); ok {
			t.Errorf("parseWarning(%x) = %+v, want nothing", bad, w)
		}
	}
	if (Warning{Kind: 9}).Refused() { // QUOTA_NL_BHARDBELOW
		t.Error("a below-limit warning counts as refused")
	}
}

// TestWatchWarningsSubscribes joins the kernel's quota warning group where
// the kernel has it; the warnings themselves need project quotas (the
// lane's TestProjectQuota*).
func TestWatchWarningsSubscribes(t *testing.T) {
	requireRoot(t)
	w, err := WatchWarnings(func(Warning) {})
	if errors.Is(err, ErrNoWarnings) {
		t.Skipf("kernel without CONFIG_QUOTA_NETLINK_INTERFACE: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { w.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the reader")
	}
	w.Close() // twice is fine
}
