// Package cloud is converge's provider for the simulated cloud of package
// cloudsim (and any API that speaks its protocol): typed kinds with schemas,
// so that a change the API cannot make in place (an instance's image, a
// subnet's CIDR) is planned as a replace, not attempted as an update.
//
// Kinds (provider name "cloud"): cloud.Network, cloud.Subnet,
// cloud.SecurityGroup, cloud.Instance, cloud.LoadBalancer, cloud.DNSRecord
// and cloud.Bucket. Spec fields carry the API's JSON names; the object's
// name defaults to the resource's metadata.name.
//
// Guarantees:
//   - Every method is idempotent, and Observe only sends GET requests.
//   - One logical create never makes two objects: the POST carries the
//     engine's idempotency key (stable across retries and restarts), and a
//     resource with no recorded id (a create whose outcome is unknown) is
//     found by listing ?name= and adopting the one live object with that
//     name; two such objects are a conflict, never a guess.
//   - Read-after-write lag never leads to a second create: a 404 on the read
//     of an object created less than the grace period ago (default 10s) is
//     "not ready", not "absent".
//   - Updates PATCH only the mutable fields; immutable (ForceNew) fields are
//     never sent after the create.
//   - Destroy-before-create on replace (the default): names are unique, so
//     creating the new object first would make a duplicate.
//   - No redirect is followed unless the ProviderConfig says
//     followRedirects: same-origin, and then only to the base URL's scheme,
//     host and port; a redirect not followed is a terminal error naming
//     where it pointed. The base URL's password is never printed, and
//     server text is made printable before it enters a message.
//
// Status codes: 2xx is success; 404 on a read is absent (see the grace
// period) and on a delete is already gone; 409 on a delete (the object is
// still referenced) and on an update is retryable; 409 on a create (a
// server that rejects duplicate names) adopts the one object with that name;
// 429 is rate limited with the server's Retry-After; 5xx, connection errors
// and timeouts are retryable; any other 4xx is terminal and carries the
// server's message.
package cloud
