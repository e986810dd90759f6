package units

import (
	"errors"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1024", 1024},
		{"0", 0},
		{"100k", 100 << 10},
		{"100K", 100 << 10},
		{"512M", 512 << 20},
		{"512MB", 512 << 20},
		{"512mib", 512 << 20},
		{"1G", 1 << 30},
		{"1Gi", 1 << 30},
		{"1.5GiB", 3 << 29},
		{" 2T ", 2 << 40},
		{"1 G", 1 << 30},
		{"10b", 10},
		{"0.5k", 512},
		{"1.0001k", 1024}, // 1024.1024 rounds down to a whole byte
		{"8P", 8 << 50},
	} {
		got, err := ParseBytes(tc.in)
		if err != nil {
			t.Errorf("ParseBytes(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestParseBytesErrors(t *testing.T) {
	for _, in := range []string{"", "  ", "abc", "12X", "1.2.3G", "-5M", ".", "5Mx", "5KiBB", "9999999P", "1e3"} {
		_, err := ParseBytes(in)
		if err == nil {
			t.Errorf("ParseBytes(%q) succeeded, want error", in)
			continue
		}
		// The operator must see which value was wrong.
		if !strings.Contains(err.Error(), "\""+in+"\"") {
			t.Errorf("ParseBytes(%q) error %q does not name the value", in, err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1536, "1.5KiB"},
		{512 << 20, "512MiB"},
		{3 << 29, "1.5GiB"},
		{1 << 40, "1TiB"},
		{12_900_000, "12.3MiB"},
		{-2048, "-2KiB"},
	} {
		if got := FormatBytes(tc.in); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	for _, n := range []int64{1, 1024, 512 << 20, 3 << 29, 5 << 40} {
		got, err := ParseBytes(FormatBytes(n))
		if err != nil || got != n {
			t.Errorf("ParseBytes(FormatBytes(%d)) = %d, %v", n, got, err)
		}
	}
}

func TestParseCPULimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"150%", 150},
		{"1.5", 150},
		{"2", 200},
		{"0.25", 25},
		{"50 %", 50},
		{"0", 0},
		{"0%", 0},
		{"400%", 400},
	} {
		got, err := ParseCPULimit(tc.in)
		if err != nil {
			t.Errorf("ParseCPULimit(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseCPULimit(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"", "%", "abc", "-1", "1.555", "12.5%", "1e2", "+5", "99999999999"} {
		_, err := ParseCPULimit(in)
		if err == nil {
			t.Errorf("ParseCPULimit(%q) succeeded, want error", in)
			continue
		}
		if !strings.Contains(err.Error(), "\""+in+"\"") {
			t.Errorf("ParseCPULimit(%q) error %q does not name the value", in, err)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"100mbit": 100e6, "1gbit": 1e9, "50000000": 50e6, "1.5mbit": 1.5e6, "10M": 10e6} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
		if back, _ := ParseRate(FormatRate(got)); back != got {
			t.Errorf("FormatRate(%d) = %q does not read back", got, FormatRate(got))
		}
	}
	for _, bad := range []string{"", "fast", "100mb/s", "-5mbit", "1kbit", "2000gbit"} {
		if _, err := ParseRate(bad); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("ParseRate(%q) accepted: %v", bad, err)
		}
	}
}
