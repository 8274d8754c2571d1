package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/mailserver/config"
)

// relayMountPath is where the smarthost credentials are mounted: one file
// per credentials Secret, named after it, holding the user name and the
// password on two lines (config.Smarthost.CredentialsFile).
const relayMountPath = "/etc/kubemail/relay"

func relaySecretName(server string) string { return server + "-relay" }

// smarthostTLS maps the API's TLS modes to the configuration's.
var smarthostTLS = map[mailv1.SmarthostTLS]string{
	mailv1.SmarthostImplicitTLS:           config.SmarthostImplicitTLS,
	mailv1.SmarthostStartTLSRequired:      config.SmarthostStartTLSRequired,
	mailv1.SmarthostStartTLSOpportunistic: config.SmarthostStartTLSOpportunistic,
}

// electPolicy returns the RelayPolicy that applies to a server, the oldest
// of those naming it, and a PolicyConflict problem for each other one.
func electPolicy(policies []mailv1.RelayPolicy) (*mailv1.RelayPolicy, map[string]problem) {
	if len(policies) == 0 {
		return nil, nil
	}
	sorted := make([]*mailv1.RelayPolicy, len(policies))
	for i := range policies {
		sorted[i] = &policies[i]
	}
	sort.Slice(sorted, func(a, b int) bool {
		return age{sorted[a].CreationTimestamp, 0, sorted[a].Name}.before(age{sorted[b].CreationTimestamp, 0, sorted[b].Name})
	})
	problems := map[string]problem{}
	for _, p := range sorted[1:] {
		problems[p.Name] = problem{Reason: mailv1.ReasonPolicyConflict, Message: fmt.Sprintf(
			"RelayPolicy %s, which is older, already routes MailServer %s; merge the two or delete one", sorted[0].Name, p.Spec.ServerRef.Name)}
	}
	return sorted[0], problems
}

// readRelayCredentials returns, for each credentials Secret a RelayPolicy
// names, the file the server reads: user name and password on two lines.
// A missing Secret or key is a *userError.
func readRelayCredentials(ctx context.Context, c client.Reader, p *mailv1.RelayPolicy) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, name := range relaySecretNames(p) {
		s := &corev1.Secret{}
		err := c.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, s)
		if apierrors.IsNotFound(err) {
			return nil, &userError{reason: mailv1.ReasonSecretNotFound,
				message: fmt.Sprintf("Secret %s (smarthost credentialsSecretRef) does not exist; create it with username and password keys", name)}
		}
		if err != nil {
			return nil, fmt.Errorf("reading the smarthost credentials of RelayPolicy %s: %w", p.Name, err)
		}
		user, pass := s.Data[corev1.BasicAuthUsernameKey], s.Data[corev1.BasicAuthPasswordKey]
		if len(user) == 0 || len(pass) == 0 || strings.ContainsAny(string(user)+string(pass), "\r\n") {
			return nil, &userError{reason: mailv1.ReasonSecretNotFound,
				message: fmt.Sprintf("Secret %s needs non-empty one-line username and password keys", name)}
		}
		out[name] = []byte(string(user) + "\n" + string(pass) + "\n")
	}
	return out, nil
}

// relayConfig compiles a RelayPolicy; subdomain patterns (*.example.com)
// become the server's subdomain routes.
func relayConfig(p *mailv1.RelayPolicy) (config.Relay, config.Outbound) {
	var r config.Relay
	var o config.Outbound
	if p.Spec.MTASTS != nil && !*p.Spec.MTASTS {
		o.MTASTS = config.MTASTSOff
	}
	if p.Spec.Mode == mailv1.RelaySmarthost && p.Spec.Smarthost != nil {
		r.Routes = append(r.Routes, config.RelayRoute{Domain: "*", Smarthost: smarthostConfig(p.Spec.Smarthost)})
	}
	seen := map[string]bool{"*": true}
	for _, rt := range p.Spec.Routes {
		for _, d := range rt.Domains {
			if seen[d] {
				continue // the first route naming a domain wins
			}
			seen[d] = true
			route := config.RelayRoute{Domain: d}
			if rt.Mode == mailv1.RelaySmarthost && rt.Smarthost != nil {
				route.Smarthost = smarthostConfig(rt.Smarthost)
			}
			r.Routes = append(r.Routes, route)
		}
	}
	for _, n := range p.Spec.AllowedNetworks {
		r.AllowedNetworks = append(r.AllowedNetworks, string(n))
	}
	if p.Spec.MaxMessagesPerHourPerSender > 0 {
		r.RateLimits = []config.RateLimit{{Sender: "*", RecipientsPerHour: int(p.Spec.MaxMessagesPerHourPerSender)}}
	}
	return r, o
}

func smarthostConfig(s *mailv1.Smarthost) *config.Smarthost {
	sh := &config.Smarthost{Host: s.Host, Port: int(s.Port), TLS: smarthostTLS[s.TLS]}
	if s.CredentialsSecretRef != nil {
		sh.CredentialsFile = relayMountPath + "/" + s.CredentialsSecretRef.Name
	}
	return sh
}

// buildRelaySecret holds the smarthost credentials of the server's
// RelayPolicy, mounted at relayMountPath.
func buildRelaySecret(ms *mailv1.MailServer, files map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(ms, relaySecretName(ms.Name), serverLabels(ms.Name)),
		Type:       corev1.SecretTypeOpaque,
		Data:       files,
	}
}

// relaySecretNames lists the credentials Secrets a RelayPolicy refers to.
func relaySecretNames(p *mailv1.RelayPolicy) []string {
	var out []string
	if p.Spec.Smarthost != nil && p.Spec.Smarthost.CredentialsSecretRef != nil {
		out = append(out, p.Spec.Smarthost.CredentialsSecretRef.Name)
	}
	for _, rt := range p.Spec.Routes {
		if rt.Smarthost != nil && rt.Smarthost.CredentialsSecretRef != nil {
			out = append(out, rt.Smarthost.CredentialsSecretRef.Name)
		}
	}
	return out
}
