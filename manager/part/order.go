package part

import (
	"fmt"
	"slices"
	"strings"
)

// Order returns parts so that every part comes after the parts its After
// names: the order of create and start (stop and destroy walk it
// backwards). Parts that do not depend on each other keep the order they
// were given in, so the order is stable from one daemon start to the
// next. A name After gives that no part has, two parts of one name, or a
// cycle is an error: the daemon refuses to start rather than run steps in
// an order nobody checked.
func Order(parts []Part) ([]Part, error) {
	byName := make(map[string]int, len(parts))
	for i, p := range parts {
		if _, dup := byName[p.Name()]; dup {
			return nil, fmt.Errorf("order zone parts: two parts are named %q", p.Name())
		}
		byName[p.Name()] = i
	}
	for _, p := range parts {
		for _, dep := range p.After() {
			if _, ok := byName[dep]; !ok {
				return nil, fmt.Errorf("order zone parts: part %q runs after %q, which no part is", p.Name(), dep)
			}
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	mark := make([]int, len(parts))
	out := make([]Part, 0, len(parts))
	var path []string
	var visit func(i int) error
	visit = func(i int) error {
		switch mark[i] {
		case done:
			return nil
		case visiting:
			cycle := append(slices.Clone(path[slices.Index(path, parts[i].Name()):]), parts[i].Name())
			return fmt.Errorf("order zone parts: they wait for each other: %s", strings.Join(cycle, " → "))
		}
		mark[i] = visiting
		path = append(path, parts[i].Name())
		for _, dep := range parts[i].After() {
			if err := visit(byName[dep]); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		mark[i] = done
		out = append(out, parts[i])
		return nil
	}
	for i := range parts {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}
