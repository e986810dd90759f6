//go:build linux

package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/zoned-project/zoned/namespaces"
)

// userNSLimitFlag collects -zone-userns-limit NAME=VALUE flags.
type userNSLimitFlag map[string]int64

func (f userNSLimitFlag) String() string {
	var out []string
	for k, v := range f {
		out = append(out, k+"="+strconv.FormatInt(v, 10))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (f userNSLimitFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %q is not a number", k, v)
	}
	if err := (namespaces.UserNSLimits{k: n}).Validate(); err != nil {
		return err
	}
	f[k] = n
	return nil
}

// limits are the defaults with the flags' values over them.
func (f userNSLimitFlag) limits() namespaces.UserNSLimits {
	l := namespaces.DefaultUserNSLimits()
	for k, v := range f {
		l[k] = v
	}
	return l
}
