package cloud

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/convergehq/converge/provider"
)

// Kind names.
const (
	KindNetwork       = "cloud.Network"
	KindSubnet        = "cloud.Subnet"
	KindSecurityGroup = "cloud.SecurityGroup"
	KindInstance      = "cloud.Instance"
	KindLoadBalancer  = "cloud.LoadBalancer"
	KindDNSRecord     = "cloud.DNSRecord"
	KindBucket        = "cloud.Bucket"
)

// commonOutputs are the outputs of every kind.
var commonOutputs = []string{"id", "name", "state"}

// kind describes one managed kind: its schema and where and how its objects
// live in the API.
type kind struct {
	schema     provider.Schema
	collection string // "networks": the objects live under /v1/{collection}
	// mutable are the fields an update sends (PATCH); the others are
	// ForceNew and only sent on create.
	mutable []string
	// extraOutputs are server-set fields exposed as outputs beyond the spec
	// fields ("dnsName").
	extraOutputs []string
}

// kinds lists every kind, in dependency order.
var kinds = []*kind{
	{
		collection: "networks",
		mutable:    []string{"name"},
		schema: provider.Schema{
			Kind:        KindNetwork,
			Description: "A virtual network: an address space that subnets and security groups live in.",
			Fields: map[string]provider.Field{
				"name": nameField(checkName),
				"cidr": {Type: provider.String, Required: true, ForceNew: true, Validate: checkCIDR,
					Description: "the network's address space, such as 10.0.0.0/16; changing it replaces the network"},
			},
		},
	},
	{
		collection: "subnets",
		mutable:    []string{"name"},
		schema: provider.Schema{
			Kind:        KindSubnet,
			Description: "A subnet of a network.",
			Fields: map[string]provider.Field{
				"name": nameField(checkName),
				"networkId": {Type: provider.String, Required: true, ForceNew: true,
					Description: "id of the network; changing it replaces the subnet"},
				"cidr": {Type: provider.String, Required: true, ForceNew: true, Validate: checkCIDR,
					Description: "the subnet's range, inside the network's; changing it replaces the subnet"},
			},
		},
	},
	{
		collection: "securitygroups",
		mutable:    []string{"name", "rules"},
		schema: provider.Schema{
			Kind:        KindSecurityGroup,
			Description: "A set of firewall rules in one network.",
			Fields: map[string]provider.Field{
				"name": nameField(checkName),
				"networkId": {Type: provider.String, Required: true, ForceNew: true,
					Description: "id of the network; changing it replaces the group"},
				"rules": {Type: provider.List, Default: []any{}, Validate: checkRules,
					Description: `rules: {direction: ingress|egress, protocol: tcp|udp|icmp|all, port: 0-65535, cidr}; protocol and cidr are required`},
			},
		},
	},
	{
		collection: "instances",
		mutable:    []string{"name", "size", "securityGroupIds"},
		schema: provider.Schema{
			Kind:        KindInstance,
			Description: "A virtual machine in a subnet. Ready once it is running.",
			Fields: map[string]provider.Field{
				"name": nameField(checkName),
				"subnetId": {Type: provider.String, Required: true, ForceNew: true,
					Description: "id of the subnet; changing it replaces the instance"},
				"image": {Type: provider.String, Required: true, ForceNew: true, Validate: checkNonEmpty,
					Description: "the machine image; changing it replaces the instance"},
				"size": {Type: provider.String, Required: true, Validate: checkOneOf("nano", "small", "medium", "large", "xlarge"),
					Description: "nano, small, medium, large or xlarge; changes in place"},
				"securityGroupIds": {Type: provider.List, Default: []any{}, Validate: checkIDs,
					Description: "ids of security groups in the subnet's network"},
			},
		},
	},
	{
		collection:   "loadbalancers",
		mutable:      []string{"name", "subnetIds", "instanceIds", "port"},
		extraOutputs: []string{"dnsName"},
		schema: provider.Schema{
			Kind:        KindLoadBalancer,
			Description: "A load balancer over instances. Ready once it is running; its dnsName output is the name clients use.",
			Fields: map[string]provider.Field{
				"name": nameField(checkName),
				"subnetIds": {Type: provider.List, Required: true, Validate: checkNonEmptyIDs,
					Description: "ids of the subnets it serves (at least one)"},
				"instanceIds": {Type: provider.List, Default: []any{}, Validate: checkIDs,
					Description: "ids of the instances behind it"},
				"port": {Type: provider.Int, Required: true, Validate: checkRange(1, 65535),
					Description: "the port it listens on, 1-65535"},
			},
		},
	},
	{
		collection: "dnsrecords",
		mutable:    []string{"name", "type", "value", "ttl"},
		schema: provider.Schema{
			Kind:        KindDNSRecord,
			Description: "A DNS record.",
			Fields: map[string]provider.Field{
				"name": nameField(checkHostname),
				"type": {Type: provider.String, Required: true, Validate: checkOneOf("A", "AAAA", "CNAME", "TXT"),
					Description: "A, AAAA, CNAME or TXT"},
				"value": {Type: provider.String, Required: true, Validate: checkNonEmpty,
					Description: "an IPv4 address (A), an IPv6 address (AAAA), a DNS name (CNAME) or text (TXT)"},
				"ttl": {Type: provider.Int, Default: int64(300), Validate: checkRange(1, 86400),
					Description: "time to live in seconds, 1-86400"},
			},
		},
	},
	{
		collection: "buckets",
		mutable:    []string{"name", "versioning"},
		schema: provider.Schema{
			Kind:        KindBucket,
			Description: "An object storage bucket.",
			Fields: map[string]provider.Field{
				"name": nameField(checkBucketName),
				"versioning": {Type: provider.Bool, Default: false,
					Description: "keep every version of every object"},
			},
		},
	},
}

// kindsByName indexes kinds by kind name.
var kindsByName = func() map[string]*kind {
	m := make(map[string]*kind, len(kinds))
	for _, k := range kinds {
		k.schema.Outputs = k.outputs()
		// Objects are identified by their id, so a replaced object and its
		// replacement can live side by side while dependents move over.
		k.schema.CreateBeforeDestroyIfDepended = true
		m[k.schema.Kind] = k
	}
	return m
}()

// outputs returns the kind's declared outputs: id, name, state, its spec
// fields and its extra outputs, without duplicates, in that order.
func (k *kind) outputs() []string {
	out := slices.Clone(commonOutputs)
	for _, f := range k.schema.FieldNames() {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return append(out, k.extraOutputs...)
}

// nameField is the name field of every kind: optional, since the resource's
// metadata.name stands in when it is absent.
func nameField(check func(any) error) provider.Field {
	return provider.Field{Type: provider.String, Validate: check,
		Description: "the object's name in the cloud; default: the resource's metadata.name"}
}

var (
	nameRe       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	hostLabelRe  = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	bucketNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
)

func checkName(v any) error {
	if !nameRe.MatchString(v.(string)) {
		return fmt.Errorf("%q is not a valid name (1-63 letters, digits, '.', '_' or '-', starting with a letter or digit)", v)
	}
	return nil
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

func checkNonEmpty(v any) error {
	if v.(string) == "" {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

func checkCIDR(v any) error {
	s := v.(string)
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

// checkRange accepts the integer forms Schema.Check lets through (int,
// int64, integral float64).
func checkRange(lo, hi int64) func(any) error {
	return func(v any) error {
		n, ok := provider.Canonical(v).(int64)
		if !ok {
			return fmt.Errorf("must be an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is not in [%d, %d]", n, lo, hi)
		}
		return nil
	}
}

// checkIDs requires a list of strings; elements that are references not
// resolved yet are accepted.
func checkIDs(v any) error {
	for i, e := range v.([]any) {
		if provider.IsUnknown(e) {
			continue
		}
		if s, ok := e.(string); !ok || s == "" {
			return fmt.Errorf("[%d]: must be a non-empty string (an id)", i)
		}
	}
	return nil
}

func checkNonEmptyIDs(v any) error {
	if len(v.([]any)) == 0 {
		return fmt.Errorf("must not be empty")
	}
	return checkIDs(v)
}

// checkRules validates security group rules as the API does.
func checkRules(v any) error {
	for i, e := range v.([]any) {
		if provider.IsUnknown(e) {
			continue
		}
		if err := checkRule(e); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

func checkRule(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("must be a map with protocol, cidr and optionally direction and port")
	}
	for _, k := range provider.SortedKeys(m) {
		val := m[k]
		if provider.IsUnknown(val) {
			continue
		}
		switch k {
		case "direction":
			if val != "ingress" && val != "egress" {
				return fmt.Errorf("direction must be ingress or egress, not %v", val)
			}
		case "protocol":
			if s, ok := val.(string); !ok || !slices.Contains([]string{"tcp", "udp", "icmp", "all"}, s) {
				return fmt.Errorf("protocol must be tcp, udp, icmp or all, not %v", val)
			}
		case "port":
			if err := checkRange(0, 65535)(val); err != nil {
				return fmt.Errorf("port: %w", err)
			}
		case "cidr":
			s, ok := val.(string)
			if !ok {
				return fmt.Errorf("cidr must be a string")
			}
			if err := checkCIDR(s); err != nil {
				return fmt.Errorf("cidr: %w", err)
			}
		default:
			return fmt.Errorf("unknown field %q (known: cidr, direction, port, protocol)", k)
		}
	}
	for _, k := range []string{"protocol", "cidr"} {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("%s is required", k)
		}
	}
	return nil
}
