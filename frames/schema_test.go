package frames

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// generated parses the generated FlatBuffers code (package fb) into its
// functions and methods by name ("EnvelopeStart", "Envelope.Kind").
func generated(t *testing.T) map[string]*ast.FuncDecl {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("fb", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no generated code in fb/: %v", err)
	}
	funcs := map[string]*ast.FuncDecl{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			name := fd.Name.Name
			if fd.Recv != nil {
				if st, ok := fd.Recv.List[0].Type.(*ast.StarExpr); ok {
					name = st.X.(*ast.Ident).Name + "." + name
				}
			}
			funcs[name] = fd
		}
	}
	return funcs
}

// call finds the first call to builder.<method> in fd whose method name
// satisfies match, and returns the method name and its integer literal arguments.
func call(fd *ast.FuncDecl, match func(string) bool) (string, []int) {
	var name string
	var args []int
	ast.Inspect(fd, func(n ast.Node) bool {
		c, ok := n.(*ast.CallExpr)
		if !ok || name != "" {
			return name == ""
		}
		sel, ok := c.Fun.(*ast.SelectorExpr)
		if !ok || !match(sel.Sel.Name) {
			return true
		}
		name = sel.Sel.Name
		for _, a := range c.Args {
			v := -1
			if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.INT {
				v, _ = strconv.Atoi(lit.Value)
			}
			args = append(args, v)
		}
		return false
	})
	return name, args
}

// camel turns a schema field name into flatc's Go name: correlation_id -> CorrelationId.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

var slotSizes = map[string]int{
	"PrependBoolSlot": 1, "PrependByteSlot": 1, "PrependUint8Slot": 1, "PrependInt8Slot": 1,
	"PrependUint16Slot": 2, "PrependInt16Slot": 2,
	"PrependUint32Slot": 4, "PrependInt32Slot": 4, "PrependFloat32Slot": 4,
	"PrependUint64Slot": 8, "PrependInt64Slot": 8, "PrependFloat64Slot": 8,
}

// TestSchemaTablesMatchTheGeneratedCode: the verifier's hand-written
// description of frame.fbs (schema.go) has every field of every table with
// the id, kind and size flatc gave it, so a schema change that forgets the
// description fails here rather than going unverified.
func TestSchemaTablesMatchTheGeneratedCode(t *testing.T) {
	funcs := generated(t)
	for _, tab := range []*Table{EnvelopeTable, TraceContextTable, MediaChunkTable, TensorTable, ModelRequestTable, ModelResponseTable, RawTable} {
		start := funcs[tab.Name+"Start"]
		if start == nil {
			t.Fatalf("%s: no %sStart in the generated code", tab.Name, tab.Name)
		}
		if _, args := call(start, func(m string) bool { return m == "StartObject" }); len(args) != 1 || args[0] != len(tab.Fields) {
			t.Errorf("%s: the generated code's table has %v fields, schema.go describes %d", tab.Name, args, len(tab.Fields))
		}
		for id, f := range tab.Fields {
			name := tab.Name + "Add" + camel(f.Name)
			add := funcs[name]
			if add == nil {
				t.Errorf("%s.%s (id %d): no %s in the generated code", tab.Name, f.Name, id, name)
				continue
			}
			m, args := call(add, func(m string) bool { return strings.HasSuffix(m, "Slot") })
			if len(args) == 0 || args[0] != id {
				t.Errorf("%s.%s: generated slot %v, schema.go says id %d", tab.Name, f.Name, args, id)
			}
			if f.Kind == Scalar {
				if slotSizes[m] != f.Size {
					t.Errorf("%s.%s: generated %s, schema.go says a %d-byte scalar", tab.Name, f.Name, m, f.Size)
				}
				continue
			}
			if m != "PrependUOffsetTSlot" {
				t.Errorf("%s.%s: generated %s, schema.go says an offset (kind %d)", tab.Name, f.Name, m, f.Kind)
			}
			acc := funcs[tab.Name+"."+camel(f.Name)]
			if acc == nil {
				t.Errorf("%s.%s: no accessor", tab.Name, f.Name)
				continue
			}
			param := ""
			if ps := acc.Type.Params.List; len(ps) > 0 {
				if st, ok := ps[0].Type.(*ast.StarExpr); ok {
					switch x := st.X.(type) {
					case *ast.Ident:
						param = x.Name
					case *ast.SelectorExpr:
						param = x.Sel.Name
					}
				}
			}
			vec := funcs[tab.Name+"Start"+camel(f.Name)+"Vector"]
			elem := -1
			if vec != nil {
				if _, a := call(vec, func(m string) bool { return m == "StartVector" }); len(a) > 0 {
					elem = a[0]
				}
			}
			switch f.Kind {
			case String:
				if param != "" || vec != nil {
					t.Errorf("%s.%s: generated as no string (accessor takes %q, vector %v)", tab.Name, f.Name, param, vec != nil)
				}
			case TableField:
				if param != f.Table.Name {
					t.Errorf("%s.%s: accessor takes *%s, schema.go says table %s", tab.Name, f.Name, param, f.Table.Name)
				}
			case Union:
				if param != "Table" {
					t.Errorf("%s.%s: accessor takes *%s, not a union's *flatbuffers.Table", tab.Name, f.Name, param)
				}
				if id == 0 || tab.Fields[id-1].Name != f.Name+"_type" {
					t.Errorf("%s.%s: the union's type is not the field before it", tab.Name, f.Name)
				}
			case Vector:
				if elem != f.Size {
					t.Errorf("%s.%s: generated vector of %d-byte elements, schema.go says %d", tab.Name, f.Name, elem, f.Size)
				}
			case StringVector, TableVector:
				if elem != 4 {
					t.Errorf("%s.%s: generated vector of %d-byte elements, want offsets", tab.Name, f.Name, elem)
				}
			}
		}
	}
	// BuildEnvelope's field ids (envelope.go) are schema.go's.
	for id, want := range map[int]string{envSequence: "sequence", envStatus: "status", envStatusMessage: "status_message",
		envKind: "kind", envCorrelationID: "correlation_id", envDeadline: "deadline_unix_nano", envTrace: "trace",
		envPayloadType: "payload_type", envPayload: "payload"} {
		if id >= len(EnvelopeTable.Fields) || EnvelopeTable.Fields[id].Name != want {
			t.Errorf("envelope.go gives %s the id %d", want, id)
		}
	}
	if envFields != len(EnvelopeTable.Fields) {
		t.Errorf("envelope.go knows %d Envelope fields, schema.go %d", envFields, len(EnvelopeTable.Fields))
	}
}
