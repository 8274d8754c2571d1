package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/verdicts"
	"github.com/kubemail/kubemail/mailserver/config"
)

// annotationConfigHash shows on each configuration Secret the hash of the
// configuration it is part of.
const annotationConfigHash = "mail.kubemail.io/config-hash"

// gathered is what a MailServer's configuration is compiled from.
type gathered struct {
	objects  snapshot
	verdicts *judgement
	// hashes maps a Mailbox name to its password hash (mailboxHash).
	hashes map[string]string
	// dkimKeys maps a served domain name to its DKIM private key (PEM).
	dkimKeys map[string][]byte
	// relay is the server's RelayPolicy, if one applies and its Secrets
	// resolve, and relayFiles its credentials files.
	relay      *mailv1.RelayPolicy
	relayFiles map[string][]byte
}

// listNamespace reads the mail objects of a namespace from the cache,
// without copying them: callers must not modify them.
func listNamespace(ctx context.Context, c client.Reader, ns string) (snapshot, error) {
	var s snapshot
	in, noCopy := client.InNamespace(ns), client.UnsafeDisableDeepCopy
	var servers mailv1.MailServerList
	if err := c.List(ctx, &servers, in, noCopy); err != nil {
		return s, fmt.Errorf("listing MailServers: %w", err)
	}
	s.servers = make(map[string]bool, len(servers.Items))
	for _, ms := range servers.Items {
		s.servers[ms.Name] = true
	}
	var domains mailv1.MailDomainList
	if err := c.List(ctx, &domains, in, noCopy); err != nil {
		return s, fmt.Errorf("listing MailDomains: %w", err)
	}
	var mailboxes mailv1.MailboxList
	if err := c.List(ctx, &mailboxes, in, noCopy); err != nil {
		return s, fmt.Errorf("listing Mailboxes: %w", err)
	}
	var aliases mailv1.MailAliasList
	if err := c.List(ctx, &aliases, in, noCopy); err != nil {
		return s, fmt.Errorf("listing MailAliases: %w", err)
	}
	s.domains, s.mailboxes, s.aliases = domains.Items, mailboxes.Items, aliases.Items
	return s, nil
}

// gather reads everything ms's configuration is compiled from.
func (r *MailServerReconciler) gather(ctx context.Context, ms *mailv1.MailServer) (*gathered, error) {
	objects, err := listNamespace(ctx, r.Client, ms.Namespace)
	if err != nil {
		return nil, err
	}
	g := &gathered{objects: objects, verdicts: judge(objects), hashes: map[string]string{}, dkimKeys: map[string][]byte{}}
	// One list of the namespace's Secrets, not a copy of each: a namespace
	// may hold 50,000 credentials Secrets, and Secrets holding the hashes
	// of thousands of Mailboxes.
	var secrets corev1.SecretList
	if err := r.List(ctx, &secrets, client.InNamespace(ms.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing Secrets: %w", err)
	}
	byName := make(map[string]*corev1.Secret, len(secrets.Items))
	for i := range secrets.Items {
		byName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	secret := func(name string) *corev1.Secret { return byName[name] }
	for i := range objects.mailboxes {
		m := &objects.mailboxes[i]
		if g.verdicts.serverOf(string(m.Spec.Address)) != ms.Name {
			continue
		}
		if hash, ok := mailboxHash(m, secret); ok {
			g.hashes[m.Name] = hash
		}
	}
	for i := range objects.domains {
		d := &objects.domains[i]
		if d.Spec.ServerRef.Name != ms.Name || !g.verdicts.domainServed(d.Name) {
			continue
		}
		key, err := readDKIMKey(ctx, r.Client, d)
		if err != nil && !isUserFixable(err) {
			return nil, err
		}
		if err == nil {
			g.dkimKeys[string(d.Spec.Domain)] = key
		}
	}
	var policies mailv1.RelayPolicyList
	if err := r.List(ctx, &policies, client.InNamespace(ms.Namespace), client.MatchingFields{indexServerRef: ms.Name}); err != nil {
		return nil, fmt.Errorf("listing RelayPolicies: %w", err)
	}
	g.relayFiles = map[string][]byte{}
	if p, _ := electPolicy(policies.Items); p != nil {
		files, err := readRelayCredentials(ctx, r.Client, p)
		if err != nil && !isUserFixable(err) {
			return nil, err
		}
		if err == nil {
			g.relay, g.relayFiles = p, files
		}
	}
	return g, nil
}

// passwordHashOf returns the hash in a credentials Secret (nil: none), if
// the Secret belongs to m and the hash is one the server accepts.
func passwordHashOf(s *corev1.Secret, m *mailv1.Mailbox) (string, bool) {
	if s == nil || !ownedBy(s, string(m.UID)) {
		return "", false
	}
	hash := string(s.Data[keyPasswordHash])
	return hash, config.RecognizedHash(hash)
}

// reconcileConfig compiles the configuration and writes it into the
// configuration Secrets, the DKIM keys into the DKIM Secret, and the
// server's access to them into its Role. A configuration that does not
// compile is not written: the servers keep the previous one.
func (r *MailServerReconciler) reconcileConfig(ctx context.Context, ms *mailv1.MailServer, g *gathered, st *serverState) error {
	if _, err := ensure(ctx, r.Client, buildDKIMSecret(ms, g.dkimKeys), updateSecret); err != nil {
		return st.conflictOr(mailv1.MailServerConfigApplied, err)
	}
	if _, err := ensure(ctx, r.Client, buildRelaySecret(ms, g.relayFiles), updateSecret); err != nil {
		return st.conflictOr(mailv1.MailServerConfigApplied, err)
	}
	fingerprint := inputFingerprint(ms, g)
	if prev := r.verdicts.Latest(ms.Namespace, ms.Name); prev != nil && prev.Inputs == fingerprint && r.stillWritten(ctx, ms, prev) {
		st.served = prev // nothing that goes into the configuration changed: skip compiling it
		return nil
	}
	ready := map[string]bool{}
	for d := range g.dkimKeys {
		ready[d] = true
	}
	out, err := compileConfig(configInput{server: ms, objects: g.objects, verdicts: g.verdicts,
		passwordHashes: g.hashes, dkimKeys: ready, relay: g.relay})
	if err != nil {
		st.fail(mailv1.MailServerConfigApplied, mailv1.ReasonConfigInvalid, err.Error()+"; the servers keep their previous configuration")
		return nil //nolint:nilerr // an invalid config is reported in status, not retried
	}
	shards, err := config.Split(out.config, ms.Name+"-config", r.ShardBytes)
	if err != nil {
		return fmt.Errorf("splitting the configuration of MailServer %s: %w", ms.Name, err)
	}
	names := make([]string, len(shards))
	for i, s := range shards {
		names[i] = s.Name
	}
	statusNames := make([]string, effectiveReplicas(ms))
	for i := range statusNames {
		statusNames[i] = statusConfigMapName(ms.Name, podName(ms.Name, i))
	}
	// The Role first, so the servers may read every shard the index will list;
	// shard 0, the index, last, so it never lists a shard not yet written.
	if _, err := ensure(ctx, r.Client, buildRole(ms, names, statusNames), func(e, d *rbacv1.Role) { e.Rules = d.Rules }); err != nil {
		return st.conflictOr(mailv1.MailServerConfigApplied, err)
	}
	for i := len(shards) - 1; i >= 0; i-- {
		if _, err := ensure(ctx, r.Client, buildConfigSecret(ms, shards[i], out.config.Hash()), updateSecret); err != nil {
			return st.conflictOr(mailv1.MailServerConfigApplied, err)
		}
	}
	if err := r.deleteStale(ctx, ms, &corev1.SecretList{}, configLabels(ms.Name), names); err != nil {
		return err
	}
	ms.Status.ConfigHash = out.config.Hash()
	ms.Status.Domains = int32(len(out.domains)) //nolint:gosec // G115: bounded: a namespace holds far fewer than 2^31 domains
	st.served = servedFrom(out, g)
	st.served.Inputs, st.served.Shards = fingerprint, names
	return nil
}

// inputFingerprint identifies everything a configuration is compiled from,
// so that a reconcile which changes none of it (a pod became ready) does not
// compile 50,000 mailboxes again.
func inputFingerprint(ms *mailv1.MailServer, g *gathered) string {
	h := sha256.New()
	fmt.Fprintf(h, "server %s %d\n", ms.UID, ms.Generation)
	for _, d := range g.objects.domains {
		fmt.Fprintf(h, "domain %s %s %d %s\n", d.Name, d.UID, d.Generation, d.CreationTimestamp)
	}
	for _, m := range g.objects.mailboxes {
		fmt.Fprintf(h, "mailbox %s %s %d %s %s\n", m.Name, m.UID, m.Generation, m.CreationTimestamp, g.hashes[m.Name])
	}
	for _, a := range g.objects.aliases {
		fmt.Fprintf(h, "alias %s %s %d %s\n", a.Name, a.UID, a.Generation, a.CreationTimestamp)
	}
	domains := make([]string, 0, len(g.dkimKeys))
	for d := range g.dkimKeys {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		fmt.Fprintf(h, "dkim %s %x\n", d, sha256.Sum256(g.dkimKeys[d]))
	}
	if g.relay != nil {
		fmt.Fprintf(h, "relay %s %s\n", policyKey(g.relay), g.relay.UID)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// stillWritten reports whether the configuration Secrets of a previous
// compile are all there, unchanged.
func (r *MailServerReconciler) stillWritten(ctx context.Context, ms *mailv1.MailServer, prev *verdicts.Config) bool {
	if ms.Status.ConfigHash != prev.Hash || len(prev.Shards) == 0 {
		return false
	}
	var list corev1.SecretList
	if err := r.List(ctx, &list, client.InNamespace(ms.Namespace), client.MatchingLabels(configLabels(ms.Name)),
		client.UnsafeDisableDeepCopy); err != nil {
		return false
	}
	found := 0
	for i := range list.Items {
		s := &list.Items[i]
		if slices.Contains(prev.Shards, s.Name) && s.Annotations[annotationConfigHash] == prev.Hash && ownedBy(s, string(ms.UID)) {
			found++
		}
	}
	return found == len(prev.Shards)
}

// policyKey identifies a version of a RelayPolicy in a verdicts.Config.
func policyKey(p *mailv1.RelayPolicy) string {
	return fmt.Sprintf("%s@%d", p.Name, p.Generation)
}

// servedFrom records what a compiled configuration holds, for the verdict store.
func servedFrom(out *compiled, g *gathered) *verdicts.Config {
	sc := &verdicts.Config{Hash: out.config.Hash(), Mailboxes: map[string]string{},
		Aliases: map[string]bool{}, Domains: map[string]bool{}, DKIM: map[string]bool{}}
	for _, m := range out.mailboxes {
		sc.Mailboxes[m] = g.hashes[m]
	}
	for _, a := range out.aliases {
		sc.Aliases[a] = true
	}
	for _, d := range out.domains {
		sc.Domains[d] = true
	}
	if g.relay != nil {
		sc.Relay = policyKey(g.relay)
	}
	for i := range g.objects.domains {
		d := &g.objects.domains[i]
		if sc.Domains[d.Name] && g.dkimKeys[string(d.Spec.Domain)] != nil {
			sc.DKIM[d.Name] = true
		}
	}
	return sc
}

// updateSecret copies a desired Secret's content onto the existing one.
func updateSecret(existing, desired *corev1.Secret) {
	existing.Type, existing.Data = desired.Type, desired.Data
}

// buildConfigSecret holds one shard of the configuration.
func buildConfigSecret(ms *mailv1.MailServer, shard config.Shard, hash string) *corev1.Secret {
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(ms, shard.Name, configLabels(ms.Name)),
		Type:       corev1.SecretTypeOpaque,
		Data:       shard.Data,
	}
	s.Annotations = map[string]string{annotationConfigHash: hash}
	return s
}

// buildDKIMSecret holds the DKIM keys of the server's domains, as
// <domain>.pem, mounted at dkimMountPath. One Secret for all domains keeps
// the pod template unchanged when a domain is added.
func buildDKIMSecret(ms *mailv1.MailServer, keys map[string][]byte) *corev1.Secret {
	data := make(map[string][]byte, len(keys))
	for d, k := range keys {
		data[d+".pem"] = k
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(ms, dkimBundleSecretName(ms.Name), serverLabels(ms.Name)),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// deleteStale deletes the objects of list's kind that ms owns, carry
// labels, and are not named in keep.
func (r *MailServerReconciler) deleteStale(ctx context.Context, ms *mailv1.MailServer, list client.ObjectList, labels map[string]string, keep []string) error {
	if err := r.List(ctx, list, client.InNamespace(ms.Namespace), client.MatchingLabels(labels)); err != nil {
		return fmt.Errorf("listing objects of MailServer %s: %w", ms.Name, err)
	}
	var stale []client.Object
	switch l := list.(type) {
	case *corev1.SecretList:
		for i := range l.Items {
			stale = append(stale, &l.Items[i])
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			stale = append(stale, &l.Items[i])
		}
	}
	sort.Slice(stale, func(a, b int) bool { return stale[a].GetName() < stale[b].GetName() })
	for _, o := range stale {
		if slices.Contains(keep, o.GetName()) || !ownedBy(o, string(ms.UID)) {
			continue
		}
		if err := r.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s %s: %w", kindOf(o), o.GetName(), err)
		}
	}
	return nil
}
