package part

import (
	"strings"
	"testing"
)

type named struct {
	Base
	name  string
	after []string
}

func (n named) Name() string    { return n.name }
func (n named) After() []string { return n.after }

func names(ps []Part) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Name())
	}
	return strings.Join(s, ",")
}

func TestOrderPutsDependenciesFirst(t *testing.T) {
	got, err := Order([]Part{
		named{name: "view", after: []string{"quota", "resources"}},
		named{name: "labels"},
		named{name: "resources"},
		named{name: "quota"},
		named{name: "network", after: []string{"resources"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Dependencies first; otherwise the order given.
	if want := "quota,resources,view,labels,network"; names(got) != want {
		t.Errorf("order %s, want %s", names(got), want)
	}
}

func TestOrderKeepsGivenOrderWithoutDependencies(t *testing.T) {
	in := []Part{named{name: "b"}, named{name: "a"}, named{name: "c"}}
	got, err := Order(in)
	if err != nil {
		t.Fatal(err)
	}
	if names(got) != "b,a,c" {
		t.Errorf("order %s, want b,a,c", names(got))
	}
}

func TestOrderRefusesBadContracts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []Part
		want  string
	}{
		{"missing", []Part{named{name: "view", after: []string{"quota"}}}, `part "view" runs after "quota", which no part is`},
		{"duplicate", []Part{named{name: "a"}, named{name: "a"}}, `two parts are named "a"`},
		{"cycle", []Part{
			named{name: "a", after: []string{"b"}},
			named{name: "b", after: []string{"c"}},
			named{name: "c", after: []string{"a"}},
		}, "a → b → c → a"},
		{"self", []Part{named{name: "a", after: []string{"a"}}}, "a → a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Order(tc.parts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Order = %s, %v; want an error saying %q", names(got), err, tc.want)
			}
		})
	}
}
