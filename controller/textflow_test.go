package controller

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path/filepath"
	"strings"
	"testing"
)

// textChecks are the strings functions that decide or extract on text.
var textChecks = map[string]bool{
	"Contains": true, "ContainsAny": true, "HasPrefix": true, "HasSuffix": true,
	"Index": true, "LastIndex": true, "Cut": true, "CutPrefix": true, "CutSuffix": true,
	"TrimPrefix": true, "TrimSuffix": true, "EqualFold": true, "Count": true,
}

// textFields hold text written for people.
var textFields = map[string]bool{"Message": true, "LastError": true, "Reason": true}

// typedFields hold typed values (a Reason, a condition's Type and Status,
// a Phase, an Op...) that are compared with their constants, never with a
// literal.
var typedFields = map[string]bool{"Reason": true, "Type": true, "Status": true, "Phase": true, "State": true, "Op": true, "Origin": true}

// textFlowAllowed are the places that still decide on text, each with how
// many it holds and why: the list only shrinks. Key: file (from the
// repository root), function, what.
var textFlowAllowed = map[string]struct {
	n      int
	reason string
}{
	"manifest/load.go parseFile strings.TrimPrefix": {1,
		"yaml.v3 reports a syntax error as text only; the prefix is cut for the message shown, nothing is decided on it"},
}

// TestNoControlFlowOnText: no code of engine, controller, cmd/converge or
// manifest decides on, or extracts data from, human-readable text: an
// error's Error(), a Message, LastError or Reason passed to a strings
// search or cut, or a typed field compared with a string literal. What
// remains is in textFlowAllowed, with why.
func TestNoControlFlowOnText(t *testing.T) {
	roots := []string{"../engine", ".", "../cmd/converge", "../manifest"}
	found := map[string]int{}
	where := map[string][]string{}
	fset := token.NewFileSet()
	files := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			files++
			rel := filepath.ToSlash(filepath.Join("controller", path))
			rel = filepath.ToSlash(filepath.Clean(rel))
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				vars := textVars(fn.Body)
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					what := textUse(n, vars)
					if what == "" {
						return true
					}
					key := rel + " " + fn.Name.Name + " " + what
					found[key]++
					where[key] = append(where[key], fset.Position(n.Pos()).String())
					return true
				})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 50 {
		t.Fatalf("premise: only %d Go files read", files)
	}
	for key, n := range found {
		a, ok := textFlowAllowed[key]
		switch {
		case !ok:
			t.Errorf("%s: control flow on human-readable text (%s); use a typed value (a class, a reason constant, an action type, a FieldError)", strings.Join(where[key], ", "), key)
		case n > a.n:
			t.Errorf("%s: %d uses of text in %s; %d allowed (%s)", strings.Join(where[key], ", "), n, key, a.n, a.reason)
		case n < a.n:
			t.Errorf("%s: %d uses left of %d allowed: lower the count in textFlowAllowed", key, n, a.n)
		}
	}
	for key := range textFlowAllowed {
		if found[key] == 0 {
			t.Errorf("%s is in textFlowAllowed but decides on text no more: remove it", key)
		}
	}
}

// textVars returns the names body assigns text to (msg := err.Error()),
// so that a search of msg is one of the text.
func textVars(body ast.Node) map[string]bool {
	vars := map[string]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		if a, ok := n.(*ast.AssignStmt); ok && len(a.Lhs) == len(a.Rhs) {
			for i, l := range a.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name != "_" && isText(a.Rhs[i], vars) {
					vars[id.Name] = true
				}
			}
		}
		return true
	})
	return vars
}

// textUse names what n does with text (given the variables that hold
// text), or returns "".
func textUse(n ast.Node, vars map[string]bool) string {
	switch x := n.(type) {
	case *ast.CallExpr:
		s, ok := x.Fun.(*ast.SelectorExpr)
		if !ok || len(x.Args) == 0 {
			return ""
		}
		if pkg, ok := s.X.(*ast.Ident); ok && pkg.Name == "strings" && textChecks[s.Sel.Name] && isText(x.Args[0], vars) {
			return "strings." + s.Sel.Name
		}
	case *ast.BinaryExpr:
		if x.Op != token.EQL && x.Op != token.NEQ {
			return ""
		}
		for _, pair := range [][2]ast.Expr{{x.X, x.Y}, {x.Y, x.X}} {
			s, ok := pair[0].(*ast.SelectorExpr)
			lit, isLit := pair[1].(*ast.BasicLit)
			if ok && isLit && lit.Kind == token.STRING && lit.Value != `""` && typedFields[s.Sel.Name] {
				return "." + s.Sel.Name + " == literal"
			}
		}
	}
	return ""
}

// isText reports whether e is an error's text, a text field (possibly
// converted to string) or a variable holding one.
func isText(e ast.Expr, vars map[string]bool) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return vars[x.Name]
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "string" && len(x.Args) == 1 {
			return isText(x.Args[0], vars)
		}
		s, ok := x.Fun.(*ast.SelectorExpr)
		return ok && s.Sel.Name == "Error" && len(x.Args) == 0
	case *ast.SelectorExpr:
		return textFields[x.Sel.Name]
	}
	return false
}

// TestTextUse: what the lint catches, and what it leaves alone.
func TestTextUse(t *testing.T) {
	cases := map[string]string{
		`strings.Contains(err.Error(), "x")`:        "strings.Contains",
		`strings.HasPrefix(r.LastError, op)`:        "strings.HasPrefix",
		`strings.Contains(f.Message, words)`:        "strings.Contains",
		`strings.TrimPrefix(ev.Message, p)`:         "strings.TrimPrefix",
		`strings.HasPrefix(string(ev.Reason), "x")`: "strings.HasPrefix",
		`strings.Cut(e.Error(), ": ")`:              "strings.Cut",
		`c.Type == "Drifted"`:                       ".Type == literal",
		`"True" != c.Status`:                        ".Status == literal",
		`r.Origin == ""`:                            "",
		`c.Type == store.ConditionDrifted`:          "",
		`strings.HasPrefix(path, "spec.")`:          "",
		`strings.Join(parts, "; ")`:                 "",
		`strings.Contains(name, err.Error())`:       "",
		`strings.Cut(msg, ": ")`:                    "strings.Cut",
	}
	for src, want := range cases {
		e, err := parser.ParseExpr(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := textUse(e, map[string]bool{"msg": true}); got != want {
			t.Errorf("textUse(%s) = %q; want %q", src, got, want)
		}
	}
}

// TestTextVars: a variable assigned an error's text is text.
func TestTextVars(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", `package p
func f(err error, r R) {
	field, msg := "spec", err.Error()
	last := r.LastError
	n := len(msg)
	_, _, _ = field, last, n
}`, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := textVars(f.Decls[0].(*ast.FuncDecl).Body)
	if want := map[string]bool{"msg": true, "last": true}; !maps.Equal(got, want) {
		t.Errorf("textVars = %v; want %v", got, want)
	}
}
