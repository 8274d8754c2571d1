package controllers

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/mailserver/config"
	"github.com/kubemail/kubemail/mailserver/mail"
)

// configInput is everything one MailServer's configuration is compiled from.
type configInput struct {
	// server is the MailServer.
	server *mailv1.MailServer
	// objects are the mail objects of its namespace.
	objects snapshot
	// verdicts are judge(objects).
	verdicts *judgement
	// passwordHashes maps a Mailbox name to its password hash; a Mailbox
	// without one is left out until its reconciler has stored it.
	passwordHashes map[string]string
	// dkimKeys holds the domain names whose DKIM key is in the server's DKIM
	// Secret (dkimBundleSecretName), mounted at dkimMountPath.
	dkimKeys map[string]bool
	// relay is the RelayPolicy that applies, with its credentials in the
	// server's relay Secret; nil for direct delivery and no relaying.
	relay *mailv1.RelayPolicy
}

// compiled is a server configuration and what went into it.
type compiled struct {
	config *config.Config
	// domains, mailboxes and aliases name the objects served.
	domains, mailboxes, aliases []string
}

// compileConfig builds and validates the configuration of in.server. It
// leaves out every object the judge refused and every Mailbox whose
// password hash is not known yet. An error means the rest does not make a
// valid configuration; its text names the fields (never a password hash).
func compileConfig(in configInput) (*compiled, error) {
	ms := in.server
	out := &compiled{}
	c := config.Config{
		APIVersion: config.APIVersion,
		Kind:       config.Kind,
		Hostname:   string(ms.Spec.Hostname),
		Listeners:  listeners(ms),
		TLS:        config.TLS{CertFile: tlsCertFile, KeyFile: tlsKeyFile},
		Storage:    config.Storage{Driver: storageDriver(ms.Spec.Storage.Type), Path: dataMountPath},
		Limits:     limits(ms.Spec.Limits),
	}
	if in.relay != nil {
		c.Relay, c.Outbound = relayConfig(in.relay)
	}
	for _, cidr := range ms.Spec.Service.TrustedCIDRs {
		c.ProxyProtocol.TrustedCIDRs = append(c.ProxyProtocol.TrustedCIDRs, string(cidr))
	}

	served := map[string]bool{} // domain names
	for i := range in.objects.domains {
		d := &in.objects.domains[i]
		if d.Spec.ServerRef.Name != ms.Name || !in.verdicts.domainServed(d.Name) {
			continue
		}
		name := string(d.Spec.Domain)
		served[name] = true
		cd := config.Domain{Name: name, QuotaBytes: quantityBytes(d.Spec.DefaultQuota), CatchAll: config.Targets(in.verdicts.catchAll[name])}
		if in.dkimKeys[name] {
			cd.DKIM = &config.DKIM{Selector: dkimSelector(d), KeyFile: dkimKeyFile(name)}
		}
		c.Domains = append(c.Domains, cd)
		out.domains = append(out.domains, d.Name)
	}
	for i := range in.objects.mailboxes {
		m := &in.objects.mailboxes[i]
		hash, ok := in.passwordHashes[m.Name]
		if !ok || !served[mail.Domain(string(m.Spec.Address))] || !in.verdicts.mailboxServed(m.Name) {
			continue
		}
		c.Mailboxes = append(c.Mailboxes, mailboxConfig(m, hash))
		out.mailboxes = append(out.mailboxes, m.Name)
	}
	for i := range in.objects.aliases {
		a := &in.objects.aliases[i]
		if !served[mail.Domain(a.Spec.Address)] || !in.verdicts.aliasServed(a.Name) {
			continue
		}
		out.aliases = append(out.aliases, a.Name)
		if a.Spec.Address[0] == '@' {
			continue // compiled as its domain's catchAll
		}
		ca := config.Alias{Address: a.Spec.Address}
		for _, t := range a.Spec.Targets {
			ca.Targets = append(ca.Targets, string(t))
		}
		c.Aliases = append(c.Aliases, ca)
	}
	sort.Slice(c.Domains, func(a, b int) bool { return c.Domains[a].Name < c.Domains[b].Name })
	sort.Slice(c.Mailboxes, func(a, b int) bool { return c.Mailboxes[a].Address < c.Mailboxes[b].Address })
	sort.Slice(c.Aliases, func(a, b int) bool { return c.Aliases[a].Address < c.Aliases[b].Address })
	sort.Strings(out.domains)
	sort.Strings(out.mailboxes)
	sort.Strings(out.aliases)

	cfg, err := config.Build(&c) // c is not used again: no copy
	if err != nil {
		return nil, fmt.Errorf("compiling the configuration of MailServer %s: %w", ms.Name, err)
	}
	out.config = cfg
	return out, nil
}

// listeners opens, on every address of the pod, the protocols the
// MailServer serves, and always the ops listener for the probes.
func listeners(ms *mailv1.MailServer) config.Listeners {
	proxy := ms.Spec.Service.ProxyProtocol
	l := config.Listeners{Ops: config.Listener{Address: listenAddress(containerPortOps)}}
	for _, p := range protocols(ms) {
		ln := config.Listener{Address: listenAddress(p.containerPort), ProxyProtocol: proxy}
		switch p.protocol {
		case mailv1.ProtocolSMTP:
			l.SMTP = ln
		case mailv1.ProtocolSubmission:
			l.Submission = ln
		case mailv1.ProtocolSubmissions:
			l.Submissions = ln
		case mailv1.ProtocolIMAP:
			l.IMAP = ln
		case mailv1.ProtocolIMAPS:
			l.IMAPS = ln
		case mailv1.ProtocolPOP3:
			l.POP3 = ln
		case mailv1.ProtocolPOP3S:
			l.POP3S = ln
		}
	}
	return l
}

// listenAddress listens on every address of the pod, IPv4 and IPv6.
func listenAddress(port int32) string {
	return net.JoinHostPort("", strconv.Itoa(int(port)))
}

// protocolPort is a protocol with its Service and container ports.
type protocolPort struct {
	protocol      mailv1.Protocol
	name          string // port name, at most 15 characters
	servicePort   int32
	containerPort int32
}

// allProtocols lists the protocols in a fixed order.
var allProtocols = []protocolPort{
	{mailv1.ProtocolSMTP, "smtp", 25, containerPortSMTP},
	{mailv1.ProtocolSubmission, "submission", 587, containerPortSubmission},
	{mailv1.ProtocolSubmissions, "submissions", 465, containerPortSubmissions},
	{mailv1.ProtocolIMAP, "imap", 143, containerPortIMAP},
	{mailv1.ProtocolIMAPS, "imaps", 993, containerPortIMAPS},
	{mailv1.ProtocolPOP3, "pop3", 110, containerPortPOP3},
	{mailv1.ProtocolPOP3S, "pop3s", 995, containerPortPOP3S},
}

// protocols returns the protocols ms serves, in allProtocols' order; all of
// them when spec.protocols is empty (the schema's default).
func protocols(ms *mailv1.MailServer) []protocolPort {
	if len(ms.Spec.Protocols) == 0 {
		return allProtocols
	}
	want := map[mailv1.Protocol]bool{}
	for _, p := range ms.Spec.Protocols {
		want[p] = true
	}
	var out []protocolPort
	for _, p := range allProtocols {
		if want[p.protocol] {
			out = append(out, p)
		}
	}
	return out
}

func storageDriver(t mailv1.StorageType) string {
	if t == mailv1.StoragePostgreSQL {
		return config.DriverPostgres
	}
	return config.DriverSQLite
}

func limits(l mailv1.MailServerLimits) config.Limits {
	return config.Limits{
		MaxMessageBytes:     quantityBytes(l.MaxMessageSize),
		MaxRecipients:       int(l.MaxRecipients),
		MaxConnectionsPerIP: int(l.MaxConnectionsPerIP),
	}
}

// quantityBytes returns q in bytes; 0 when unset.
func quantityBytes(q *resource.Quantity) int64 {
	if q == nil {
		return 0
	}
	return q.Value()
}

func dkimSelector(d *mailv1.MailDomain) string {
	if d.Spec.DKIM.Selector == "" {
		return "kubemail" // the schema's default
	}
	return d.Spec.DKIM.Selector
}

func mailboxConfig(m *mailv1.Mailbox, hash string) config.Mailbox {
	cm := config.Mailbox{
		Address:      string(m.Spec.Address),
		PasswordHash: hash,
		QuotaBytes:   quantityBytes(m.Spec.Quota),
		Suspended:    m.Spec.Suspended,
	}
	for _, a := range m.Spec.Aliases {
		cm.Aliases = append(cm.Aliases, string(a))
	}
	for _, f := range m.Spec.ForwardTo {
		cm.ForwardTo = append(cm.ForwardTo, string(f))
	}
	cm.KeepCopy = len(cm.ForwardTo) > 0 && (m.Spec.KeepCopy == nil || *m.Spec.KeepCopy)
	return cm
}
