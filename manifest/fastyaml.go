package manifest

import (
	"strconv"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// fastParser parses the plain subset of YAML that manifests are written in
// into the same yaml.Node trees yaml.v3 builds (kind, tag, value, style,
// line, column and content; comments are dropped), several times faster and
// with few allocations. Whatever it does not fully understand makes it give
// up on the whole file, which is then parsed by yaml.v3: so the results, the
// error messages and their lines are yaml.v3's in every case.
//
// The subset: "---" document separators; block mappings whose keys are plain
// words ([A-Za-z0-9_./-]); block sequences, including indentless ones and
// "- key: value" items; single-line flow mappings and sequences; single-line
// plain, single-quoted and double-quoted scalars (common escapes only); blank
// lines and comments. Anchors, aliases, tags, block scalars (| and >),
// multi-line scalars and flow collections, complex keys, directives, tabs,
// carriage returns and unusual characters are not in it.
//
// A fastParser is not safe for concurrent use; its nodes are reused by the
// next call to parse, so they must not be kept (strings may be).
type fastParser struct {
	src   string
	pos   int // start of the next unread line
	end   int // end of the current document
	line  int // number of the line at pos, from 1
	depth int

	// column's place on the current line: the position colPos of the line
	// starting at colLine is at column col.
	colLine, colPos, col int
	// scanned counts the bytes column has counted since reset: at most
	// about the source's length when counting resumes as it should.
	scanned int

	nodes []yaml.Node // current chunk of nodes
	ptrs  []*yaml.Node
	stack []*yaml.Node // children being collected
	spare [][]yaml.Node
	used  [][]yaml.Node
}

// errFallback stops a fast parse: the input is outside the subset.
type errFallback struct{}

// maxFastDepth bounds nesting in the fast path; deeper input goes to yaml.v3.
const maxFastDepth = 48

// parse returns the root node of every non-empty document of src, or false
// when src is outside the subset (or is not valid YAML).
func (p *fastParser) parse(src string) (docs []*yaml.Node, ok bool) {
	if !fastChars(src) {
		return nil, false
	}
	p.reset(src)
	defer func() {
		if r := recover(); r != nil {
			if _, fb := r.(errFallback); !fb {
				panic(r)
			}
			docs, ok = nil, false
		}
	}()
	start, startLine, line := 0, 1, 1
	for i := 0; i <= len(src); {
		le := indexNL(src, i)
		marker := false
		if le-i >= 3 && src[i] == '-' && src[i+1] == '-' && src[i+2] == '-' {
			if !blank(src[i+3 : le]) {
				fail()
			}
			marker = true
		} else if le > i && (src[i] == '%' || (le-i >= 3 && src[i:i+3] == "...")) {
			fail()
		}
		if marker || le == len(src) {
			stop := le
			if marker {
				stop = i
			}
			if n := p.document(start, stop, startLine); n != nil {
				docs = append(docs, n)
			}
			start, startLine = le+1, line+1
		}
		i = le + 1
		line++
	}
	return docs, true
}

func (p *fastParser) reset(src string) {
	p.src, p.depth = src, 0
	p.colLine, p.scanned = -1, 0
	p.spare = append(p.spare, p.used...)
	p.used = p.used[:0]
	p.nodes = nil
	p.ptrs = p.ptrs[:0]
	p.stack = p.stack[:0]
}

func fail() { panic(errFallback{}) }

// fastChars reports whether src holds only characters the fast path
// handles: printable ASCII and newlines, and valid UTF-8 runes that yaml.v3
// treats as ordinary printable characters.
func fastChars(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' && c != '\n' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1,
			r < 0xA0, r == 0x2028, r == 0x2029, r == 0xFEFF,
			r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return false
		}
		i += size
	}
	return true
}

func indexNL(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] == '\n' {
			return i
		}
	}
	return len(s)
}

func blank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			return false
		}
	}
	return true
}

// alloc returns a fresh node from the current chunk.
func (p *fastParser) alloc() *yaml.Node {
	if len(p.nodes) == cap(p.nodes) {
		if n := len(p.spare); n > 0 {
			p.nodes = p.spare[n-1][:0]
			p.spare = p.spare[:n-1]
		} else {
			p.nodes = make([]yaml.Node, 0, 1024)
		}
		p.used = append(p.used, p.nodes)
	}
	p.nodes = p.nodes[:len(p.nodes)+1]
	n := &p.nodes[len(p.nodes)-1]
	*n = yaml.Node{}
	return n
}

// children moves the nodes pushed since mark into a content slice.
func (p *fastParser) children(mark int) []*yaml.Node {
	kids := p.stack[mark:]
	if len(kids) == 0 {
		return nil
	}
	if cap(p.ptrs)-len(p.ptrs) < len(kids) {
		p.ptrs = make([]*yaml.Node, 0, max(4096, len(kids)))
	}
	at := len(p.ptrs)
	p.ptrs = append(p.ptrs, kids...)
	p.stack = p.stack[:mark]
	return p.ptrs[at:len(p.ptrs):len(p.ptrs)]
}

// document parses src[start:end], which begins at line startLine. It
// returns nil for an empty document.
func (p *fastParser) document(start, end, startLine int) *yaml.Node {
	p.pos, p.end, p.line = start, end, startLine
	indent, ok := p.peek()
	if !ok {
		return nil
	}
	root := p.block(indent)
	if _, more := p.peek(); more {
		fail()
	}
	doc := p.alloc()
	doc.Kind, doc.Line, doc.Column = yaml.DocumentNode, startLine, 1
	p.stack = append(p.stack, root)
	doc.Content = p.children(len(p.stack) - 1)
	return doc
}

// peek skips blank and comment lines and returns the indentation of the
// next line, and false at the end of the document.
func (p *fastParser) peek() (indent int, ok bool) {
	for p.pos < p.end {
		le := indexNL(p.src, p.pos)
		if le > p.end {
			le = p.end
		}
		i := p.pos
		for i < le && p.src[i] == ' ' {
			i++
		}
		if i < le && p.src[i] != '#' {
			return i - p.pos, true
		}
		p.pos, p.line = le+1, p.line+1
	}
	return 0, false
}

// lineEnd returns the end of the line at p.pos.
func (p *fastParser) lineEnd() int {
	le := indexNL(p.src, p.pos)
	if le > p.end {
		le = p.end
	}
	return le
}

// nextLine moves to the line after the current one.
func (p *fastParser) nextLine() {
	p.pos, p.line = p.lineEnd()+1, p.line+1
}

// block parses the node starting on the current line at column indent
// (p.peek has returned indent).
func (p *fastParser) block(indent int) *yaml.Node {
	p.depth++
	if p.depth > maxFastDepth {
		fail()
	}
	defer func() { p.depth-- }()
	at := p.pos + indent
	le := p.lineEnd()
	switch {
	case isEntry(p.src, at, le):
		return p.sequence(indent)
	case keyEnd(p.src, at, le) > 0:
		return p.mapping(indent, false)
	}
	n, i := p.inline(at, le, false)
	p.finish(i, le)
	return n
}

// isEntry reports whether a block sequence entry ("-" then a space or the
// end of the line) starts at i.
func isEntry(s string, i, le int) bool {
	return i < le && s[i] == '-' && (i+1 == le || s[i+1] == ' ')
}

// keyEnd returns the position of the ':' ending a plain key that starts at
// i, or -1 when no key starts there.
func keyEnd(s string, i, le int) int {
	j := i
	for j < le && isKeyChar(s[j]) {
		j++
	}
	if j == i || j == le || s[j] != ':' || (j+1 < le && s[j+1] != ' ') {
		return -1
	}
	if c := s[i]; c == '-' || j-i > 1000 {
		return -1
	}
	return j
}

func isKeyChar(c byte) bool {
	return isAlnum(c) || c == '_' || c == '.' || c == '/' || c == '-'
}

// mapping parses a block mapping whose keys are at column indent. When
// inline is set, its first key is on the current line after a "- ".
func (p *fastParser) mapping(indent int, inline bool) *yaml.Node {
	n := p.alloc()
	n.Kind, n.Tag, n.Line, n.Column = yaml.MappingNode, "!!map", p.line, indent+1
	mark := len(p.stack)
	for first := true; ; first = false {
		if !(inline && first) {
			ind, ok := p.peek()
			if !ok || ind < indent {
				break
			}
			if ind > indent {
				fail()
			}
		}
		le := p.lineEnd()
		at := p.pos + indent
		colon := keyEnd(p.src, at, le)
		if colon < 0 {
			if isEntry(p.src, at, le) {
				break // an indentless sequence's next entry, or an error
			}
			fail()
		}
		k := p.scalar(p.src[at:colon], at, 0)
		p.stack = append(p.stack, k)
		i := colon + 1
		for i < le && p.src[i] == ' ' {
			i++
		}
		if i < le && p.src[i] != '#' {
			v, end := p.inline(i, le, false)
			p.stack = append(p.stack, v)
			p.finish(end, le)
			continue
		}
		if i < le && i == colon+1 {
			fail() // "key:#"
		}
		nullLine, nullCol := p.line, p.column(colon+1)
		p.nextLine()
		ind, ok := p.peek()
		switch {
		case ok && ind > indent:
			p.stack = append(p.stack, p.block(ind))
		case ok && ind == indent && isEntry(p.src, p.pos+ind, p.lineEnd()):
			p.stack = append(p.stack, p.sequence(indent))
		default:
			p.stack = append(p.stack, p.null(nullLine, nullCol))
		}
	}
	n.Content = p.children(mark)
	return n
}

// sequence parses a block sequence whose "-" are at column indent.
func (p *fastParser) sequence(indent int) *yaml.Node {
	n := p.alloc()
	n.Kind, n.Tag, n.Line, n.Column = yaml.SequenceNode, "!!seq", p.line, indent+1
	mark := len(p.stack)
	for {
		ind, ok := p.peek()
		if !ok || ind < indent {
			break
		}
		if ind > indent {
			fail()
		}
		le := p.lineEnd()
		dash := p.pos + indent
		if !isEntry(p.src, dash, le) {
			break
		}
		i := dash + 1
		for i < le && p.src[i] == ' ' {
			i++
		}
		switch {
		case i == le || p.src[i] == '#':
			if i < le && i == dash+1 {
				fail()
			}
			nullLine, nullCol := p.line, p.column(dash+1)
			p.nextLine()
			if ind, ok := p.peek(); ok && ind > indent {
				p.stack = append(p.stack, p.block(ind))
			} else {
				p.stack = append(p.stack, p.null(nullLine, nullCol))
			}
		case isEntry(p.src, i, le):
			fail() // "- - x"
		case keyEnd(p.src, i, le) > 0:
			p.depth++
			if p.depth > maxFastDepth {
				fail()
			}
			p.stack = append(p.stack, p.mapping(i-p.pos, true))
			p.depth--
		default:
			v, end := p.inline(i, le, false)
			p.stack = append(p.stack, v)
			p.finish(end, le)
		}
	}
	n.Content = p.children(mark)
	return n
}

// finish checks that only spaces and a comment follow position i on the
// current line, and moves to the next line.
func (p *fastParser) finish(i, le int) {
	j := i
	for j < le && p.src[j] == ' ' {
		j++
	}
	if j < le && (p.src[j] != '#' || j == i) {
		fail()
	}
	p.nextLine()
}

func (p *fastParser) null(line, col int) *yaml.Node {
	n := p.alloc()
	n.Kind, n.Tag, n.Line, n.Column = yaml.ScalarNode, "!!null", line, col
	return n
}

// column returns the column of position i on the current line. The
// positions asked for on one line mostly grow, so counting resumes from the
// last one: a line costs its length, not its length times its items.
func (p *fastParser) column(i int) int {
	if p.colLine != p.pos || i < p.colPos {
		p.colLine, p.colPos, p.col = p.pos, p.pos, 1
	}
	p.scanned += i - p.colPos
	p.col += utf8.RuneCountInString(p.src[p.colPos:i])
	p.colPos = i
	return p.col
}

// inline parses the scalar or flow collection at i on the current line; in
// flow context (flow), plain scalars end at ",[]{}". It returns the node and
// the position after it.
func (p *fastParser) inline(i, le int, flow bool) (*yaml.Node, int) {
	switch c := p.src[i]; c {
	case '"':
		return p.doubleQuoted(i, le)
	case '\'':
		return p.singleQuoted(i, le)
	case '[', '{':
		return p.flow(i, le)
	case '?', ':', ',', ']', '}', '#', '&', '*', '!', '|', '>', '%', '@', '`':
		fail()
	case '-':
		if i+1 == le || p.src[i+1] == ' ' {
			fail()
		}
	}
	j := i
	if flow {
		for j < le {
			c := p.src[j]
			if c == ',' || c == '[' || c == ']' || c == '{' || c == '}' {
				break
			}
			if c == ':' {
				if j+1 < le && p.src[j+1] == ' ' {
					break // the end of a key
				}
				fail()
			}
			if c == '#' && p.src[j-1] == ' ' {
				fail()
			}
			j++
		}
	} else {
		for j < le {
			c := p.src[j]
			if c == '#' && p.src[j-1] == ' ' {
				break
			}
			if c == ':' && (j+1 == le || p.src[j+1] == ' ') {
				fail()
			}
			j++
		}
	}
	end := j
	for end > i && p.src[end-1] == ' ' {
		end--
	}
	return p.scalar(p.src[i:end], i, 0), end
}

// scalar returns a scalar node for value at position i of the current line.
func (p *fastParser) scalar(value string, i int, style yaml.Style) *yaml.Node {
	n := p.alloc()
	n.Kind, n.Value, n.Style, n.Line, n.Column = yaml.ScalarNode, value, style, p.line, p.column(i)
	if style != 0 {
		n.Tag = "!!str"
	} else {
		n.Tag = plainTag(value)
	}
	return n
}

// plainTag resolves the tag of a plain scalar as yaml.v3 does.
func plainTag(s string) string {
	if s == "" {
		return "!!null"
	}
	switch c := s[0]; {
	case c == '<' && s == "<<":
		return "!!merge"
	case c >= '0' && c <= '9', c == '+', c == '-', c == '.':
		// Numbers and timestamps: let yaml.v3 resolve them.
		return (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag()
	case c == 'y' || c == 'Y' || c == 'n' || c == 'N' || c == 't' || c == 'T' ||
		c == 'f' || c == 'F' || c == 'o' || c == 'O' || c == '~':
		switch s {
		case "true", "True", "TRUE", "false", "False", "FALSE":
			return "!!bool"
		case "~", "null", "Null", "NULL":
			return "!!null"
		}
	}
	return "!!str"
}

// doubleQuoted parses a single-line double-quoted scalar at i.
func (p *fastParser) doubleQuoted(i, le int) (*yaml.Node, int) {
	j := i + 1
	for j < le && p.src[j] != '"' && p.src[j] != '\\' {
		j++
	}
	if j < le && p.src[j] == '"' {
		return p.scalar(p.src[i+1:j], i, yaml.DoubleQuotedStyle), j + 1
	}
	buf := []byte(p.src[i+1 : j])
	for j < le {
		c := p.src[j]
		switch {
		case c == '"':
			return p.scalar(string(buf), i, yaml.DoubleQuotedStyle), j + 1
		case c != '\\':
			buf = append(buf, c)
			j++
			continue
		}
		if j+1 >= le {
			fail()
		}
		switch e := p.src[j+1]; e {
		case '"', '\\':
			buf = append(buf, e)
		case 'n':
			buf = append(buf, '\n')
		case 't':
			buf = append(buf, '\t')
		case 'r':
			buf = append(buf, '\r')
		case '0':
			buf = append(buf, 0)
		case 'x', 'u':
			digits := 2
			if e == 'u' {
				digits = 4
			}
			if j+2+digits > le {
				fail()
			}
			v, err := strconv.ParseUint(p.src[j+2:j+2+digits], 16, 32)
			if err != nil || v >= 0xD800 && v <= 0xDFFF {
				fail()
			}
			buf = utf8.AppendRune(buf, rune(v))
			j += digits
		default:
			fail()
		}
		j += 2
	}
	fail()
	return nil, 0
}

// singleQuoted parses a single-line single-quoted scalar at i.
func (p *fastParser) singleQuoted(i, le int) (*yaml.Node, int) {
	var buf []byte
	from := i + 1
	for j := i + 1; j < le; j++ {
		if p.src[j] != '\'' {
			continue
		}
		if j+1 < le && p.src[j+1] == '\'' {
			buf = append(buf, p.src[from:j+1]...)
			j++
			from = j + 1
			continue
		}
		value := p.src[from:j]
		if buf != nil {
			value = string(append(buf, value...))
		}
		return p.scalar(value, i, yaml.SingleQuotedStyle), j + 1
	}
	fail()
	return nil, 0
}

// flow parses a single-line flow mapping or sequence at i.
func (p *fastParser) flow(i, le int) (*yaml.Node, int) {
	p.depth++
	if p.depth > maxFastDepth {
		fail()
	}
	defer func() { p.depth-- }()
	n := p.alloc()
	n.Line, n.Column, n.Style = p.line, p.column(i), yaml.FlowStyle
	isMap := p.src[i] == '{'
	closing := byte(']')
	if isMap {
		n.Kind, n.Tag, closing = yaml.MappingNode, "!!map", '}'
	} else {
		n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
	}
	mark := len(p.stack)
	j := p.skipSpaces(i+1, le)
	if j < le && p.src[j] == closing {
		n.Content = p.children(mark)
		return n, j + 1
	}
	for {
		if j >= le {
			fail()
		}
		if isMap {
			k, end := p.inline(j, le, true)
			if k.Kind != yaml.ScalarNode || end >= le || p.src[end] != ':' || end+1 >= le || p.src[end+1] != ' ' || end-j > 1000 {
				fail()
			}
			p.stack = append(p.stack, k)
			j = p.skipSpaces(end+1, le)
			if j >= le || p.src[j] == ',' || p.src[j] == closing {
				fail()
			}
		}
		v, end := p.inline(j, le, true)
		p.stack = append(p.stack, v)
		j = p.skipSpaces(end, le)
		if j >= le {
			fail()
		}
		switch p.src[j] {
		case closing:
			n.Content = p.children(mark)
			return n, j + 1
		case ',':
			j = p.skipSpaces(j+1, le)
			if j < le && (p.src[j] == closing || p.src[j] == ',') {
				fail()
			}
		default:
			fail()
		}
	}
}

func (p *fastParser) skipSpaces(i, le int) int {
	for i < le && p.src[i] == ' ' {
		i++
	}
	return i
}
