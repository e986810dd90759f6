package store

import (
	"go/parser"
	"go/token"
	"math/rand"
	"reflect"
	"regexp"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"
)

// TestDiskTypesCarryEveryField fills every field of every record type
// with a value that is not zero and stores and reads it back: a field
// added to a record (or an api type inside one) but not to its disk type
// comes back zero and fails here, instead of vanishing from a host's
// database.
func TestDiskTypesCarryEveryField(t *testing.T) {
	s := openTemp(t)
	rng := rand.New(rand.NewSource(1))
	t.Run("zone", func(t *testing.T) { roundTrip(t, s, zoneKind, rng) })
	t.Run("template", func(t *testing.T) { roundTrip(t, s, templateKind, rng) })
	t.Run("network", func(t *testing.T) { roundTrip(t, s, networkKind, rng) })
	t.Run("port forward", func(t *testing.T) { roundTrip(t, s, portForwardKind, rng) })
	t.Run("operation", func(t *testing.T) { roundTrip(t, s, operationKind, rng) })
	t.Run("pool", func(t *testing.T) { roundTrip(t, s, poolKind, rng) })
	t.Run("snapshot", func(t *testing.T) { roundTrip(t, s, snapshotKind, rng) })
	t.Run("client", func(t *testing.T) { roundTrip(t, s, clientKind, rng) })
	t.Run("token", func(t *testing.T) { roundTrip(t, s, tokenKind, rng) })
}

// roundTrip stores a record of k with every field filled and reads it
// back through the disk type.
func roundTrip[R, D any](t *testing.T, s *Store, k kind[R, D], rng *rand.Rand) {
	in := new(R)
	fill(reflect.ValueOf(in).Elem(), rng)
	if err := s.db.Update(func(tx *bolt.Tx) error { return k.put(tx, "k", in) }); err != nil {
		t.Fatal(err)
	}
	var out *R
	if err := s.db.View(func(tx *bolt.Tx) (err error) { out, err = k.get(tx, "k"); return }); err != nil {
		t.Fatal(err)
	}
	same(t, in, out)
}

func same(t *testing.T, in, out any) {
	t.Helper()
	if zero := zeroFields(reflect.ValueOf(in), "in"); len(zero) > 0 {
		t.Fatalf("fill left %v zero", zero)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("stored\n%+v\nread back\n%+v", in, out)
	}
}

// fill sets every field under v to a random value that is not zero. The
// OCI spec gets a small one: it is stored as the runtime-spec defines it.
func fill(v reflect.Value, rng *rand.Rand) {
	switch {
	case v.Type() == reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(time.Unix(rng.Int63n(1<<32)+1, 0).UTC()))
		return
	case v.Type() == reflect.TypeOf(specs.Spec{}):
		v.Set(reflect.ValueOf(specs.Spec{Version: "1.2.0", Hostname: "h"}))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), rng)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), rng)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fill(v.Index(i), rng)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, rng)
		fill(e, rng)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("s" + string(rune('a'+rng.Intn(26))))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(rng.Int63n(100) + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(rng.Int63n(100) + 1))
	default:
		panic("fill: no value for " + v.Type().String())
	}
}

// TestSchemaTreeIsComplete keeps the tree in doc.go true: every bucket a
// new store has must be drawn there.
func TestSchemaTreeIsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	tree := f.Doc.Text()
	drawn := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*[├└]── (\w+)`).FindAllStringSubmatch(tree, -1) {
		drawn[m[1]] = true
	}
	s := openTemp(t)
	var have []string
	err = s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketRoot)
		if root == nil {
			t.Fatal("no root bucket")
		}
		if !drawn[string(bucketRoot)] && !regexp.MustCompile(`(?m)^\s*`+string(bucketRoot)+`\s`).MatchString(tree) {
			t.Errorf("root bucket %s is not in doc.go's tree", bucketRoot)
		}
		return root.ForEach(func(k, v []byte) error {
			have = append(have, string(k))
			if !drawn[string(k)] {
				kind := "key"
				if v == nil {
					kind = "bucket"
				}
				t.Errorf("%s %q of a new store is not in doc.go's schema tree", kind, k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(have) < len(dataBuckets()) {
		t.Fatalf("a new store has %v, fewer than its %d data buckets", have, len(dataBuckets()))
	}
}
