package controllers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// argoManaged marks a MailServer as Argo CD marks what it deploys.
func argoManaged(ms *mailv1.MailServer) {
	ms.Labels = map[string]string{"app.kubernetes.io/instance": "mail", "team": "ops"}
	ms.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "mail:mail.kubemail.io/MailServer:mail/mx1"}
}

func TestMailServerBuilders(t *testing.T) {
	tests := map[string]*mailv1.MailServer{
		"default": server("mx1", argoManaged),
		"custom": server("mx1", argoManaged, func(ms *mailv1.MailServer) {
			ms.Spec.Image = "registry.example.com/kubemail:v1"
			ms.Spec.Protocols = []mailv1.Protocol{mailv1.ProtocolSMTP, mailv1.ProtocolSubmissions, mailv1.ProtocolIMAPS}
			ms.Spec.Service = mailv1.MailServerService{
				Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
				Annotations:       map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
				LoadBalancerClass: ptr.To("service.k8s.aws/nlb"),
				ProxyProtocol:     true, TrustedCIDRs: []mailv1.CIDR{"10.0.0.0/8"},
			}
			ms.Spec.Storage.StorageClassName = ptr.To("fast")
			ms.Spec.Storage.Size = ptr.To(resource.MustParse("50Gi"))
			ms.Spec.TLS.IssuerRef = &mailv1.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer"}
			ms.Spec.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}
			ms.Spec.NodeSelector = map[string]string{"mail": "true"}
			ms.Spec.Tolerations = []corev1.Toleration{{Key: "mail", Operator: corev1.TolerationOpExists}}
		}),
		"postgresql with a ClusterIP Service": server("mx1", func(ms *mailv1.MailServer) {
			ms.Spec.Replicas = ptr.To[int32](3)
			ms.Spec.Storage = mailv1.MailServerStorage{Type: mailv1.StoragePostgreSQL}
			ms.Spec.Service = mailv1.MailServerService{Type: corev1.ServiceTypeClusterIP}
			ms.Spec.TLS.SecretName = "mx1-cert"
		}),
	}
	for name, ms := range tests {
		t.Run(name, func(t *testing.T) {
			objs := []any{
				buildStatefulSet(ms, "kubemail:test"),
				buildService(ms),
				buildHeadlessService(ms),
				buildPodDisruptionBudget(ms),
				buildServiceAccount(ms),
				buildRole(ms, []string{"mx1-config-0", "mx1-config-1"}, []string{"mx1-status-mx1-0"}),
				buildRoleBinding(ms),
				buildStatusConfigMap(ms, 0),
			}
			if ms.Spec.TLS.IssuerRef != nil {
				objs = append(objs, buildCertificate(ms))
			}
			goldenYAML(t, "mailserver-"+strings.ReplaceAll(name, " ", "-"), objs...)
		})
	}
}

func TestChildrenDoNotCarryArgoCDTracking(t *testing.T) {
	ms := server("mx1", argoManaged, func(ms *mailv1.MailServer) {
		ms.Spec.TLS.IssuerRef = &mailv1.IssuerReference{Name: "le"}
	})
	objs := []interface {
		GetLabels() map[string]string
		GetAnnotations() map[string]string
		GetName() string
	}{
		buildStatefulSet(ms, "img"), buildService(ms), buildHeadlessService(ms), buildPodDisruptionBudget(ms),
		buildServiceAccount(ms), buildRole(ms, nil, nil), buildRoleBinding(ms), buildStatusConfigMap(ms, 0),
		buildCertificate(ms), buildDKIMSecret(ms, nil), buildSelfSignedSecret(ms, nil, nil),
	}
	for _, o := range objs {
		if _, ok := o.GetLabels()["app.kubernetes.io/instance"]; ok {
			t.Errorf("%s carries app.kubernetes.io/instance, which makes Argo CD prune or adopt it", o.GetName())
		}
		if _, ok := o.GetAnnotations()["argocd.argoproj.io/tracking-id"]; ok {
			t.Errorf("%s carries Argo CD's tracking annotation", o.GetName())
		}
	}
	sts := buildStatefulSet(ms, "img")
	if _, ok := sts.Spec.Template.Labels["app.kubernetes.io/instance"]; ok {
		t.Error("the pod template carries app.kubernetes.io/instance")
	}
}

func TestEffectiveReplicas(t *testing.T) {
	tests := map[string]struct {
		storage  mailv1.StorageType
		replicas *int32
		want     int32
	}{
		"unset is one":                           {mailv1.StorageEmbedded, nil, 1},
		"embedded storage runs at most one":      {mailv1.StorageEmbedded, ptr.To[int32](3), 1},
		"embedded storage may be scaled to zero": {mailv1.StorageEmbedded, ptr.To[int32](0), 0},
		"postgresql storage scales out":          {mailv1.StoragePostgreSQL, ptr.To[int32](3), 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ms := server("mx1", func(ms *mailv1.MailServer) { ms.Spec.Storage.Type = tc.storage; ms.Spec.Replicas = tc.replicas })
			if got := effectiveReplicas(ms); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// A rule without resourceNames allows every object of its kind: a server
// scaled to zero must not be given every ConfigMap of the namespace.
func TestRoleNeverGrantsAWholeKind(t *testing.T) {
	ms := server("mx1")
	for name, role := range map[string]*rbacv1.Role{
		"no replicas": buildRole(ms, []string{"mx1-config-0"}, nil),
		"nothing":     buildRole(ms, nil, nil),
	} {
		for _, r := range role.Rules {
			if len(r.ResourceNames) == 0 {
				t.Errorf("%s: rule %+v names no objects, so it grants all of them", name, r)
			}
		}
	}
}
