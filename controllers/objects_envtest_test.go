package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers/internal/testenv"
	"github.com/kubemail/kubemail/internal/dnsendpoint"
	// The test checks that the hashes the operator stores verify as the
	// server verifies passwords; mailserver/config offers no Verify.
	"github.com/kubemail/kubemail/mailserver/auth"
	"github.com/kubemail/kubemail/mailserver/config"
)

// runningServer creates MailServer mx1 and plays its pods until the test
// ends: ready, with an address, and every replica serving the latest
// configuration a moment after the operator writes it.
func runningServer(t *testing.T, ns string) {
	t.Helper()
	env.Create(t, fresh(server("mx1"), ns))
	markPodsReady(t, ns, "mx1", 1)
	assignAddress(t, ns, "mx1", "192.0.2.25")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			ms := &mailv1.MailServer{}
			cm := &corev1.ConfigMap{}
			if get(ns, "mx1", ms) == nil && ms.Status.ConfigHash != "" &&
				get(ns, statusConfigMapName("mx1", podName("mx1", 0)), cm) == nil && cm.Data[config.StatusHashKey] != ms.Status.ConfigHash {
				cm.Data = map[string]string{config.StatusHashKey: ms.Status.ConfigHash}
				_ = env.Client.Update(ctx, cm) // a conflict is retried on the next round
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// secret creates an Opaque Secret with string data.
func secret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	env.Create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data})
}

func passwordRef(name string) func(*mailv1.Mailbox) {
	return func(m *mailv1.Mailbox) {
		m.Spec.PasswordSecretRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "password"}
	}
}

// ready checks an object's Ready condition.
func ready(status metav1.ConditionStatus, reason string) func(conds []metav1.Condition, gen int64) error {
	return func(conds []metav1.Condition, gen int64) error {
		return wantCondition(conds, gen, mailv1.ConditionReady, status, reason)
	}
}

func waitAlias(t *testing.T, ns, name, what string, check func(*mailv1.MailAlias) error) {
	t.Helper()
	a := &mailv1.MailAlias{}
	testenv.Eventually(t, what, func() error {
		if err := get(ns, name, a); err != nil {
			return err
		}
		return check(a)
	})
}

func waitDomain(t *testing.T, ns, name, what string, check func(*mailv1.MailDomain) error) *mailv1.MailDomain {
	t.Helper()
	d := &mailv1.MailDomain{}
	testenv.Eventually(t, what, func() error {
		if err := get(ns, name, d); err != nil {
			return err
		}
		if d.Status.ObservedGeneration != d.Generation {
			return fmt.Errorf("status describes generation %d, not %d", d.Status.ObservedGeneration, d.Generation)
		}
		return check(d)
	})
	return d
}

// served reads the served configuration and checks it.
func served(t *testing.T, ns, what string, check func(*config.Config) error) {
	t.Helper()
	testenv.Eventually(t, what, func() error {
		ms := &mailv1.MailServer{}
		if err := get(ns, "mx1", ms); err != nil {
			return err
		}
		cfg, err := readConfig(ns, "mx1")
		if err != nil {
			return err
		}
		if cfg.Hash() != ms.Status.ConfigHash {
			return errors.New("the status does not describe the configuration Secrets yet")
		}
		return check(cfg)
	})
}

func TestMailboxes(t *testing.T) {
	ns, _ := startOperator(t, Options{})
	ctx := context.Background()
	runningServer(t, ns)

	t.Run("a mailbox without its domain waits for it", func(t *testing.T) {
		env.Create(t, fresh(ptrTo(mailbox("alice", "alice@example.com", 0)), ns))
		waitMailbox(t, ns, "alice", "DomainNotFound", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionFalse, mailv1.ReasonDomainNotFound)(m.Status.Conditions, m.Generation)
		})
		env.Create(t, fresh(ptrTo(domain("example-com", "example.com", 0)), ns))
		m := waitMailbox(t, ns, "alice", "alice is served once the domain exists", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionTrue, mailv1.ReasonReady)(m.Status.Conditions, m.Generation)
		})
		creds := &corev1.Secret{}
		if err := get(ns, m.Status.CredentialsSecretName, creds); err != nil {
			t.Fatal(err)
		}
		if string(creds.Data[keyUsername]) != "alice@example.com" {
			t.Errorf("username %q", creds.Data[keyUsername])
		}
		if ok, err := auth.Verify(string(creds.Data[keyPasswordHash]), string(creds.Data[keyPassword])); !ok || err != nil {
			t.Errorf("the generated password does not verify against its hash: %v", err)
		}
		served(t, ns, "alice is in the configuration with that hash", func(cfg *config.Config) error {
			if h, _, _ := cfg.LookupPassword("alice@example.com"); h != string(creds.Data[keyPasswordHash]) {
				return errors.New("alice's hash is not the one in her credentials Secret")
			}
			return nil
		})
	})

	t.Run("only the newer of two mailboxes with one address is refused", func(t *testing.T) {
		env.Create(t, fresh(ptrTo(mailbox("alice-again", "alice@example.com", 0)), ns))
		waitMailbox(t, ns, "alice-again", "the newer mailbox reports the conflict", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionFalse, mailv1.ReasonAddressConflict)(m.Status.Conditions, m.Generation)
		})
		waitMailbox(t, ns, "alice", "the older one stays Ready", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionTrue, mailv1.ReasonReady)(m.Status.Conditions, m.Generation)
		})
		if err := env.Client.Delete(ctx, &mailv1.Mailbox{ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
		waitMailbox(t, ns, "alice-again", "the newer mailbox takes the address over", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionTrue, mailv1.ReasonReady)(m.Status.Conditions, m.Generation)
		})
	})

	t.Run("a password Secret is hashed once and its changes take effect", func(t *testing.T) {
		env.Create(t, fresh(ptrTo(mailbox("bob", "bob@example.com", 0, passwordRef("bob-password"))), ns))
		waitMailbox(t, ns, "bob", "the missing Secret is reported", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionFalse, mailv1.ReasonSecretNotFound)(m.Status.Conditions, m.Generation)
		})
		secret(t, ns, "bob-password", map[string]string{"password": "first"})
		var first string
		served(t, ns, "bob's first password is served", func(cfg *config.Config) error {
			h, _, _ := cfg.LookupPassword("bob@example.com")
			if ok, _ := auth.Verify(h, "first"); !ok {
				return errors.New("bob's first password does not verify")
			}
			first = h
			return nil
		})
		// Unrelated changes of the Mailbox do not hash again.
		updateObject(t, ns, "bob", &mailv1.Mailbox{}, func(m *mailv1.Mailbox) {
			m.Spec.Quota = ptr.To(resourceQuantity("1Gi"))
		})
		served(t, ns, "the quota is served with the same hash", func(cfg *config.Config) error {
			mb, _ := cfg.LookupMailbox("bob@example.com")
			if mb == nil || mb.QuotaBytes != 1<<30 {
				return errors.New("quota not served yet")
			}
			if mb.PasswordHash != first {
				return errors.New("the password was hashed again")
			}
			return nil
		})
		s := &corev1.Secret{}
		if err := get(ns, "bob-password", s); err != nil {
			t.Fatal(err)
		}
		s.Data = map[string][]byte{"password": []byte("second")}
		if err := env.Client.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		served(t, ns, "bob's new password is served", func(cfg *config.Config) error {
			h, _, _ := cfg.LookupPassword("bob@example.com")
			if ok, _ := auth.Verify(h, "second"); !ok {
				return errors.New("bob's second password does not verify yet")
			}
			return nil
		})
		if err := get(ns, "bob-credentials", &corev1.Secret{}); err != nil {
			t.Fatalf("the hash of a password from a Secret is kept in the credentials Secret: %v", err)
		}
		s.Data = map[string][]byte{"password": []byte(testHash)}
		if err := env.Client.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		served(t, ns, "a hash in the Secret is served as it is", func(cfg *config.Config) error {
			if h, _, _ := cfg.LookupPassword("bob@example.com"); h != testHash {
				return errors.New("the hash is not served as given")
			}
			return nil
		})
		testenv.Eventually(t, "a hash in the Secret needs no credentials Secret: the one of the password goes", func() error {
			if err := get(ns, "bob-credentials", &corev1.Secret{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("bob-credentials: %v", err)
			}
			return nil
		})
		// The Secret holding the hash is followed directly.
		s.Data = map[string][]byte{"password": []byte(testHash2)}
		if err := env.Client.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		served(t, ns, "a new hash in the Secret is served", func(cfg *config.Config) error {
			if h, _, _ := cfg.LookupPassword("bob@example.com"); h != testHash2 {
				return errors.New("the new hash is not served")
			}
			return nil
		})
		m := waitMailbox(t, ns, "bob", "bob is Ready", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionTrue, mailv1.ReasonReady)(m.Status.Conditions, m.Generation)
		})
		if m.Status.CredentialsSecretName != "" {
			t.Errorf("credentialsSecretName %q with a passwordSecretRef", m.Status.CredentialsSecretName)
		}
	})

	t.Run("a credentials Secret someone else made is neither used nor taken over", func(t *testing.T) {
		env.Create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mallory-credentials", Namespace: ns},
			Data: map[string][]byte{keyPasswordHash: []byte(testHash)}})
		env.Create(t, fresh(ptrTo(mailbox("mallory", "mallory@example.com", 0)), ns))
		waitMailbox(t, ns, "mallory", "ObjectConflict", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionFalse, reasonObjectConflict)(m.Status.Conditions, m.Generation)
		})
		cfg, err := readConfig(ns, "mx1")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cfg.LookupMailbox("mallory@example.com"); ok {
			t.Error("the mailbox is served with a hash from a Secret it does not own")
		}
	})

	t.Run("a hash in the password Secret needs no credentials Secret, so someone else's does not matter", func(t *testing.T) {
		env.Create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "trent-credentials", Namespace: ns},
			Data: map[string][]byte{keyPasswordHash: []byte(testHash)}})
		secret(t, ns, "trent-password", map[string]string{"password": testHash2})
		env.Create(t, fresh(ptrTo(mailbox("trent", "trent@example.com", 0, passwordRef("trent-password"))), ns))
		waitMailbox(t, ns, "trent", "trent is Ready", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionTrue, mailv1.ReasonReady)(m.Status.Conditions, m.Generation)
		})
		served(t, ns, "trent is served with the hash of his password Secret", func(cfg *config.Config) error {
			if h, _, _ := cfg.LookupPassword("trent@example.com"); h != testHash2 {
				return errors.New("trent's hash is not the one in trent-password")
			}
			return nil
		})
		s := &corev1.Secret{}
		if err := get(ns, "trent-credentials", s); err != nil || string(s.Data[keyPasswordHash]) != testHash {
			t.Errorf("someone else's trent-credentials was changed or deleted: %v", err)
		}
	})

	t.Run("an unusable password is reported", func(t *testing.T) {
		secret(t, ns, "carol-password", map[string]string{"password": strings.Repeat("x", config.MaxPasswordLength+1)})
		env.Create(t, fresh(ptrTo(mailbox("carol", "carol@example.com", 0, passwordRef("carol-password"))), ns))
		waitMailbox(t, ns, "carol", "InvalidPassword", func(m *mailv1.Mailbox) error {
			return ready(metav1.ConditionFalse, mailv1.ReasonInvalidPassword)(m.Status.Conditions, m.Generation)
		})
	})
}

func TestAliases(t *testing.T) {
	ns, _ := startOperator(t, Options{})
	runningServer(t, ns)
	env.Create(t, fresh(ptrTo(domain("example-com", "example.com", 0)), ns))
	env.Create(t, fresh(ptrTo(mailbox("alice", "alice@example.com", 0)), ns))
	env.Create(t, fresh(ptrTo(mailbox("bob", "bob@example.com", 0)), ns))

	env.Create(t, fresh(ptrTo(alias("postmaster", "postmaster@example.com", 0, "alice@example.com", "bob@example.com")), ns))
	waitAlias(t, ns, "postmaster", "the alias is served", func(a *mailv1.MailAlias) error {
		return ready(metav1.ConditionTrue, mailv1.ReasonReady)(a.Status.Conditions, a.Generation)
	})
	env.Create(t, fresh(ptrTo(alias("a", "a@example.com", 0, "b@example.com")), ns))
	waitAlias(t, ns, "a", "a is served", func(a *mailv1.MailAlias) error {
		return ready(metav1.ConditionTrue, "")(a.Status.Conditions, a.Generation)
	})
	env.Create(t, fresh(ptrTo(alias("b", "b@example.com", 0, "a@example.com")), ns))
	waitAlias(t, ns, "b", "the alias closing the loop is refused", func(a *mailv1.MailAlias) error {
		return ready(metav1.ConditionFalse, mailv1.ReasonAliasLoop)(a.Status.Conditions, a.Generation)
	})
	env.Create(t, fresh(ptrTo(alias("postmaster-again", "postmaster@example.com", 0, "alice@example.com")), ns))
	waitAlias(t, ns, "postmaster-again", "the newer alias reports the conflict", func(a *mailv1.MailAlias) error {
		return ready(metav1.ConditionFalse, mailv1.ReasonAddressConflict)(a.Status.Conditions, a.Generation)
	})
	env.Create(t, fresh(ptrTo(alias("catch-all", "@example.com", 0, "alice@example.com", "bob@example.com")), ns))
	waitAlias(t, ns, "catch-all", "a catch-all with two targets is served", func(a *mailv1.MailAlias) error {
		return ready(metav1.ConditionTrue, "")(a.Status.Conditions, a.Generation)
	})
	served(t, ns, "the catch-all is served with both targets", func(cfg *config.Config) error {
		res, err := cfg.Resolve("whoever@example.com")
		if err != nil || !res.CatchAll || strings.Join(res.Accounts, " ") != "alice@example.com bob@example.com" {
			return fmt.Errorf("whoever@example.com resolves to %+v, %v", res, err)
		}
		res, err = cfg.Resolve("postmaster@example.com")
		if err != nil || len(res.Accounts) != 2 {
			return fmt.Errorf("postmaster resolves to %+v, %v", res, err)
		}
		return nil
	})
}

func TestDomains(t *testing.T) {
	res := &fakeResolver{mx: map[string][]*net.MX{"example.com": {{Host: "mx1.example.com.", Pref: 10}}}}
	ns, _ := startOperator(t, Options{Resolver: res})

	env.Create(t, fresh(ptrTo(domain("example-com", "example.com", 0, func(d *mailv1.MailDomain) {
		d.Spec.DKIM.Algorithm = mailv1.DKIMEd25519
	})), ns))
	waitDomain(t, ns, "example-com", "a domain without its server is reported", func(d *mailv1.MailDomain) error {
		return errors.Join(ready(metav1.ConditionFalse, mailv1.ReasonServerNotFound)(d.Status.Conditions, d.Generation),
			wantCondition(d.Status.Conditions, d.Generation, mailv1.MailDomainDKIMReady, metav1.ConditionTrue, mailv1.ReasonReady))
	})
	runningServer(t, ns)
	env.Create(t, fresh(ptrTo(mailbox("alice", "alice@example.com", 0)), ns))
	env.Create(t, fresh(ptrTo(alias("postmaster", "postmaster@example.com", 0, "alice@example.com")), ns))

	d := waitDomain(t, ns, "example-com", "the domain is served and published", func(d *mailv1.MailDomain) error {
		if d.Status.Mailboxes != 1 || d.Status.Aliases != 1 || len(d.Status.DNSRecords) != 9 {
			return fmt.Errorf("mailboxes %d, aliases %d, %d records", d.Status.Mailboxes, d.Status.Aliases, len(d.Status.DNSRecords))
		}
		return errors.Join(ready(metav1.ConditionTrue, mailv1.ReasonReady)(d.Status.Conditions, d.Generation),
			wantCondition(d.Status.Conditions, d.Generation, mailv1.MailDomainDNSPublished, metav1.ConditionTrue, mailv1.ReasonPublished),
			wantCondition(d.Status.Conditions, d.Generation, mailv1.MailDomainDNSVerified, metav1.ConditionFalse, mailv1.ReasonRecordsMissing))
	})

	t.Run("the generated key signs, and its record is published", func(t *testing.T) {
		key := &corev1.Secret{}
		if err := get(ns, d.Status.DKIMSecretName, key); err != nil {
			t.Fatal(err)
		}
		if !ownedBy(key, string(d.UID)) {
			t.Error("the DKIM Secret is not owned by the MailDomain")
		}
		signer, err := parseDKIMKey(key.Data[keyDKIMPrivateKey])
		if err != nil {
			t.Fatal(err)
		}
		txt, _ := dkimRecord(signer)
		ep := &dnsendpoint.DNSEndpoint{}
		if err := get(ns, "example-com", ep); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range ep.Spec.Endpoints {
			if e.DNSName == "kubemail._domainkey.example.com" && e.RecordType == "TXT" && e.Targets[0] == txt {
				found = true
			}
		}
		if !found || !ownedBy(ep, string(d.UID)) {
			t.Errorf("the DNSEndpoint lacks the DKIM record or is not owned: %+v", ep.Spec.Endpoints)
		}
		served(t, ns, "the domain is served with its key", func(cfg *config.Config) error {
			dom, ok := cfg.LookupDomain("example.com")
			if !ok || dom.DKIM == nil || dom.DKIM.KeyFile != "/etc/kubemail/dkim/example.com.pem" {
				return fmt.Errorf("domain %+v", dom)
			}
			return nil
		})
		bundle := &corev1.Secret{}
		if err := get(ns, dkimBundleSecretName("mx1"), bundle); err != nil {
			t.Fatal(err)
		}
		if string(bundle.Data["example.com.pem"]) != string(key.Data[keyDKIMPrivateKey]) {
			t.Error("the server's DKIM Secret does not hold the domain's key")
		}
	})

	t.Run("each record says whether DNS answers it", func(t *testing.T) {
		for _, r := range d.Status.DNSRecords {
			if want := r.Type == "MX"; r.Verified != want {
				t.Errorf("%s %s verified = %v, want %v", r.Type, r.Name, r.Verified, want)
			}
		}
	})

	t.Run("manual publishing replaces the DNSEndpoint with a zone-file ConfigMap", func(t *testing.T) {
		updateObject(t, ns, "example-com", d, func(d *mailv1.MailDomain) {
			d.Spec.DNS.Publish = mailv1.DNSPublishManual
		})
		waitDomain(t, ns, "example-com", "ManualPublishing", func(d *mailv1.MailDomain) error {
			return wantCondition(d.Status.Conditions, d.Generation, mailv1.MailDomainDNSPublished, metav1.ConditionFalse, mailv1.ReasonManualPublishing)
		})
		cm := &corev1.ConfigMap{}
		if err := get(ns, "example-com-dns", cm); err != nil || !strings.Contains(cm.Data[keyZoneFile], "example.com.\t3600\tIN\tMX\t10 mx1.example.com.") {
			t.Errorf("zone ConfigMap: %v %q", err, cm.Data[keyZoneFile])
		}
		testenv.Eventually(t, "the DNSEndpoint is deleted", func() error {
			err := get(ns, "example-com", &dnsendpoint.DNSEndpoint{})
			if err == nil {
				return errors.New("still there")
			}
			return client.IgnoreNotFound(err)
		})
	})

	t.Run("a second MailDomain for the domain is refused", func(t *testing.T) {
		env.Create(t, fresh(ptrTo(domain("example-com-2", "example.com", 0)), ns))
		waitDomain(t, ns, "example-com-2", "DomainConflict", func(d *mailv1.MailDomain) error {
			return ready(metav1.ConditionFalse, mailv1.ReasonDomainConflict)(d.Status.Conditions, d.Generation)
		})
	})

	t.Run("a referenced key that is missing is reported", func(t *testing.T) {
		env.Create(t, fresh(ptrTo(domain("example-org", "example.org", 0, func(d *mailv1.MailDomain) {
			d.Spec.DKIM.PrivateKeySecretRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "org-dkim"}, Key: "key.pem"}
		})), ns))
		waitDomain(t, ns, "example-org", "the DKIM Secret is missing", func(d *mailv1.MailDomain) error {
			return errors.Join(ready(metav1.ConditionFalse, mailv1.ReasonSecretNotFound)(d.Status.Conditions, d.Generation),
				wantCondition(d.Status.Conditions, d.Generation, mailv1.MailDomainDKIMReady, metav1.ConditionFalse, mailv1.ReasonSecretNotFound))
		})
		secret(t, ns, "org-dkim", map[string]string{"key.pem": "not a key"})
		waitDomain(t, ns, "example-org", "the DKIM key is unusable", func(d *mailv1.MailDomain) error {
			return wantCondition(d.Status.Conditions, d.Generation, mailv1.MailDomainDKIMReady, metav1.ConditionFalse, mailv1.ReasonInvalidKey)
		})
	})
}

func TestRelayPolicies(t *testing.T) {
	ns, _ := startOperator(t, Options{})
	runningServer(t, ns)
	p := &mailv1.RelayPolicy{ObjectMeta: metav1.ObjectMeta{Name: "outbound", Namespace: ns}, Spec: mailv1.RelayPolicySpec{
		ServerRef: corev1.LocalObjectReference{Name: "mx1"}, Mode: mailv1.RelaySmarthost,
		Smarthost: &mailv1.Smarthost{Host: "smtp.relay.example.net", Port: 587, TLS: mailv1.SmarthostStartTLSRequired,
			CredentialsSecretRef: &corev1.LocalObjectReference{Name: "relay-creds"}},
		AllowedNetworks: []mailv1.CIDR{"10.244.0.0/16"},
	}}
	env.Create(t, p)
	waitPolicy := func(name, what string, status metav1.ConditionStatus, reason string) {
		t.Helper()
		testenv.Eventually(t, what, func() error {
			p := &mailv1.RelayPolicy{}
			if err := get(ns, name, p); err != nil {
				return err
			}
			return ready(status, reason)(p.Status.Conditions, p.Generation)
		})
	}
	waitPolicy("outbound", "the missing credentials are reported", metav1.ConditionFalse, mailv1.ReasonSecretNotFound)
	secret(t, ns, "relay-creds", map[string]string{"username": "relay-user", "password": "relay-pass"})
	waitPolicy("outbound", "the policy applies", metav1.ConditionTrue, mailv1.ReasonReady)
	served(t, ns, "the smarthost route is served", func(cfg *config.Config) error {
		rt := cfg.Route("example.org")
		if rt.Smarthost == nil || rt.Smarthost.Host != "smtp.relay.example.net" || rt.Smarthost.CredentialsFile != relayMountPath+"/relay-creds" {
			return fmt.Errorf("route %+v", rt)
		}
		return nil
	})
	creds := &corev1.Secret{}
	if err := get(ns, relaySecretName("mx1"), creds); err != nil || string(creds.Data["relay-creds"]) != "relay-user\nrelay-pass\n" {
		t.Errorf("relay credentials file: %v %q", err, creds.Data["relay-creds"])
	}
	p2 := p.DeepCopy()
	p2.ObjectMeta = metav1.ObjectMeta{Name: "outbound-2", Namespace: ns}
	env.Create(t, p2)
	waitPolicy("outbound-2", "a second policy for the server is refused", metav1.ConditionFalse, mailv1.ReasonPolicyConflict)
	p3 := p.DeepCopy()
	p3.ObjectMeta = metav1.ObjectMeta{Name: "elsewhere", Namespace: ns}
	p3.Spec.ServerRef.Name = "mx9"
	env.Create(t, p3)
	waitPolicy("elsewhere", "a policy for a missing server is refused", metav1.ConditionFalse, mailv1.ReasonServerNotFound)
}
