package network

import (
	"errors"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

func TestCheckNICRequest(t *testing.T) {
	for _, c := range []struct {
		nic  api.NICRequest
		want string
	}{
		{api.NICRequest{}, "no network"},
		{api.NICRequest{Network: "n", VLAN: 4095}, "outside 1-4094"},
		{api.NICRequest{Network: "n", MAC: "01:00:5e:00:00:01"}, "multicast"},
		{api.NICRequest{Network: "n", Name: "lo"}, "interface name"},
		{api.NICRequest{Network: "n", MTU: 10}, "MTU 10"},
		{api.NICRequest{Network: "n", RateBitsPerSecond: 10}, "rate 10"},
		{api.NICRequest{Network: "n", IPv6: []string{"10.0.0.1/24"}}, "not IPv6"},
	} {
		err := checkNICRequest(c.nic)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%+v: error %v, want one saying %q", c.nic, err, c.want)
		}
	}
	if err := checkNICRequest(api.NICRequest{Network: "n", VLAN: 100, MAC: "02:00:00:00:00:01", IPv6: []string{"fd00::5/64"}}); err != nil {
		t.Errorf("good NIC refused: %v", err)
	}
}
