package plan

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// entity is one named thing of a spec — a group, a vip, a real server — with
// its scalar attributes in declaration order.
type entity struct {
	title string // "virtual service http / real server dgx"
	attrs []attr
}

type attr struct{ name, value string }

// DiffSpecs describes in words what changes from old to new: "+ vip www
// (address 192.168.3.181/24, interface eth1)", "~ virtual service http /
// real server dgx: weight 1 → 3". Secret digests are never shown.
func DiffSpecs(old, new *spec.Spec) []string {
	if new == nil {
		return nil
	}
	newEnts := flatten(new)
	if old == nil {
		out := []string{"+ spec (new)"}
		for _, e := range newEnts {
			if e.title != "" && !strings.Contains(e.title, " / ") {
				out = append(out, "+ "+e.title+summary(e))
			}
		}
		return out
	}
	oldEnts := flatten(old)
	oldBy := map[string]entity{}
	for _, e := range oldEnts {
		oldBy[e.title] = e
	}
	newBy := map[string]bool{}
	var out []string
	var added []string
	for _, e := range newEnts {
		newBy[e.title] = true
		prev, existed := oldBy[e.title]
		if !existed {
			if !underAny(e.title, added) {
				out = append(out, "+ "+e.title+summary(e))
				added = append(added, e.title)
			}
			continue
		}
		out = append(out, attrChanges(e.title, prev.attrs, e.attrs)...)
	}
	var removed []string
	for _, e := range oldEnts {
		if !newBy[e.title] && !underAny(e.title, removed) {
			out = append(out, "- "+e.title)
			removed = append(removed, e.title)
		}
	}
	return out
}

func underAny(title string, parents []string) bool {
	for _, p := range parents {
		if strings.HasPrefix(title, p+" / ") {
			return true
		}
	}
	return false
}

func attrChanges(title string, old, new []attr) []string {
	oldBy := map[string]string{}
	for _, a := range old {
		oldBy[a.name] = a.value
	}
	seen := map[string]bool{}
	prefix := "~ "
	if title != "" {
		prefix += title + ": "
	}
	var out []string
	for _, a := range new {
		seen[a.name] = true
		prev, ok := oldBy[a.name]
		switch {
		case ok && prev == a.value:
		case a.name == "digest":
			out = append(out, prefix+"content changed")
		case !ok:
			out = append(out, prefix+a.name+" "+a.value)
		default:
			out = append(out, fmt.Sprintf("%s%s %s → %s", prefix, a.name, prev, a.value))
		}
	}
	for _, a := range old {
		if !seen[a.name] {
			out = append(out, prefix+a.name+" removed")
		}
	}
	return out
}

func summary(e entity) string {
	var parts []string
	for _, a := range e.attrs {
		if a.name != "digest" {
			parts = append(parts, a.name+" "+a.value)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// flatten lists the entities of a spec, parents before children.
func flatten(s *spec.Spec) []entity {
	var out []entity
	walk(reflect.ValueOf(s).Elem(), "", &out)
	return out
}

func walk(v reflect.Value, title string, out *[]entity) {
	self := len(*out)
	*out = append(*out, entity{title: title})
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		name := jsonName(f)
		if name == "" || (title != "" && name == "name") || name == "kind" {
			continue
		}
		switch {
		case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct:
			if !fv.IsNil() {
				walk(fv.Elem(), join(title, words(name)), out)
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < fv.Len(); j++ {
				walk(fv.Index(j), join(title, elemTitle(name, fv.Index(j), j)), out)
			}
		case omitEmpty(f) && fv.IsZero():
		default:
			if val, ok := scalar(name, fv); ok {
				(*out)[self].attrs = append((*out)[self].attrs, attr{name: words(strings.TrimSuffix(name, "_ms")), value: val})
			}
		}
	}
}

// elemTitle names a list element: "vip www" for a resource of kind vip,
// "real server dgx" for an element of real_servers.
func elemTitle(field string, v reflect.Value, index int) string {
	kind := words(singular(field))
	if k := v.FieldByName("Kind"); k.IsValid() && k.String() != "" {
		kind = k.String()
	}
	for _, key := range []string{"Name", "Node"} {
		if n := v.FieldByName(key); n.IsValid() && n.Kind() == reflect.String && n.String() != "" {
			return kind + " " + n.String()
		}
	}
	return fmt.Sprintf("%s #%d", kind, index+1)
}

func scalar(name string, v reflect.Value) (string, bool) {
	switch v.Kind() {
	case reflect.String:
		return v.String(), v.String() != ""
	case reflect.Bool:
		return fmt.Sprint(v.Bool()), true
	case reflect.Int, reflect.Int64:
		if strings.HasSuffix(name, "_ms") {
			return (time.Duration(v.Int()) * time.Millisecond).String(), true
		}
		return fmt.Sprint(v.Int()), true
	case reflect.Slice:
		if v.Len() == 0 {
			return "", false
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]", true
	case reflect.Map:
		if v.Len() == 0 {
			return "", false
		}
		var parts []string
		for _, k := range v.MapKeys() {
			val := fmt.Sprint(v.MapIndex(k).Interface())
			if name == "secret_params" {
				// The value is elsewhere (a path to it, here); the plan
				// says only that the parameter is there and secret.
				val = "(sensitive)"
			}
			parts = append(parts, fmt.Sprintf("%v=%v", k.Interface(), val))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}", true
	}
	return "", false
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

func omitEmpty(f reflect.StructField) bool {
	return strings.Contains(f.Tag.Get("json"), ",omitempty")
}

func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies"):
		return strings.TrimSuffix(s, "ies") + "y"
	case strings.HasSuffix(s, "s"):
		return strings.TrimSuffix(s, "s")
	}
	return s
}

func join(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + " / " + child
}
