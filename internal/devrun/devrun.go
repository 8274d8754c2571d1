// Package devrun runs the operator's mail server pods as local processes,
// for `kubemail dev`: a machine with a kube-apiserver and etcd but no
// kubelet, no scheduler and no cloud load balancer.
//
// It plays, for the StatefulSets the operator makes, the parts of a
// cluster the local control plane lacks, and no more:
//
//   - the kubelet: for each StatefulSet it runs one `kubemail server`
//     process with the pod template's arguments and environment, its
//     Secret volumes written under a per-pod root directory (and kept in
//     step with the Secrets), its container ports published on 127.0.0.1
//     ports, and API credentials from a TokenRequest for the pod's
//     ServiceAccount, so the process has exactly the pod's permissions; a
//     process that exits is restarted with back-off, one whose template
//     changes is replaced;
//   - the StatefulSet controller: readyReplicas from the process's /readyz;
//   - the cloud's load balancer: the Service's address is 127.0.0.1.
//
// The operator itself runs unchanged, so `kubemail dev` exercises the
// code that runs in a cluster. The published addresses are written to
// endpoints.json in the state directory: MailServer "namespace/name" →
// protocol → "127.0.0.1:PORT".
package devrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// Labels of the operator's server StatefulSets (controllers/naming.go).
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelComponent = "app.kubernetes.io/component"
	labelServer    = "mail.kubemail.io/server"
	managerName    = "kubemail-operator"
)

// EndpointsFile is the name of the endpoints file in the state directory.
const EndpointsFile = "endpoints.json"

// Endpoints maps MailServer "namespace/name" → protocol → address.
type Endpoints map[string]map[string]string

// ReadEndpoints reads the endpoints file of a state directory.
func ReadEndpoints(stateDir string) (Endpoints, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, EndpointsFile))
	if err != nil {
		return nil, fmt.Errorf("reading the endpoints: %w", err)
	}
	var e Endpoints
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("reading the endpoints: %w", err)
	}
	return e, nil
}

// Options configure a Runtime.
type Options struct {
	// Command runs in place of the pod image: the kubemail binary, whose
	// arguments the pod template gives. Required.
	Command string
	// StateDir holds one directory per pod (pods/<namespace>/<pod>: its
	// root, ports, token and log) and the endpoints file. Required.
	StateDir string
	// Config reaches the API server; the processes get its host and CA,
	// with a ServiceAccount token instead of these credentials. Required.
	Config *rest.Config
	// Env is added to each process's environment, after this process's own.
	Env []string
	// Resolver, when set, is the DNS server the servers use in place of
	// their configuration's (kubemail server --resolver).
	Resolver string
	// Logger receives progress messages; slog.Default() when nil.
	Logger *slog.Logger
	// Announce, when set, receives a few lines for a person each time a
	// server starts serving.
	Announce io.Writer
	// ProbeInterval is how often a running process's readiness is checked;
	// 2 s when zero.
	ProbeInterval time.Duration
}

// Runtime runs the server pods. Add it to a manager with Setup.
type Runtime struct {
	opts    Options
	log     *slog.Logger
	client  client.Client
	kube    kubernetes.Interface
	cluster clientcmdapi.Cluster // the API server, as the processes reach it

	mu   sync.Mutex
	pods map[string]*pod // by namespace/statefulset
	ctx  context.Context // the manager's, set by Start
}

// Setup adds the runtime to mgr: a controller of the operator's server
// StatefulSets, and a runnable that stops every process when mgr stops.
func Setup(mgr manager.Manager, opts Options) (*Runtime, error) {
	if opts.Command == "" || opts.StateDir == "" || opts.Config == nil {
		return nil, errors.New("setting up the local pod runtime: Command, StateDir and Config are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = 2 * time.Second
	}
	kube, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("setting up the local pod runtime: %w", err)
	}
	r := &Runtime{
		opts: opts, log: opts.Logger.With("component", "devrun"),
		client: mgr.GetClient(), kube: kube, pods: map[string]*pod{},
		cluster: clientcmdapi.Cluster{
			Server: opts.Config.Host, CertificateAuthority: opts.Config.CAFile,
			CertificateAuthorityData: opts.Config.CAData, TLSServerName: opts.Config.ServerName,
		},
	}
	servers, err := predicate.LabelSelectorPredicate(metav1.LabelSelector{
		MatchLabels: map[string]string{labelManagedBy: managerName, labelComponent: "mailserver"},
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the local pod runtime: %w", err)
	}
	err = builder.ControllerManagedBy(mgr).Named("devrun").
		For(&appsv1.StatefulSet{}, builder.WithPredicates(servers)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.podsOfSecret)).
		Complete(r)
	if err != nil {
		return nil, fmt.Errorf("setting up the local pod runtime: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(r.run)); err != nil {
		return nil, fmt.Errorf("setting up the local pod runtime: %w", err)
	}
	return r, nil
}

// run waits for the manager to stop, then stops every process.
func (r *Runtime) run(ctx context.Context) error {
	r.mu.Lock()
	r.ctx = ctx
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	pods := r.pods
	r.pods = map[string]*pod{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(p.stop)
	}
	wg.Wait()
	return r.writeEndpoints()
}

// podsOfSecret wakes the StatefulSets whose pods mount a Secret.
func (r *Runtime) podsOfSecret(_ context.Context, o client.Object) []reconcile.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var reqs []reconcile.Request
	for key, p := range r.pods {
		if p.namespace == o.GetNamespace() && p.mounts(o.GetName()) {
			ns, name, _ := strings.Cut(key, "/")
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}})
		}
	}
	return reqs
}

// Reconcile runs, replaces or stops a StatefulSet's process and reports
// its readiness.
func (r *Runtime) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := req.String()
	sts := &appsv1.StatefulSet{}
	err := r.client.Get(ctx, req.NamespacedName, sts)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("reading StatefulSet %s: %w", key, err)
	}
	gone := apierrors.IsNotFound(err) || !sts.DeletionTimestamp.IsZero()
	if !gone {
		// Without a garbage collector, a StatefulSet outlives its
		// MailServer here: stop its process when the owner is gone.
		if gone, err = r.ownerGone(ctx, sts); err != nil {
			return reconcile.Result{}, err
		}
	}
	r.mu.Lock()
	p := r.pods[key]
	runCtx := r.ctx
	r.mu.Unlock()
	if gone || sts.Spec.Replicas != nil && *sts.Spec.Replicas == 0 {
		if p != nil {
			r.log.Info("Stopping the server process", "statefulset", key)
			p.stop()
			r.mu.Lock()
			delete(r.pods, key)
			r.mu.Unlock()
			if err := r.writeEndpoints(); err != nil {
				return reconcile.Result{}, err
			}
		}
		if !gone {
			return reconcile.Result{}, r.reportStatus(ctx, sts, false)
		}
		return reconcile.Result{}, nil
	}
	if runCtx == nil {
		return reconcile.Result{RequeueAfter: time.Second}, nil // the manager is still starting
	}
	spec, err := r.podSpecOf(ctx, sts)
	if err != nil {
		r.log.Error("Cannot run the server pod", "statefulset", key, "error", err)
		return reconcile.Result{RequeueAfter: 5 * time.Second}, r.reportStatus(ctx, sts, false)
	}
	if p != nil && p.templateHash != spec.templateHash {
		r.log.Info("The pod template changed; replacing the server process", "statefulset", key)
		p.stop()
		p = nil
	}
	if p == nil {
		if p, err = r.newPod(ctx, spec); err != nil {
			return reconcile.Result{}, err
		}
		r.mu.Lock()
		r.pods[key] = p
		r.mu.Unlock()
	}
	// Like the kubelet, start the container only once its volumes and
	// credentials are in place; keep them current afterwards.
	if err := errors.Join(p.syncVolumes(ctx, r.client), p.refreshToken(ctx, r.kube, r.cluster)); err != nil {
		if !p.running() {
			r.log.Info("Waiting to start the server process", "statefulset", key, "reason", err)
			return reconcile.Result{RequeueAfter: r.opts.ProbeInterval}, r.reportStatus(ctx, sts, false)
		}
		r.log.Warn("Cannot update the server pod's volumes or token", "statefulset", key, "error", err)
	}
	if !p.running() {
		p.start(runCtx) //nolint:contextcheck // the process outlives this reconcile: it runs until stopped or the manager stops
	}
	wasReady := p.endpoints() != nil
	ready := p.ready(ctx)
	if ready != wasReady {
		if err := r.writeEndpoints(); err != nil {
			return reconcile.Result{}, err
		}
	}
	if p.announce() {
		r.announce(p)
	}
	if err := r.reportStatus(ctx, sts, ready); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.assignAddress(ctx, sts); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: r.opts.ProbeInterval}, nil
}

// ownerGone reports whether the StatefulSet's controlling MailServer no
// longer exists.
func (r *Runtime) ownerGone(ctx context.Context, sts *appsv1.StatefulSet) (bool, error) {
	for _, ref := range sts.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller || ref.Kind != "MailServer" {
			continue
		}
		ms := &mailv1.MailServer{}
		err := r.client.Get(ctx, client.ObjectKey{Namespace: sts.Namespace, Name: ref.Name}, ms)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading MailServer %s/%s: %w", sts.Namespace, ref.Name, err)
		}
		return ms.UID != ref.UID || !ms.DeletionTimestamp.IsZero(), nil
	}
	return false, nil
}

// reportStatus plays the StatefulSet controller for the one replica.
func (r *Runtime) reportStatus(ctx context.Context, sts *appsv1.StatefulSet, ready bool) error {
	want := appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas > 0 {
		want.Replicas, want.CurrentReplicas, want.UpdatedReplicas = 1, 1, 1
		if ready {
			want.ReadyReplicas, want.AvailableReplicas = 1, 1
		}
	}
	if sts.Status.ObservedGeneration == want.ObservedGeneration && sts.Status.Replicas == want.Replicas &&
		sts.Status.ReadyReplicas == want.ReadyReplicas && sts.Status.AvailableReplicas == want.AvailableReplicas &&
		sts.Status.CurrentReplicas == want.CurrentReplicas && sts.Status.UpdatedReplicas == want.UpdatedReplicas {
		return nil
	}
	patch := client.MergeFrom(sts.DeepCopy())
	sts.Status.ObservedGeneration, sts.Status.Replicas = want.ObservedGeneration, want.Replicas
	sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = want.ReadyReplicas, want.AvailableReplicas
	sts.Status.CurrentReplicas, sts.Status.UpdatedReplicas = want.CurrentReplicas, want.UpdatedReplicas
	if err := r.client.Status().Patch(ctx, sts, patch); err != nil {
		return fmt.Errorf("writing the status of StatefulSet %s/%s: %w", sts.Namespace, sts.Name, err)
	}
	return nil
}

// assignAddress plays the load balancer: the server's LoadBalancer
// Service is reached at 127.0.0.1.
func (r *Runtime) assignAddress(ctx context.Context, sts *appsv1.StatefulSet) error {
	svc := &corev1.Service{}
	err := r.client.Get(ctx, client.ObjectKey{Namespace: sts.Namespace, Name: sts.Labels[labelServer]}, svc)
	if apierrors.IsNotFound(err) {
		return nil // the operator has not made it yet
	}
	if err != nil {
		return fmt.Errorf("reading the server's Service: %w", err)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
		return nil
	}
	patch := client.MergeFrom(svc.DeepCopy())
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "127.0.0.1"}}
	if err := r.client.Status().Patch(ctx, svc, patch); err != nil {
		return fmt.Errorf("assigning the Service's address: %w", err)
	}
	return nil
}

// writeEndpoints writes the published addresses of every ready server.
func (r *Runtime) writeEndpoints() error {
	r.mu.Lock()
	e := Endpoints{}
	for _, p := range r.pods {
		if addrs := p.endpoints(); addrs != nil {
			e[p.namespace+"/"+p.server] = addrs
		}
	}
	r.mu.Unlock()
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the endpoints: %w", err)
	}
	return writeFileAtomic(filepath.Join(r.opts.StateDir, EndpointsFile), append(data, '\n'), 0o644)
}

// announce tells the person at the terminal where a server listens.
func (r *Runtime) announce(p *pod) {
	if r.opts.Announce == nil {
		return
	}
	addrs := p.endpoints()
	names := make([]string, 0, len(addrs))
	for name := range addrs {
		names = append(names, name)
	}
	sort.Slice(names, func(a, b int) bool { return protocolOrder(names[a]) < protocolOrder(names[b]) })
	var b strings.Builder
	fmt.Fprintf(&b, "\nMailServer %s/%s is serving (pod %s):\n", p.namespace, p.server, p.name)
	for _, name := range names {
		fmt.Fprintf(&b, "  %-12s %s\n", name, addrs[name])
	}
	fmt.Fprintf(&b, "  %-12s %s\n", "log", p.logPath())
	_, _ = io.WriteString(r.opts.Announce, b.String())
}

// protocolOrder sorts protocols as the issue and the docs list them.
func protocolOrder(name string) int {
	for i, p := range []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"} {
		if p == name {
			return i
		}
	}
	return 100
}
