package config

import (
	"strings"

	"github.com/hashicorp/go-cty-funcs/cidr"
	"github.com/hashicorp/go-cty-funcs/filesystem"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/hactl/hactl/providers"
)

// functions are the functions available in expressions: Terraform's usual
// set, with file paths relative to the configuration's directory.
func functions(baseDir string, environ []string) map[string]function.Function {
	return map[string]function.Function{
		"abs":         stdlib.AbsoluteFunc,
		"ceil":        stdlib.CeilFunc,
		"cidrhost":    cidr.HostFunc,
		"cidrnetmask": cidr.NetmaskFunc,
		"cidrsubnet":  cidr.SubnetFunc,
		"cidrsubnets": cidr.SubnetsFunc,
		"coalesce":    stdlib.CoalesceFunc,
		"concat":      stdlib.ConcatFunc,
		"contains":    stdlib.ContainsFunc,
		"distinct":    stdlib.DistinctFunc,
		"element":     stdlib.ElementFunc,
		"env":         envFunc(environ),
		"file":        filesystem.MakeFileFunc(baseDir, false),
		"fileexists":  filesystem.MakeFileExistsFunc(baseDir),
		"flatten":     stdlib.FlattenFunc,
		"floor":       stdlib.FloorFunc,
		"format":      stdlib.FormatFunc,
		"formatlist":  stdlib.FormatListFunc,
		"join":        stdlib.JoinFunc,
		"jsondecode":  stdlib.JSONDecodeFunc,
		"jsonencode":  stdlib.JSONEncodeFunc,
		"keys":        stdlib.KeysFunc,
		"length":      stdlib.LengthFunc,
		"lookup":      stdlib.LookupFunc,
		"lower":       stdlib.LowerFunc,
		"max":         stdlib.MaxFunc,
		"merge":       stdlib.MergeFunc,
		"min":         stdlib.MinFunc,
		"range":       stdlib.RangeFunc,
		"regex":       stdlib.RegexFunc,
		"replace":     stdlib.ReplaceFunc,
		"sensitive":   sensitiveFunc,
		"split":       stdlib.SplitFunc,
		"substr":      stdlib.SubstrFunc,
		"tonumber":    stdlib.MakeToFunc(cty.Number),
		"tostring":    stdlib.MakeToFunc(cty.String),
		"trimspace":   stdlib.TrimSpaceFunc,
		"try":         tryfunc.TryFunc,
		"upper":       stdlib.UpperFunc,
		"values":      stdlib.ValuesFunc,
	}
}

// envFunc is env(name) or env(name, default): the value of an environment
// variable of the process running hactl.
func envFunc(environ []string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default (\"\" if none) when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			prefix := args[0].AsString() + "="
			for i := len(environ) - 1; i >= 0; i-- {
				if v, ok := strings.CutPrefix(environ[i], prefix); ok {
					return cty.StringVal(v), nil
				}
			}
			if len(args) > 1 {
				return args[1], nil
			}
			return cty.StringVal(""), nil
		},
	})
}

// sensitiveFunc is Terraform's sensitive(value): the value, marked so that
// it reaches the node only as a secret file and is never shown
// (providers.Sensitive).
var sensitiveFunc = function.New(&function.Spec{
	Description: "Returns the value marked sensitive: an OCF parameter or secret given so reaches the node only as a file of mode 0600 and is shown as (sensitive).",
	Params:      []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowMarked: true, AllowNull: true, AllowUnknown: true, AllowDynamicType: true}},
	Type: func(args []cty.Value) (cty.Type, error) {
		return args[0].Type(), nil
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return args[0].Mark(providers.Sensitive), nil
	},
})

// FunctionDocs describes every function, in name order, for the language
// reference.
func FunctionDocs() []providers.FunctionDoc {
	fns := functions(".", nil)
	var out []providers.FunctionDoc
	for _, name := range sortedKeys(fns) {
		f := fns[name]
		var params []string
		for _, p := range f.Params() {
			params = append(params, p.Name)
		}
		if vp := f.VarParam(); vp != nil {
			params = append(params, vp.Name+"...")
		}
		doc := strings.ReplaceAll(f.Description(), `\"`, `"`)
		if doc == "" {
			doc = functionDocs[name]
		}
		out = append(out, providers.FunctionDoc{Name: name, Signature: name + "(" + strings.Join(params, ", ") + ")", Doc: doc})
	}
	return out
}

// functionDocs describe the functions whose library gives no description.
var functionDocs = map[string]string{
	"cidrhost":    "Returns the address of host number hostnum in the network prefix: cidrhost(\"192.168.0.0/24\", 33) is \"192.168.0.33\". Negative numbers count from the end.",
	"cidrnetmask": "Returns the IPv4 netmask of the prefix in dotted form: cidrnetmask(\"10.0.0.0/8\") is \"255.0.0.0\".",
	"cidrsubnet":  "Returns the netnum-th subnet of prefix, newbits longer: cidrsubnet(\"10.0.0.0/16\", 8, 2) is \"10.0.2.0/24\".",
	"cidrsubnets": "Returns consecutive subnets of prefix, one per newbits argument, each that many bits longer.",
	"file":        "Returns the content of the file at path (relative to the configuration's directory), which must be UTF-8 text.",
	"fileexists":  "Returns whether a file exists at path (relative to the configuration's directory).",
	"try":         "Returns the value of the first expression that evaluates without error.",
}
