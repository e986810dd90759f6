package cgroups

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/kfile"
)

// layout caches where the hierarchies are mounted, so ReadStats does no
// mount table parsing: reading counters of hundreds of zones is then only
// the reads of their control files.
var layout struct {
	once  sync.Once
	mode  string
	bases map[string]string // v1: hierarchy name -> mount point
	err   error
}

func loadLayout() {
	layout.mode = Mode()
	if layout.mode == "v1" {
		_, _, layout.bases, layout.err = v1Hierarchies("/")
	}
}

// ReadStats reads the counters of the group at path without loading it
// (see Load): the fast path for stats of many zones at once. A group that
// does not exist gives ErrNotFound.
func ReadStats(path string) (*Stats, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	layout.once.Do(loadLayout)
	switch layout.mode {
	case "v1":
		if layout.err != nil {
			return nil, layout.err
		}
		dirs := make(map[string]string, len(layout.bases))
		for n, b := range layout.bases {
			dirs[n] = filepath.Join(b, path)
		}
		return notFound(statsV1(path, dirs))
	case "v2":
		return notFound(statsV2(path, filepath.Join(root, path)))
	}
	return nil, fmt.Errorf("stats of cgroup %s: no cgroup hierarchy is mounted at %s: %w", path, root, errdefs.ErrUnsupported)
}

// notFound classifies a group whose files are not there as ErrNotFound.
func notFound(st *Stats, err error) (*Stats, error) {
	if err != nil && kfile.IsNotExist(err) {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	}
	return st, err
}

// blkioStats sums v1's per-device IO counters ("8:0 Read 4096" lines).
// The _recursive files include child groups a zone made; kernels without
// them have only the flat ones.
func blkioStats(dir string, st *Stats) error {
	for _, f := range []struct {
		file        string
		read, write *uint64
	}{
		{"blkio.throttle.io_service_bytes", &st.IOReadBytes, &st.IOWriteBytes},
		{"blkio.throttle.io_serviced", &st.IOReadOps, &st.IOWriteOps},
	} {
		b, err := kfile.Read(filepath.Join(dir, f.file+"_recursive"))
		if kfile.IsNotExist(err) {
			b, err = kfile.Read(filepath.Join(dir, f.file))
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", f.file, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			fl := strings.Fields(line)
			if len(fl) != 3 {
				continue
			}
			n, _ := strconv.ParseUint(fl[2], 10, 64)
			switch fl[1] {
			case "Read":
				*f.read += n
			case "Write":
				*f.write += n
			}
		}
	}
	return nil
}

// ioStatV2 sums io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...").
func ioStatV2(dir string, st *Stats) error {
	b, err := kfile.Read(filepath.Join(dir, "io.stat"))
	if err != nil {
		return fmt.Errorf("read io.stat: %w", err)
	}
	for _, kv := range strings.Fields(string(b)) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "rbytes":
			st.IOReadBytes += n
		case "wbytes":
			st.IOWriteBytes += n
		case "rios":
			st.IOReadOps += n
		case "wios":
			st.IOWriteOps += n
		}
	}
	return nil
}

// ReadUsage reads what a list of zones shows of each running one: memory
// used and its limit, tasks, CPU time; the other fields of the result are
// zero. It reads four files where ReadStats reads a dozen, which is most
// of the cost of listing a thousand running zones.
func ReadUsage(path string) (*Stats, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	layout.once.Do(loadLayout)
	var st Stats
	var err error
	read := func(dst *uint64, dir, file string) {
		if err == nil && dir != "" {
			*dst, err = readUint(dir, file)
		}
	}
	switch layout.mode {
	case "v1":
		if layout.err != nil {
			return nil, layout.err
		}
		dir := func(c cgroup1.Name) string {
			if b, ok := layout.bases[string(c)]; ok {
				return filepath.Join(b, path)
			}
			return ""
		}
		read(&st.MemoryUsage, dir(cgroup1.Memory), "memory.usage_in_bytes")
		read(&st.MemoryLimit, dir(cgroup1.Memory), "memory.limit_in_bytes")
		read(&st.Pids, dir(cgroup1.Pids), "pids.current")
		read(&st.CPUUsageNanos, dir(cgroup1.Cpuacct), "cpuacct.usage")
	case "v2":
		dir := filepath.Join(root, path)
		read(&st.MemoryUsage, dir, "memory.current")
		read(&st.MemoryLimit, dir, "memory.max")
		if v, e := readUint(dir, "pids.current"); e == nil {
			st.Pids = v
		}
		if err == nil {
			var cs map[string]uint64
			if cs, err = readKeyed(dir, "cpu.stat"); err == nil {
				st.CPUUsageNanos = cs["usage_usec"] * 1000
			}
		}
	default:
		return nil, fmt.Errorf("usage of cgroup %s: no cgroup hierarchy is mounted at %s: %w", path, root, errdefs.ErrUnsupported)
	}
	if err != nil {
		return notFound(nil, fmt.Errorf("usage of cgroup %s: %w", path, err))
	}
	return &st, nil
}
