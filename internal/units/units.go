// Package units turns the sizes, CPU shares and rates operators type
// ("512M", "1.5GiB", "150%", "100mbit") into the plain integers of the
// API, and back.
//
// Sizes are always binary: K, M, G, T and P mean powers of 1024, with or
// without an "i" and a "B" ("1G" = "1GiB" = "1gb" = 1073741824). Hosting
// plans and the kernel's cgroup files both count in binary units, so a
// decimal reading would only ever surprise.
package units

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/zoned-project/zoned/errdefs"
)

// multipliers maps a size prefix to its power of 1024.
var multipliers = map[byte]int64{
	'k': 1 << 10,
	'm': 1 << 20,
	'g': 1 << 30,
	't': 1 << 40,
	'p': 1 << 50,
}

// ParseBytes reads a size such as "1024", "100k", "512M", "1G" or
// "1.5GiB". Fractions are allowed with a unit and round down to a whole
// byte. The error names the value that could not be read.
func ParseBytes(s string) (int64, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return 0, fmt.Errorf("invalid size %q: empty", s)
	}
	// Split the number from its unit at the first byte that cannot be part
	// of a decimal number.
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	num, unit := v[:i], strings.ToLower(strings.TrimSpace(v[i:]))
	if num == "" || num == "." || strings.Count(num, ".") > 1 {
		return 0, fmt.Errorf("invalid size %q: expected a number such as 512M or 1.5G", s)
	}
	mult, err := unitMultiplier(unit)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	// big.Rat keeps "1.5G" exact where a float64 would round.
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q: expected a number such as 512M or 1.5G", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n.Int64(), nil
}

// unitMultiplier reads the unit part of a size, already lower-cased.
func unitMultiplier(unit string) (int64, error) {
	switch unit {
	case "", "b":
		return 1, nil
	}
	mult, ok := multipliers[unit[0]]
	rest := unit[1:]
	if ok && (rest == "" || rest == "b" || rest == "i" || rest == "ib") {
		return mult, nil
	}
	return 0, fmt.Errorf("unknown unit %q (use K, M, G, T or P, optionally with i/B)", unit)
}

// FormatBytes writes a size in the largest binary unit that keeps it at or
// above 1, with at most one decimal: 1536 -> "1.5KiB", 536870912 -> "512MiB".
func FormatBytes(n int64) string {
	if n < 0 {
		return "-" + FormatBytes(-n)
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	u := -1
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	// Round first, so that 1023.96KiB prints as "1024KiB" rather than
	// promoting halfway; either reads fine, and this one is exact.
	v = math.Round(v*10) / 10
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + units[u]
}

// ParseCPULimit reads a CPU cap as a percent of one CPU: "150%" or "1.5"
// (CPUs) both give 150. The result must be a whole, positive-or-zero
// percent, because 0 means "no limit" in the API and a cap that rounds to
// 0 would silently lift the limit.
func ParseCPULimit(s string) (int64, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return 0, fmt.Errorf("invalid CPU limit %q: empty", s)
	}
	scale := int64(100) // a bare number counts CPUs
	if strings.HasSuffix(v, "%") {
		v = strings.TrimSpace(strings.TrimSuffix(v, "%"))
		scale = 1
	}
	if v == "" || strings.ContainsAny(v, "+-eE") {
		return 0, fmt.Errorf("invalid CPU limit %q: expected a percent such as 150%% or a CPU count such as 1.5", s)
	}
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return 0, fmt.Errorf("invalid CPU limit %q: expected a percent such as 150%% or a CPU count such as 1.5", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(scale))
	if !r.IsInt() {
		return 0, fmt.Errorf("invalid CPU limit %q: must be a whole percent", s)
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() > math.MaxInt32 {
		return 0, fmt.Errorf("invalid CPU limit %q: too large", s)
	}
	return n.Int64(), nil
}

// ParseRate reads a rate in bits per second: "100mbit", "1gbit", "500kbit",
// "10mbps" (bits, not bytes: tc's "bps" means bytes, which surprises
// everyone, so zoned accepts only bit units) or a plain number of bits/s.
// Units are decimal, as link speeds are.
func ParseRate(s string) (int64, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	num, unit := v[:i], v[i:]
	mult, ok := map[string]int64{"": 1, "bit": 1, "kbit": 1e3, "k": 1e3, "mbit": 1e6, "m": 1e6, "gbit": 1e9, "g": 1e9, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9}[unit]
	r, rok := new(big.Rat).SetString(num)
	if num == "" || !ok || !rok {
		return 0, fmt.Errorf("invalid rate %q: expected bits per second like 100mbit, 1gbit or 50000000: %w", s, errdefs.ErrInvalid)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	bits := new(big.Int).Quo(r.Num(), r.Denom())
	if !bits.IsInt64() || bits.Int64() < 8000 || bits.Int64() > 1e12 {
		return 0, fmt.Errorf("invalid rate %q: must be between 8kbit and 1000gbit: %w", s, errdefs.ErrInvalid)
	}
	return bits.Int64(), nil
}

// FormatRate writes bits/s the way ParseRate reads them.
func FormatRate(bps int64) string {
	switch {
	case bps == 0:
		return ""
	case bps%1e9 == 0:
		return strconv.FormatInt(bps/1e9, 10) + "gbit"
	case bps%1e6 == 0:
		return strconv.FormatInt(bps/1e6, 10) + "mbit"
	case bps%1e3 == 0:
		return strconv.FormatInt(bps/1e3, 10) + "kbit"
	}
	return strconv.FormatInt(bps, 10) + "bit"
}
