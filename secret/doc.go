// Package secret keeps sensitive values out of what converge prints and
// stores: a Redactor removes them from text, a Sealer encrypts them for the
// state file, and Handler redacts log records.
//
// Guarantees:
//   - Redact replaces every occurrence of a secret with "(sensitive)", also
//     inside a longer string and in the forms a server may echo it in:
//     JSON-escaped (\", \/, \u0022, \u00e9, surrogate pairs, upper or lower
//     case hex, and JSON escaped twice), URL-encoded (percent-encoding in
//     upper or lower case, + for a space, and encoded twice),
//     HTML-escaped (&quot;, &#34;, &#x22;), base64 (standard and URL
//     alphabets, padded or not, when the secret starts the encoded data),
//     and with its runs of white space folded into one space.
//   - A header-like secret "Scheme credential" ("Bearer abc...", "Basic
//     dXNlcjpwYXNz") also hides its credential alone, and a Basic one its
//     decoded "user:password" and password.
//   - Secrets shorter than MinLen bytes are not redacted: replacing them
//     would mangle every message and hide next to nothing (a 3-byte secret
//     is guessed anyway). Neither are secrets found inside the placeholder
//     itself, so that redacting twice gives the same text.
//   - Forms are recognized one at a time: a secret half percent-encoded and
//     half JSON-escaped is not.
//   - Seal is deterministic for one key, place and value, so that writing
//     the same record twice writes the same bytes; Open authenticates, so a
//     wrong key or an altered value is an error, never garbage.
package secret
