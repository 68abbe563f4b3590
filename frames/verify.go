package frames

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrInvalid is matched (errors.Is) by every error that says a typed frame's
// bytes are not a valid message of its schema. A *VerifyError says where.
var ErrInvalid = errors.New("invalid typed frame")

// VerifyError describes the first violation Verify found.
type VerifyError struct {
	Table  string // table being verified ("" for the buffer itself)
	Field  string // field being verified, if any
	Offset int    // byte offset in the buffer where the rule broke
	Reason string
}

func (e *VerifyError) Error() string {
	where := e.Table
	if e.Field != "" {
		where += "." + e.Field
	}
	if where == "" {
		where = "buffer"
	}
	return fmt.Sprintf("invalid typed frame: %s at offset %d: %s", where, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *VerifyError) Is(target error) bool { return target == ErrInvalid }

// FieldKind says how a table field is laid out, which is all a verifier needs.
type FieldKind uint8

const (
	// Scalar: a Size-byte number or bool or enum inline in the table.
	Scalar FieldKind = iota + 1
	// String: an offset to a u32 length, the bytes and a 0 terminator.
	String
	// Vector: an offset to a vector of Size-byte scalars (or structs).
	Vector
	// StringVector: an offset to a vector of offsets to strings.
	StringVector
	// TableField: an offset to a table of schema Table.
	TableField
	// TableVector: an offset to a vector of offsets to tables of schema Table.
	TableVector
	// Union: the value of a union, an offset to a table whose schema is
	// Union[type-1]; its u8 type field is the field just before it (flatc
	// gives `x_type` the id of `x` minus one). Types beyond Union are
	// accepted without looking at the value (added by a newer schema), as
	// the C++ Verifier does.
	Union
)

// Field describes one field of a table, in id order (field i has vtable slot 4+2i).
type Field struct {
	Name  string
	Kind  FieldKind
	Size  int      // Scalar: bytes (and alignment, up to 8); Vector: element bytes
	Table *Table   // TableField, TableVector
	Union []*Table // Union: member schemas for types 1, 2, ...
}

// Table is the verifier's view of a FlatBuffers table: its fields by id.
// Describe your own schema with these (see docs/schemas.md) to verify it
// with VerifyTable.
type Table struct {
	Name   string
	Fields []Field
}

// Limits bound the work a verification may do, as the C++ Verifier's options.
type Limits struct {
	MaxDepth  int // nesting of tables (default 64)
	MaxTables int // tables visited, counting repeats (default 1,000,000)
}

// DefaultLimits are the C++ Verifier's defaults.
var DefaultLimits = Limits{MaxDepth: 64, MaxTables: 1000000}

// maxBuffer is FLATBUFFERS_MAX_BUFFER_SIZE: offsets are signed 32-bit.
const maxBuffer = 1<<31 - 1

// VerifyTable checks that buf is a FlatBuffers buffer whose root is a table of
// schema root: every offset, vtable, string, vector and union lies inside buf
// and is aligned relative to buf's start, strings are 0-terminated, and the
// limits hold. ident, if not empty, must be the 4-byte file identifier at
// offset 4. After VerifyTable returns nil, the generated accessors of that
// schema read only inside buf (for the fields the schema names).
func VerifyTable(buf []byte, root *Table, ident string, lim Limits) error {
	// Field by field: a struct copy here made the compiler stall on store
	// forwarding, a fifth of a small envelope's verification.
	var v verifier
	v.buf = buf
	v.maxDepth, v.maxTables = lim.MaxDepth, lim.MaxTables
	if v.maxDepth <= 0 {
		v.maxDepth = DefaultLimits.MaxDepth
	}
	if v.maxTables <= 0 {
		v.maxTables = DefaultLimits.MaxTables
	}
	if len(buf) > maxBuffer {
		return v.fail(nil, "", 0, "buffer larger than 2 GiB")
	}
	min := 4
	if ident != "" {
		min = 8
	}
	if len(buf) < min {
		return v.fail(nil, "", 0, "shorter than a root offset and identifier")
	}
	if ident != "" && !identIs(buf, ident) {
		return v.fail(nil, "", 4, "file identifier is not "+ident)
	}
	t, err := v.offset(nil, "root", 0)
	if err != nil {
		return err
	}
	return v.table(root, t, 1)
}

// identIs compares the identifier at offset 4 (len(buf) >= 8) byte by byte:
// cheaper than a string comparison for 4 bytes.
func identIs(buf []byte, ident string) bool {
	if len(ident) != 4 {
		return string(buf[4:8]) == ident
	}
	return buf[4] == ident[0] && buf[5] == ident[1] && buf[6] == ident[2] && buf[7] == ident[3]
}

type verifier struct {
	buf       []byte
	maxDepth  int
	maxTables int
	tables    int
}

func (v *verifier) fail(t *Table, field string, off int, reason string) error {
	name := ""
	if t != nil {
		name = t.Name
	}
	return &VerifyError{Table: name, Field: field, Offset: off, Reason: reason}
}

func (v *verifier) u32(off int) uint32 { return binary.LittleEndian.Uint32(v.buf[off:]) }
func (v *verifier) u16(off int) uint16 { return binary.LittleEndian.Uint16(v.buf[off:]) }

// in reports whether [off, off+n) lies in the buffer (off >= 0, n >= 0).
func (v *verifier) in(off, n int) bool {
	return off >= 0 && n >= 0 && off <= len(v.buf) && n <= len(v.buf)-off
}

// offset reads the uoffset at off and returns its target.
func (v *verifier) offset(t *Table, field string, off int) (int, error) {
	if off&3 != 0 {
		return 0, v.fail(t, field, off, "offset not 4-byte aligned")
	}
	if !v.in(off, 4) {
		return 0, v.fail(t, field, off, "offset outside the buffer")
	}
	o := v.u32(off)
	if o == 0 || o > maxBuffer {
		return 0, v.fail(t, field, off, fmt.Sprintf("offset %d is zero or negative", int32(o)))
	}
	target := off + int(o)
	if !v.in(target, 1) {
		return 0, v.fail(t, field, off, fmt.Sprintf("offset %d points outside the buffer", o))
	}
	return target, nil
}

// vector checks the vector at off with n-byte elements and returns its element count.
func (v *verifier) vector(t *Table, field string, off, elem int) (int, error) {
	if off&3 != 0 {
		return 0, v.fail(t, field, off, "vector not 4-byte aligned")
	}
	if !v.in(off, 4) {
		return 0, v.fail(t, field, off, "vector length outside the buffer")
	}
	n := int(v.u32(off))
	if elem > 0 && n > (maxBuffer-4)/elem || !v.in(off+4, n*elem) {
		return 0, v.fail(t, field, off, fmt.Sprintf("vector of %d elements of %d bytes runs past the buffer", n, elem))
	}
	return n, nil
}

func (v *verifier) str(t *Table, field string, off int) error {
	n, err := v.vector(t, field, off, 1)
	if err != nil {
		return err
	}
	end := off + 4 + n
	if !v.in(end, 1) {
		return v.fail(t, field, off, "string has no terminator inside the buffer")
	}
	if v.buf[end] != 0 {
		return v.fail(t, field, end, "string not 0-terminated")
	}
	return nil
}

// table verifies the table at pos against schema t. The vtable and the
// table are bounds-checked once and sliced, so reading a slot, or a scalar
// that lies inside its table (the usual case), needs no further check.
func (v *verifier) table(t *Table, pos, depth int) error {
	buf := v.buf
	if depth > v.maxDepth {
		return v.fail(t, "", pos, "tables nested too deeply")
	}
	if v.tables++; v.tables > v.maxTables {
		return v.fail(t, "", pos, "too many tables")
	}
	if pos&3 != 0 || !v.in(pos, 4) {
		return v.fail(t, "", pos, "table outside the buffer or not 4-byte aligned")
	}
	// Accessors compute the vtable as uint32(pos - soffset): same here, checked.
	vt := pos - int(int32(binary.LittleEndian.Uint32(buf[pos:])))
	if vt&1 != 0 || !v.in(vt, 4) {
		return v.fail(t, "", pos, "vtable outside the buffer or not 2-byte aligned")
	}
	vsize := int(binary.LittleEndian.Uint16(buf[vt:]))
	tsize := int(binary.LittleEndian.Uint16(buf[vt+2:]))
	if vsize < 4 || vsize&1 != 0 || vsize > len(buf)-vt {
		return v.fail(t, "", vt, fmt.Sprintf("vtable of %d bytes", vsize))
	}
	if tsize < 4 || tsize > len(buf)-pos {
		return v.fail(t, "", vt, fmt.Sprintf("table of %d bytes runs past the buffer", tsize))
	}
	slots := buf[vt+4 : vt+vsize] // field offsets; fields beyond it are absent (an older writer)
	fields := t.Fields
	if n := len(slots) / 2; n < len(fields) {
		fields = fields[:n]
	}
	for id := range fields {
		fo := int(binary.LittleEndian.Uint16(slots[2*id:]))
		if fo == 0 {
			continue
		}
		f := &fields[id]
		at := pos + fo
		switch f.Kind {
		case Scalar:
			// Inside the (checked) table, or else at least inside the buffer.
			if fo+f.Size > tsize && !v.in(at, f.Size) {
				return v.fail(t, f.Name, at, "field outside the buffer")
			}
			if a := min(f.Size, 8); at&(a-1) != 0 {
				return v.fail(t, f.Name, at, "field not aligned")
			}
		case String, Vector, StringVector, TableField, TableVector:
			target, err := v.offset(t, f.Name, at)
			if err != nil {
				return err
			}
			if err := v.reference(t, f, target, depth); err != nil {
				return err
			}
		case Union:
			typ := 0
			if id > 0 {
				if to := int(binary.LittleEndian.Uint16(slots[2*id-2:])); to != 0 {
					if !v.in(pos+to, 1) {
						return v.fail(t, f.Name, pos+to, "union type outside the buffer")
					}
					typ = int(buf[pos+to])
				}
			}
			target, err := v.offset(t, f.Name, at)
			if err != nil {
				return err
			}
			if typ == 0 {
				// A value without a type: accessors never follow it. Checked above for bounds.
				continue
			}
			if typ-1 < len(f.Union) && f.Union[typ-1] != nil {
				if err := v.table(f.Union[typ-1], target, depth+1); err != nil {
					return err
				}
			}
		default:
			return v.fail(t, f.Name, at, "schema error: field kind unknown")
		}
	}
	return nil
}

func (v *verifier) reference(t *Table, f *Field, target, depth int) error {
	switch f.Kind {
	case String:
		return v.str(t, f.Name, target)
	case Vector:
		// Like the C++ Verifier: the length is 4-byte aligned, elements are
		// not checked for alignment (Go reads them byte-wise).
		_, err := v.vector(t, f.Name, target, f.Size)
		return err
	case StringVector:
		n, err := v.vector(t, f.Name, target, 4)
		if err != nil {
			return err
		}
		for k := 0; k < n; k++ {
			s, err := v.offset(t, f.Name, target+4+4*k)
			if err != nil {
				return err
			}
			if err := v.str(t, f.Name, s); err != nil {
				return err
			}
		}
		return nil
	case TableField:
		return v.table(f.Table, target, depth+1)
	case TableVector:
		n, err := v.vector(t, f.Name, target, 4)
		if err != nil {
			return err
		}
		for k := 0; k < n; k++ {
			e, err := v.offset(t, f.Name, target+4+4*k)
			if err != nil {
				return err
			}
			if err := v.table(f.Table, e, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}
