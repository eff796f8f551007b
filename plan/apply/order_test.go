package apply

import (
	"reflect"
	"testing"
)

func TestOrderRollsFailoverGroupsOneNodeAtATimePreferredLast(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []string
		groups [][]string
		want   [][]string
	}{
		{"no groups: every node independent", []string{"a", "b"}, nil, [][]string{{"a"}, {"b"}}},
		{"two-node group: standby first",
			[]string{"h2g", "c2g", "f400", "dgx"}, [][]string{{"h2g", "c2g"}},
			[][]string{{"c2g", "h2g"}, {"f400"}, {"dgx"}}},
		{"groups sharing a node form one chain",
			[]string{"a", "b", "c"}, [][]string{{"a", "b"}, {"c", "b"}},
			[][]string{{"b", "a", "c"}}},
		{"three-node group: least preferred first",
			[]string{"n1", "n2", "n3"}, [][]string{{"n1", "n2", "n3"}},
			[][]string{{"n3", "n2", "n1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Order(tt.nodes, tt.groups); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Order = %v, want %v", got, tt.want)
			}
		})
	}
}
