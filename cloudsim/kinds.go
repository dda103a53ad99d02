package cloudsim

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Kind names, as used in the audit, the object dump and expectations.
const (
	KindNetwork       = "Network"
	KindSubnet        = "Subnet"
	KindSecurityGroup = "SecurityGroup"
	KindInstance      = "Instance"
	KindLoadBalancer  = "LoadBalancer"
	KindDNSRecord     = "DNSRecord"
	KindBucket        = "Bucket"
)

// fieldType is the JSON shape a field accepts.
type fieldType int

const (
	typeString fieldType = iota
	typeInt
	typeBool
	typeStrings // array of strings
	typeRules   // array of security group rules
)

// field describes one client-settable field of a kind.
type field struct {
	name      string
	typ       fieldType
	required  bool
	immutable bool
	// ref names the kind a typeString (one ID) or typeStrings (IDs) field
	// points to; empty when the field is not a reference.
	ref string
	// check validates the decoded value; nil accepts anything of the type.
	check func(v any) error
	// def is the value stored when the field is absent on create; nil means
	// stay absent.
	def any
}

// kind describes one collection.
type kind struct {
	name       string // "Network"
	collection string // "networks"
	idPrefix   string // "net-"
	// provisioned kinds are pending for Config.ProvisionDelay after creation.
	provisioned bool
	fields      []field
	// check validates a whole object against the current state (cross-object
	// rules beyond reference existence); nil when the kind has none.
	check func(st *state, obj map[string]any) error
}

// readOnly fields are set by the server. Clients may send them back (a GET,
// modify, PUT round trip); they are ignored.
var readOnly = map[string]bool{
	"id": true, "state": true, "createdAt": true, "updatedAt": true, "dnsName": true,
}

var (
	kinds = []*kind{
		{
			name: KindNetwork, collection: "networks", idPrefix: "net-",
			fields: []field{
				{name: "name", typ: typeString, required: true, check: checkName},
				{name: "cidr", typ: typeString, required: true, immutable: true, check: checkCIDR},
			},
		},
		{
			name: KindSubnet, collection: "subnets", idPrefix: "subnet-",
			fields: []field{
				{name: "name", typ: typeString, required: true, check: checkName},
				{name: "networkId", typ: typeString, required: true, immutable: true, ref: KindNetwork},
				{name: "cidr", typ: typeString, required: true, immutable: true, check: checkCIDR},
			},
			check: checkSubnet,
		},
		{
			name: KindSecurityGroup, collection: "securitygroups", idPrefix: "sg-",
			fields: []field{
				{name: "name", typ: typeString, required: true, check: checkName},
				{name: "networkId", typ: typeString, required: true, immutable: true, ref: KindNetwork},
				{name: "rules", typ: typeRules},
			},
		},
		{
			name: KindInstance, collection: "instances", idPrefix: "i-", provisioned: true,
			fields: []field{
				{name: "name", typ: typeString, required: true, check: checkName},
				{name: "subnetId", typ: typeString, required: true, immutable: true, ref: KindSubnet},
				{name: "image", typ: typeString, required: true, immutable: true, check: checkNonEmpty},
				{name: "size", typ: typeString, required: true, check: checkOneOf("nano", "small", "medium", "large", "xlarge")},
				{name: "securityGroupIds", typ: typeStrings, ref: KindSecurityGroup},
			},
			check: checkInstance,
		},
		{
			name: KindLoadBalancer, collection: "loadbalancers", idPrefix: "lb-", provisioned: true,
			fields: []field{
				{name: "name", typ: typeString, required: true, check: checkName},
				{name: "subnetIds", typ: typeStrings, required: true, ref: KindSubnet, check: checkNonEmptyList},
				{name: "instanceIds", typ: typeStrings, ref: KindInstance},
				{name: "port", typ: typeInt, required: true, check: checkRange(1, 65535)},
			},
		},
		{
			name: KindDNSRecord, collection: "dnsrecords", idPrefix: "dns-",
			fields: []field{
				{name: "name", typ: typeString, required: true, check: checkHostname},
				{name: "type", typ: typeString, required: true, check: checkOneOf("A", "AAAA", "CNAME", "TXT")},
				{name: "value", typ: typeString, required: true, check: checkNonEmpty},
				{name: "ttl", typ: typeInt, check: checkRange(1, 86400), def: int64(300)},
			},
			check: checkDNSRecord,
		},
		{
			name: KindBucket, collection: "buckets", idPrefix: "bkt-",
			fields: []field{
				{name: "name", typ: typeString, required: true, check: checkBucketName},
				{name: "versioning", typ: typeBool, def: false},
			},
		},
	}
	kindsByCollection = map[string]*kind{}
	kindsByName       = map[string]*kind{}
)

func init() {
	for _, k := range kinds {
		kindsByCollection[k.collection] = k
		kindsByName[k.name] = k
	}
}

// Kinds returns the kind names cloudsim serves, in dependency order.
func Kinds() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	return names
}

// lookupKind finds a kind by its name ("Network") or collection ("networks"),
// ignoring case.
func lookupKind(s string) (*kind, bool) {
	for _, k := range kinds {
		if strings.EqualFold(s, k.name) || strings.EqualFold(s, k.collection) {
			return k, true
		}
	}
	return nil, false
}

func (k *kind) field(name string) (field, bool) {
	for _, f := range k.fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// decodeFields checks the client fields of body against k: read-only fields
// are dropped, unknown fields are a bad request, and every value is
// converted to its stored Go type (string, int64, bool, []any of strings, or
// []any of rule objects). A JSON null is kept as nil (a merge-patch delete).
func (k *kind) decodeFields(body map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(body))
	for name, v := range body {
		if readOnly[name] {
			continue
		}
		f, ok := k.field(name)
		if !ok {
			return nil, badRequestf("unknown field %q for %s", name, k.name)
		}
		if v == nil {
			out[name] = nil
			continue
		}
		cv, err := convert(f, v)
		if err != nil {
			return nil, unprocessablef("field %q: %v", name, err)
		}
		out[name] = cv
	}
	return out, nil
}

// convert checks that v has f's JSON type and returns its stored form.
func convert(f field, v any) (any, error) {
	switch f.typ {
	case typeString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("must be a string")
		}
		return s, nil
	case typeInt:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("must be an integer")
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("must be an integer")
		}
		return i, nil
	case typeBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("must be a boolean")
		}
		return b, nil
	case typeStrings:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("must be an array of strings")
		}
		out := make([]any, len(list))
		for i, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("must be an array of strings")
			}
			out[i] = s
		}
		return out, nil
	case typeRules:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("must be an array of rules")
		}
		out := make([]any, len(list))
		for i, e := range list {
			r, err := convertRule(e)
			if err != nil {
				return nil, fmt.Errorf("rule %d: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported field type %d", f.typ)
}

// convertRule validates one security group rule:
// {"direction": "ingress"|"egress", "protocol": "tcp"|"udp"|"icmp"|"all",
// "port": 0-65535, "cidr": "10.0.0.0/8"}. protocol and cidr are required.
func convertRule(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be an object")
	}
	out := make(map[string]any, len(m))
	for key, val := range m {
		switch key {
		case "direction", "protocol", "cidr":
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("%s must be a string", key)
			}
			out[key] = s
		case "port":
			n, ok := val.(json.Number)
			if !ok {
				return nil, fmt.Errorf("port must be an integer")
			}
			i, err := n.Int64()
			if err != nil || i < 0 || i > 65535 {
				return nil, fmt.Errorf("port must be an integer in [0, 65535]")
			}
			out[key] = i
		default:
			return nil, fmt.Errorf("unknown field %q", key)
		}
	}
	if d, ok := out["direction"]; ok && d != "ingress" && d != "egress" {
		return nil, fmt.Errorf("direction must be ingress or egress, not %q", d)
	}
	p, ok := out["protocol"].(string)
	if !ok {
		return nil, fmt.Errorf("protocol is required")
	}
	if !slices.Contains([]string{"tcp", "udp", "icmp", "all"}, p) {
		return nil, fmt.Errorf("protocol must be tcp, udp, icmp or all, not %q", p)
	}
	c, ok := out["cidr"].(string)
	if !ok {
		return nil, fmt.Errorf("cidr is required")
	}
	if err := checkCIDR(c); err != nil {
		return nil, err
	}
	return out, nil
}

// validate checks a complete object of kind k (client fields only): required
// fields, value checks, references to live objects, and cross-object rules.
func (k *kind) validate(st *state, obj map[string]any) error {
	for _, f := range k.fields {
		v, ok := obj[f.name]
		if !ok || v == nil {
			if f.required {
				return unprocessablef("field %q is required", f.name)
			}
			continue
		}
		if f.check != nil {
			if err := f.check(v); err != nil {
				return unprocessablef("field %q: %v", f.name, err)
			}
		}
		if f.ref == "" {
			continue
		}
		for _, id := range refIDs(v) {
			if _, ok := st.live(f.ref, id); !ok {
				return unprocessablef("field %q: %s %q does not exist", f.name, f.ref, id)
			}
		}
	}
	if k.check != nil {
		return k.check(st, obj)
	}
	return nil
}

// refIDs returns the IDs a reference field value holds.
func refIDs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		ids := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				ids = append(ids, s)
			}
		}
		return ids
	}
	return nil
}

var (
	nameRe       = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$`)
	hostLabelRe  = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	bucketNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
)

func checkName(v any) error {
	if !nameRe.MatchString(v.(string)) {
		return fmt.Errorf("%q is not a valid name (1-63 letters, digits, '.', '_' or '-', starting with a letter or digit)", v)
	}
	return nil
}

func checkNonEmpty(v any) error {
	if v.(string) == "" {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

func checkNonEmptyList(v any) error {
	if len(v.([]any)) == 0 {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

func checkCIDR(v any) error {
	s, _ := v.(string)
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q is not a CIDR block", s)
	}
	if p.Masked() != p {
		return fmt.Errorf("%q has host bits set (want %s)", s, p.Masked())
	}
	return nil
}

func checkOneOf(allowed ...string) func(any) error {
	return func(v any) error {
		if !slices.Contains(allowed, v.(string)) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
		}
		return nil
	}
}

func checkRange(lo, hi int64) func(any) error {
	return func(v any) error {
		if n := v.(int64); n < lo || n > hi {
			return fmt.Errorf("%d is not in [%d, %d]", n, lo, hi)
		}
		return nil
	}
}

func checkHostname(v any) error {
	s := strings.TrimSuffix(v.(string), ".")
	if s == "" || len(s) > 253 {
		return fmt.Errorf("%q is not a DNS name", v)
	}
	for _, label := range strings.Split(s, ".") {
		if !hostLabelRe.MatchString(label) {
			return fmt.Errorf("%q is not a DNS name", v)
		}
	}
	return nil
}

func checkBucketName(v any) error {
	if !bucketNameRe.MatchString(v.(string)) {
		return fmt.Errorf("%q is not a valid bucket name (3-63 lowercase letters, digits or '-')", v)
	}
	return nil
}

// checkSubnet requires the subnet's CIDR to lie inside its network's.
func checkSubnet(st *state, obj map[string]any) error {
	netObj, _ := st.live(KindNetwork, obj["networkId"].(string))
	outer := netip.MustParsePrefix(netObj["cidr"].(string))
	inner := netip.MustParsePrefix(obj["cidr"].(string))
	if inner.Bits() < outer.Bits() || !outer.Contains(inner.Addr()) {
		return unprocessablef("field \"cidr\": %s is not inside network %s (%s)", inner, obj["networkId"], outer)
	}
	return nil
}

// checkInstance requires the instance's security groups to belong to the
// network of its subnet.
func checkInstance(st *state, obj map[string]any) error {
	sub, _ := st.live(KindSubnet, obj["subnetId"].(string))
	netID := sub["networkId"]
	for _, id := range refIDs(obj["securityGroupIds"]) {
		sg, _ := st.live(KindSecurityGroup, id)
		if sg["networkId"] != netID {
			return unprocessablef("field \"securityGroupIds\": security group %s is in network %s, the subnet is in %s", id, sg["networkId"], netID)
		}
	}
	return nil
}

// checkDNSRecord checks the value against the record type.
func checkDNSRecord(_ *state, obj map[string]any) error {
	val := obj["value"].(string)
	switch obj["type"] {
	case "A":
		if a, err := netip.ParseAddr(val); err != nil || !a.Is4() {
			return unprocessablef("field \"value\": %q is not an IPv4 address", val)
		}
	case "AAAA":
		if a, err := netip.ParseAddr(val); err != nil || !a.Is6() || a.Is4In6() {
			return unprocessablef("field \"value\": %q is not an IPv6 address", val)
		}
	case "CNAME":
		if err := checkHostname(val); err != nil {
			return unprocessablef("field \"value\": %v", err)
		}
	}
	return nil
}
