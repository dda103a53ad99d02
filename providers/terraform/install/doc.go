// Package install finds Terraform and OpenTofu provider plugins that are
// already on the local disk, verifies them and makes them ready to run.
// Nothing is ever downloaded.
//
// Providers are looked up in directories laid out as Terraform's filesystem
// mirror, in either of its two layouts:
//
//	HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION   (unpacked)
//	HOST/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_OS_ARCH.zip        (packed)
//
// A Terraform plugin cache (TF_PLUGIN_CACHE_DIR) uses the unpacked layout and
// works as it is. The directories searched are the --plugin-dir ones, then
// CONVERGE_PLUGIN_DIR, then the ones Terraform and OpenTofu search by default
// (see DefaultDirs).
//
// Guarantees:
//   - Only packages for the running GOOS_GOARCH are ever chosen.
//   - The newest version that satisfies the constraint wins; a prerelease is
//     chosen only when the constraint names it exactly, as in Terraform. Among
//     copies of one version the first directory searched wins, and in one
//     directory an unpacked copy wins over a packed one.
//   - With a lock, only the locked version is taken, and only when one of its
//     hashes is one of the locked hashes. A packed package is checked before
//     it is extracted.
//   - Hashes are Terraform's: h1: (golang.org/x/mod/sumdb/dirhash Hash1 over
//     the package's files, equal for a zip and its extraction) and zh: (the
//     SHA-256 of the zip file), so the hashes of a .terraform.lock.hcl can be
//     compared with those of converge.lock.
//   - A packed package is extracted into the caller's cache directory
//     atomically (a temporary directory renamed into place) and safely: no
//     entry may leave the target, symbolic links and device files are
//     refused, and sizes are bounded per entry and in total. A later call
//     reuses the extraction when its hash still matches.
//   - converge.lock is written atomically: a temporary file in the same
//     directory, synced, then renamed over the old one.
//
// Errors that only the user can fix (nothing installed matches, a hash or
// version that the lock refuses, a bad source address or constraint) are
// provider.Terminal and wrap one of ErrNotFound, ErrNotLocked, ErrLockStale,
// ErrHashMismatch, ErrUnsafeArchive or ErrInvalid, to be told apart with
// errors.Is. Other I/O errors are left unclassified (retryable).
package install
