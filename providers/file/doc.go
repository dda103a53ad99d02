// Package file is converge's provider for local files: directories, regular
// files and symbolic links under one root directory.
//
// Kinds: file.Directory, file.File and file.Symlink. Paths in specs are
// relative to the root, or absolute inside it; outputs.path is always the
// cleaned path relative to the root ("site/www"), so another resource can
// build on it: "${file.Directory/www.outputs.path}/index.html".
//
// Guarantees:
//   - Nothing outside the root is ever read or written. Every operation
//     re-checks that the cleaned path lies inside the root and that its
//     existing parent directories, with symbolic links resolved, stay inside
//     it; a symbolic link placed by hand that leads out is a terminal error
//     and is never followed. Paths and symlink targets are resolved as the
//     kernel resolves them, component by component, following links (40 at
//     most), never as strings. A symlink target that resolves outside the
//     root is refused the same way, and so is one with ".." after a name,
//     which a link made later could lead out: no link converge makes can
//     lead another out. Operations then go through an os.Root, so a
//     directory swapped for an escaping link between the check and the write
//     is refused by the kernel-level lookup too.
//   - Writes are atomic and durable: content goes to a temporary file in the
//     same directory, which is fsynced, given its mode and renamed over the
//     target before the directory is fsynced. A reader sees the old content
//     or the new one, never a mix. Symlinks are replaced the same way.
//   - converge acts on the object it made, where it made it: Create
//     records its real path (Private["id"]), and Observe and Delete go
//     there. A path that leads elsewhere since (a link on it retargeted)
//     is observed as a changed path, which the engine replaces; a new path
//     leading to the very object is the same object.
//   - Parent directories are never created implicitly: declare a
//     file.Directory and depend on it. A missing parent is retryable.
//   - Directories are never removed recursively. Deleting one removes the
//     temporary files converge's own writes left in it (recognised by a
//     tag in their name, never by a look-alike name) and fails at once,
//     terminally, naming what else it holds.
//   - Observe never writes, and streams a file through a small buffer
//     (hashing and comparing it), so memory does not grow with its size.
//     A file.File's content is at most MaxContent (64 MiB).
//   - Every operation is idempotent.
//   - A running engine hears of hand edits at once (Watch, Notify; see
//     notify.go): every directory on the way from the root to each managed
//     object is watched (inotify on Linux), and a change to an object, or
//     to what a directory on its path leads to, notifies its resource. The
//     engine's own writes are notified too, and cost one Observe each.
//
// Errors: an object of the wrong type at a path is a conflict; escapes,
// permission errors, read-only file systems and a directory holding entries
// converge does not manage are terminal; a missing parent and a full disk
// are retryable.
package file
