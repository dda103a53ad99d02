// Package manifest loads converge manifests (YAML documents shaped like
// Kubernetes objects) into a validated, content-hashed Revision, and turns
// the references between resources into values once their targets are Ready.
//
// A document:
//
//	apiVersion: converge/v1          # optional
//	kind: file.File                  # provider-qualified kind
//	metadata: {name: index, labels: {app: site}}
//	dependsOn: [file.Directory/www]  # IDs: kind/name
//	policy: {drift: correct, deletion: delete}
//	spec:
//	  path: ${file.Directory/www.outputs.path}/index.html
//	  content: "price: $${not a reference}"
//
// Guarantees:
//   - Every problem at once: Load returns an ErrorList holding every error
//     found, each naming the file, line, resource and field, sorted by file
//     and line; it never returns a partial Revision.
//   - Deterministic: files are read in sorted order and the same content gives
//     the same Revision and the same hashes, whatever the file layout or the
//     order of documents.
//   - A Revision is valid as a whole: kinds are known, specs pass their
//     schema, every dependsOn and reference names an existing resource and a
//     declared output, and there is no cycle.
//   - Symlinks are followed, to directories and files, as the -f path or
//     inside a directory; a broken link and a loop are errors naming the
//     link, never skipped; a file reached twice is read once. WatchPaths
//     names every directory a watcher needs to see a change.
//   - Bounded: a load reads at most MaxFileBytes (64 MiB) of one file and
//     MaxTotalBytes (256 MiB) in all, and YAML aliases expand to at most
//     MaxAliasBytes (64 MiB) in all; past a limit it fails, naming the file
//     (and the line of the alias).
//
// Parsing: a file written in the plain subset of YAML manifests use (block
// maps and lists, one-line flow collections and quoted strings, comments) is
// read by a small built-in parser; any other file is read by yaml.v3. Both
// give the same nodes, so results, errors and lines do not depend on which
// one read a file (a differential test and a fuzz test check it).
//
// Spec strings are templates: ${KIND/NAME.outputs.FIELD} is a reference to
// an output of another resource (and a dependency on it), and $${ stands for
// a literal ${. Resource.Spec keeps them as written; Resolve substitutes
// them.
package manifest
