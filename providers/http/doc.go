// Package httpprovider is converge's generic REST provider: any JSON API
// that keeps objects in a collection (POST url, GET/PUT/PATCH/DELETE
// url/{id}) is managed as resources of kind http.Resource.
//
// The package is named httpprovider so that it does not shadow net/http;
// its provider name (the kind prefix) is "http".
//
// Guarantees:
//   - Observe only ever sends GET requests.
//   - One logical create never makes two objects: the POST carries an
//     Idempotency-Key header that the engine keeps stable across retries and
//     restarts; with adoptBy, an existing object whose adoptBy field matches
//     is found by listing the collection before a create and after a 409,
//     and adopted instead of created again.
//   - Read-after-write lag never leads to a second create: a 404 on the read
//     of an object created less than the grace period ago (default 10s) is
//     reported as not ready, not as absent.
//   - Only the keys declared in spec.body are compared: fields the server
//     adds are neither changes nor drift.
//   - Header values are sensitive: ${env:NAME} in them is expanded from the
//     environment at call time only (the spec keeps the reference), and
//     only where the manifest wrote it: never in a value an output put
//     there, nor in an escaped $${env:NAME}.
//   - No header value, variable value or URL password appears in an error,
//     even when the server echoes it, JSON-escaped, URL-encoded,
//     HTML-escaped or in base64 (see package secret); URLs are shown
//     without their password, and server text is made printable (no
//     control character or escape sequence reaches a message).
//   - No redirect is followed unless the ProviderConfig says
//     followRedirects: same-origin, and then only to the same scheme, host
//     and port: headers are only ever sent to the origin of spec.url. A
//     redirect not followed is a terminal error naming where it pointed.
//   - After a 429, no request reaches that host until its Retry-After has
//     passed: calls fail fast with a rate-limited error instead.
//
// Status codes: 2xx is success; 404 on a read is absent and on a delete is
// already gone; 429 is rate limited (Retry-After in seconds or as an HTTP
// date); 5xx, 408, 425, connection errors and timeouts are retryable; 409 on
// a create is a conflict (unless adoptBy finds the object), elsewhere
// retryable (a dependent still exists, a concurrent edit); any other 4xx is
// terminal and carries the server's message.
package httpprovider
