package controllers

import (
	"context"
	"fmt"
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/kubemail/kubemail/controllers/internal/testenv"
	"github.com/kubemail/kubemail/mailserver/config"
)

// The envtest cases run against a real kube-apiserver + etcd with the
// kubemail CRDs and cert-manager's and external-dns's (hack/crds); the
// cases without those live in controllers/absent. Each case has its own
// namespace and its own manager watching only that namespace. Nothing runs
// the pods: the tests play the kubelet's and the server's part by writing
// the StatefulSet's status and the replicas' status ConfigMaps.
var env *testenv.Env

func TestMain(m *testing.M) {
	scheme, err := NewScheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env, err = testenv.Start(true, scheme)
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
	}
	os.Exit(code)
}

// startOperator creates a namespace and runs the operator on it with opts
// (ServerImage defaults to kubemail:test).
func startOperator(t *testing.T, opts Options) (string, manager.Manager) {
	t.Helper()
	ns := env.Namespace(t)
	if opts.ServerImage == "" {
		opts.ServerImage = "kubemail:test"
	}
	mgr := env.StartManager(t, ns, func(ctx context.Context, mgr manager.Manager) error { return Setup(ctx, mgr, opts) })
	return ns, mgr
}

// get reads an object by name in ns.
func get(ns, name string, obj client.Object) error {
	return env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// updateObject re-reads obj, applies mutate and writes it back, again while the
// write conflicts with the operator's own status writes.
func updateObject[T client.Object](t *testing.T, ns, name string, obj T, mutate func(T)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := get(ns, name, obj); err != nil {
			return err
		}
		mutate(obj)
		return env.Client.Update(context.Background(), obj)
	})
	if err != nil {
		t.Fatalf("updating %s: %v", name, err)
	}
}

// wantCondition checks a condition's status and reason and that it
// describes the object's current generation.
func wantCondition(conds []metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(conds, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition", typ)
	case c.Status != status || (reason != "" && c.Reason != reason):
		return fmt.Errorf("%s is %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	case c.ObservedGeneration != generation:
		return fmt.Errorf("%s describes generation %d, want %d", typ, c.ObservedGeneration, generation)
	}
	return nil
}

// markPodsReady plays the StatefulSet controller: n replicas ready.
func markPodsReady(t *testing.T, ns, name string, n int32) {
	t.Helper()
	testenv.Eventually(t, "marking the pods ready", func() error {
		sts := &appsv1.StatefulSet{}
		if err := get(ns, name, sts); err != nil {
			return err
		}
		sts.Status.Replicas, sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = n, n, n
		sts.Status.ObservedGeneration = sts.Generation
		return env.Client.Status().Update(context.Background(), sts)
	})
}

// assignAddress plays the cloud's load balancer controller.
func assignAddress(t *testing.T, ns, name, ip string) {
	t.Helper()
	testenv.Eventually(t, "assigning the load balancer address", func() error {
		svc := &corev1.Service{}
		if err := get(ns, name, svc); err != nil {
			return err
		}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
		return env.Client.Status().Update(context.Background(), svc)
	})
}

// reportServing plays a server replica reporting the hash it serves.
func reportServing(t *testing.T, ns, server string, ordinal int, hash string) {
	t.Helper()
	testenv.Eventually(t, "reporting the served configuration", func() error {
		cm := &corev1.ConfigMap{}
		if err := get(ns, statusConfigMapName(server, podName(server, ordinal)), cm); err != nil {
			return err
		}
		cm.Data = map[string]string{config.StatusHashKey: hash}
		return env.Client.Update(context.Background(), cm)
	})
}
