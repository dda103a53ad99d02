package postgres

// Exported for the tests of package postgres_test.
var (
	Literal         = literal
	Ident           = ident
	PasswordMatches = passwordMatches
	FormatSCRAM     = formatSCRAM
	ParseSCRAM      = func(s string) bool { _, ok := parseSCRAM(s); return ok }
)

// Classify is classify, for the table of SQLSTATEs.
func Classify(err error, secrets ...string) error { return classify(err, "call", true, secrets...) }
