// Prints, as JSON, the field list of the Go API types reachable from one Kubernetes
// component configuration type: JSON field name -> type expression (pointers dropped;
// "duration" = metav1.Duration, "quantity" = resource.Quantity, "struct:<Name>" = a
// configuration type listed too, "object" = a type checked no deeper).
//
// Run by tests/data/config-types/generate.py, which pins the modules to the version
// the pillar pins; its output is what tests/test_kubelet_config.py and
// tests/test_kube_proxy_config.py check rendered configs against.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"

	kubeproxy "k8s.io/kube-proxy/config/v1alpha1"
	kubelet "k8s.io/kubelet/config/v1beta1"
)

type walker struct{ types map[string]map[string]string }

// Configuration types are walked into; anything else stays an opaque object.
func isConfig(t reflect.Type) bool {
	return strings.Contains(t.PkgPath(), "/config/")
}

func (w *walker) expr(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.PkgPath() + "." + t.Name() {
	case "k8s.io/apimachinery/pkg/apis/meta/v1.Duration":
		return "duration"
	case "k8s.io/apimachinery/pkg/api/resource.Quantity":
		return "quantity"
	}
	switch t.Kind() {
	case reflect.Struct:
		if !isConfig(t) {
			return "object"
		}
		w.walk(t)
		return "struct:" + t.Name()
	case reflect.Slice:
		return "[]" + w.expr(t.Elem())
	case reflect.Map:
		return "map[" + t.Key().Kind().String() + "]" + w.expr(t.Elem())
	case reflect.Interface:
		return "object"
	}
	return t.Kind().String()
}

func (w *walker) walk(t reflect.Type) {
	if _, seen := w.types[t.Name()]; seen {
		return
	}
	fields := map[string]string{}
	w.types[t.Name()] = fields
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")
		if tag[0] == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && tag[0] == "" {
			// An inlined struct (TypeMeta): apiVersion and kind, checked separately.
			continue
		}
		fields[tag[0]] = w.expr(f.Type)
	}
}

func main() {
	roots := map[string]reflect.Type{
		"KubeletConfiguration":   reflect.TypeOf(kubelet.KubeletConfiguration{}),
		"KubeProxyConfiguration": reflect.TypeOf(kubeproxy.KubeProxyConfiguration{}),
	}
	root, ok := roots[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown type %s\n", os.Args[1])
		os.Exit(2)
	}
	w := &walker{types: map[string]map[string]string{}}
	w.walk(root)
	out, _ := json.MarshalIndent(w.types, "", " ")
	fmt.Println(string(out))
}
