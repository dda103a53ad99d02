// Package things is the file format of the convergetest provider's
// objects and its test hooks, apart from the provider, so that the tests
// that run the provider as a plugin read and change its objects without
// linking it in.
package things

// Hook files, in the provider's directory.
const (
	// HoldFile, while it exists, makes Create write <name>.creating and
	// wait before it writes the object.
	HoldFile = ".hold"
	// FailAfterCreateFile makes Create write the object, then fail.
	FailAfterCreateFile = ".fail-after-create"
)

// ProtocolEnv names the environment variable that chooses the protocol
// the plugin serves: "5" or "6" (the default).
const ProtocolEnv = "CONVERGETEST_PROTOCOL"

// Object is a thing as its file holds it, <dir>/<id>.json.
type Object struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Size             int64             `json:"size"`
	Zone             *string           `json:"zone,omitempty"`
	Secret           *string           `json:"secret,omitempty"`
	PassphraseSHA256 string            `json:"passphrase_sha256,omitempty"`
	Token            string            `json:"token"`
	Tags             map[string]string `json:"tags,omitempty"`
	Rule             []Rule            `json:"rule,omitempty"`
}

// Rule is one rule block.
type Rule struct {
	Port     int64   `json:"port"`
	Protocol *string `json:"protocol,omitempty"`
}
