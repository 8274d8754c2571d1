package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/mailserver/config"
)

// Pure builders of the objects a MailServer owns. They take the MailServer
// and what the reconciler found, and return the desired object with its
// owner reference; they never call the API. None copies the MailServer's
// labels or annotations, so Argo CD's tracking annotation and the
// app.kubernetes.io/instance label stay on the MailServer alone and Argo CD
// does not mistake the children for its own.

// Identity of the server process inside its pod.
const (
	serverUID = 65532 // "nonroot" of distroless images
	// serverGracePeriod lets connections finish and the store close.
	serverGracePeriod = 60
	// podNameEnv holds the pod's name, from which the status ConfigMap's
	// name is made; the other variables are the pod contract's
	// (mailserver/config/pod.go).
	podNameEnv = "POD_NAME"
)

// objectMeta is the metadata of an object owned by ms.
func objectMeta(ms *mailv1.MailServer, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: ms.Namespace, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{controllerRef(ms, "MailServer")},
	}
}

// effectiveReplicas is the number of pods to run: spec.replicas (1 when
// unset), but never more than one on Embedded storage.
func effectiveReplicas(ms *mailv1.MailServer) int32 {
	n := ptr.Deref(ms.Spec.Replicas, 1)
	if ms.Spec.Storage.Type != mailv1.StoragePostgreSQL && n > 1 {
		return 1
	}
	return n
}

// buildServiceAccount is the identity of the server pods.
func buildServiceAccount(ms *mailv1.MailServer) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: objectMeta(ms, serviceAccountName(ms.Name), serverLabels(ms.Name)),
	}
}

// buildRole lets the server pods read their configuration Secrets and
// update their status ConfigMaps, by name, and nothing else. A rule with
// no names would allow every object of its kind, so an empty list gives no
// rule. Watching a Secret allowed by name needs a metadata.name field selector.
func buildRole(ms *mailv1.MailServer, configSecrets, statusConfigMaps []string) *rbacv1.Role {
	role := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: objectMeta(ms, serviceAccountName(ms.Name), serverLabels(ms.Name)),
		Rules:      []rbacv1.PolicyRule{},
	}
	if len(configSecrets) > 0 {
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"},
			ResourceNames: configSecrets, Verbs: []string{"get", "list", "watch"}})
	}
	if len(statusConfigMaps) > 0 {
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"},
			ResourceNames: statusConfigMaps, Verbs: []string{"get", "update", "patch"}})
	}
	return role
}

// buildRoleBinding grants buildRole to buildServiceAccount.
func buildRoleBinding(ms *mailv1.MailServer) *rbacv1.RoleBinding {
	name := serviceAccountName(ms.Name)
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: objectMeta(ms, name, serverLabels(ms.Name)),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ms.Namespace}},
	}
}

// buildStatusConfigMap is the (empty) status ConfigMap of one replica;
// the replica fills it in.
func buildStatusConfigMap(ms *mailv1.MailServer, ordinal int) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(ms, statusConfigMapName(ms.Name, podName(ms.Name, ordinal)), statusLabels(ms.Name)),
	}
}

// buildService exposes the served protocols on their well-known ports.
func buildService(ms *mailv1.MailServer) *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(ms, ms.Name, serverLabels(ms.Name)),
		Spec: corev1.ServiceSpec{
			Type:     ms.Spec.Service.Type,
			Selector: selectorLabels(ms.Name),
		},
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	}
	if len(ms.Spec.Service.Annotations) > 0 {
		svc.Annotations = map[string]string{}
		for k, v := range ms.Spec.Service.Annotations {
			svc.Annotations[k] = v
		}
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		svc.Spec.ExternalTrafficPolicy = ms.Spec.Service.ExternalTrafficPolicy
		if svc.Spec.ExternalTrafficPolicy == "" {
			svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		svc.Spec.LoadBalancerClass = ms.Spec.Service.LoadBalancerClass
	}
	for _, p := range protocols(ms) {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: p.name, Protocol: corev1.ProtocolTCP, Port: p.servicePort, TargetPort: intstr.FromString(p.name),
		})
	}
	return svc
}

// buildHeadlessService governs the StatefulSet's pods and gives each a DNS name.
func buildHeadlessService(ms *mailv1.MailServer) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(ms, headlessServiceName(ms.Name), serverLabels(ms.Name)),
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeClusterIP,
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 selectorLabels(ms.Name),
			PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{{Name: "ops", Protocol: corev1.ProtocolTCP, Port: containerPortOps,
				TargetPort: intstr.FromString("ops")}},
		},
	}
}

// buildPodDisruptionBudget lets a voluntary disruption (a node drain) take
// one server pod at a time. With one replica the drain may proceed: a PDB
// that forbade it would block node maintenance for good.
func buildPodDisruptionBudget(ms *mailv1.MailServer) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(ms, ms.Name, serverLabels(ms.Name)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(ms.Name)},
		},
	}
}

// buildStatefulSet runs the server: `kubemail server --config-secret`
// pointing at shard 0 of its configuration, as a non-root process with a
// read-only root file system and no capabilities, the certificate and the
// DKIM keys mounted, and the Embedded store on a PersistentVolumeClaim.
func buildStatefulSet(ms *mailv1.MailServer, image string) *appsv1.StatefulSet {
	labels := serverLabels(ms.Name)
	sts := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: objectMeta(ms, ms.Name, labels),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(effectiveReplicas(ms)),
			ServiceName:         headlessServiceName(ms.Name),
			Selector:            &metav1.LabelSelector{MatchLabels: selectorLabels(ms.Name)},
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       podSpec(ms, image),
			},
		},
	}
	if ms.Spec.Storage.Type != mailv1.StoragePostgreSQL {
		size := resource.MustParse("10Gi")
		if ms.Spec.Storage.Size != nil {
			size = *ms.Spec.Storage.Size
		}
		sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: selectorLabels(ms.Name)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ms.Spec.Storage.StorageClassName,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			},
		}}
		sts.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, // mail outlives a deleted MailServer
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}
	}
	return sts
}

func podSpec(ms *mailv1.MailServer, image string) corev1.PodSpec {
	spec := corev1.PodSpec{
		ServiceAccountName:            serviceAccountName(ms.Name),
		TerminationGracePeriodSeconds: ptr.To[int64](serverGracePeriod),
		NodeSelector:                  ms.Spec.NodeSelector,
		Tolerations:                   ms.Spec.Tolerations,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To[int64](serverUID),
			RunAsGroup:     ptr.To[int64](serverUID),
			FSGroup:        ptr.To[int64](serverUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{serverContainerSpec(ms, image)},
		Volumes: []corev1.Volume{
			{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: tlsSecretName(ms), DefaultMode: ptr.To[int32](0o440)}}},
			{Name: "dkim", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: dkimBundleSecretName(ms.Name), DefaultMode: ptr.To[int32](0o440), Optional: ptr.To(true)}}},
			{Name: "relay", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: relaySecretName(ms.Name), DefaultMode: ptr.To[int32](0o440), Optional: ptr.To(true)}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	if ms.Spec.Storage.Type == mailv1.StoragePostgreSQL {
		// The stateless replicas still need a scratch directory.
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: dataVolume,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	return spec
}

func serverContainerSpec(ms *mailv1.MailServer, image string) corev1.Container {
	c := corev1.Container{
		Name:            serverContainer,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		// The probes answer (not ready) while the server waits for its
		// configuration, which names the ops listener.
		Args: config.ServerArgs(ms.Namespace+"/"+configSecretName(ms.Name, 0), listenAddress(containerPortOps)),
		Env: []corev1.EnvVar{
			{Name: podNameEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: config.EnvPodNamespace, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: config.EnvStatusConfigMap, Value: ms.Name + "-status-$(" + podNameEnv + ")"},
		},
		Resources: ms.Spec.Resources,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("ops")}},
			PeriodSeconds: 5, FailureThreshold: 3,
		},
		// A large configuration takes a while to load: give the first start time.
		StartupProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("ops")}},
			PeriodSeconds: 5, FailureThreshold: 60,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("ops")}},
			PeriodSeconds: 10, FailureThreshold: 6,
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: dataVolume, MountPath: dataMountPath},
			{Name: "tls", MountPath: tlsMountPath, ReadOnly: true},
			{Name: "dkim", MountPath: dkimMountPath, ReadOnly: true},
			{Name: "relay", MountPath: relayMountPath, ReadOnly: true},
			{Name: "tmp", MountPath: tmpMountPath},
		},
	}
	for _, p := range protocols(ms) {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.name, ContainerPort: p.containerPort, Protocol: corev1.ProtocolTCP})
	}
	c.Ports = append(c.Ports, corev1.ContainerPort{Name: "ops", ContainerPort: containerPortOps, Protocol: corev1.ProtocolTCP})
	return c
}
