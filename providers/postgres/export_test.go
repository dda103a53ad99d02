package postgres

// Exported for the tests of package postgres_test.
var (
	Literal         = literal
	Ident           = ident
	PasswordMatches = passwordMatches
	FormatSCRAM     = formatSCRAM
	ParseSCRAM      = func(s string) bool { _, ok := parseSCRAM(s); return ok }
)
