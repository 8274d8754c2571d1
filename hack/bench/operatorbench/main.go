// Command operatorbench is `make bench-operator`: it runs `kubemail dev`
// without its in-process operator and a separate `kubemail operator`
// against it, applies N Mailboxes across D MailDomains of one MailServer,
// and measures the time until every Mailbox is Ready (the server serves a
// configuration holding it), the operator's peak RSS, and, on the loaded
// system, the latency from applying a new Mailbox to the first successful
// IMAPS login with the password the operator generated.
//
// Everything listens on 127.0.0.1; the servers resolve DNS through a closed
// loopback port, so nothing leaves the machine.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers"
	"github.com/kubemail/kubemail/internal/devenv"
	"github.com/kubemail/kubemail/internal/devrun"
	"github.com/kubemail/kubemail/mailserver/auth"
)

const (
	namespace    = "bench"
	serverName   = "mx1"
	benchPass    = "bench-password"
	readyTimeout = 15 * time.Minute
)

type options struct {
	binary, work, pprof         string
	metrics, memLimit           string
	mailboxes, domains, newOnes int
	newConcurrency, applyers    int
}

func main() {
	o := options{}
	flag.StringVar(&o.binary, "kubemail", "bin/kubemail", "the kubemail binary")
	flag.StringVar(&o.work, "work", "", "work directory (default: a new temporary one)")
	flag.IntVar(&o.mailboxes, "mailboxes", 10000, "Mailboxes applied in bulk")
	flag.IntVar(&o.domains, "domains", 10, "MailDomains they are spread across")
	flag.IntVar(&o.newOnes, "new", 100, "new Mailboxes applied one by one on the loaded system, for the login latency")
	flag.IntVar(&o.newConcurrency, "new-concurrency", 4, "how many of the new Mailboxes are in flight at once")
	flag.StringVar(&o.pprof, "pprof", "", "serve the operator's pprof endpoints at this loopback address, e.g. 127.0.0.1:6060")
	flag.StringVar(&o.metrics, "metrics", "", "serve the operator's metrics over HTTP at this loopback address")
	flag.StringVar(&o.memLimit, "operator-memory-limit", "256MiB",
		"run the operator as its Deployment does under this memory limit (KUBEMAIL_MEMORY_LIMIT, which kubemail plans its garbage collection by as it does by its cgroup's limit in a pod); empty for none")
	flag.IntVar(&o.applyers, "apply-concurrency", 16, "concurrent clients applying the bulk Mailboxes")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // the clients' own logs are not the benchmark's output
	stopOnSignal()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "operatorbench:", err)
		os.Exit(1)
	}
}

// children are the processes to stop if the benchmark is interrupted.
var (
	childrenMu sync.Mutex
	children   []*proc
)

// stopOnSignal stops the children, newest first, on SIGINT or SIGTERM.
func stopOnSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		childrenMu.Lock()
		for i := len(children) - 1; i >= 0; i-- {
			children[i].stop()
		}
		os.Exit(1)
	}()
}

// proc is a child process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(logPath string, env []string, name string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(context.Background(), name, args...) // stopped by proc.stop
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(append(os.Environ(), "KUBEMAIL_LOOPBACK_DNS_ONLY=1"), env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(p.done) }()
	childrenMu.Lock()
	children = append(children, p)
	childrenMu.Unlock()
	return p, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(90 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// peakRSS reads VmHWM, the process's peak resident set, in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

type results struct {
	Mailboxes, Domains    int
	OperatorMemoryLimit   string  // the Deployment's limit the operator ran under (KUBEMAIL_MEMORY_LIMIT)
	ApplySeconds          float64 // creating the objects
	AllReadySeconds       float64 // from the first create until every Mailbox is Ready
	OperatorPeakRSSBytes  int64
	ReadyP50, ReadyP95    float64 // apply → Ready of the new Mailboxes, seconds
	LoginP50, LoginP95    float64 // apply → first successful login, seconds
	LoginMax              float64
	NewMailboxes          int
	ServedConfigHash      string
	ConfigSecrets         int
	OperatorLog, DevLog   string
	LoginFailuresObserved int64
	// Where the bulk phase (first create → all Ready) went: the API
	// server's writes ("VERB resource"), the operator's reconciles and
	// their seconds, by controller.
	BulkAPIWrites        counters
	BulkReconciles       counters
	BulkReconcileSeconds counters
	BulkCPUSeconds       counters // by process: "name (pid)"
}

func run(o options) error {
	if o.work == "" {
		dir, err := os.MkdirTemp("", "operatorbench-")
		if err != nil {
			return err
		}
		o.work = dir
	}
	binary, err := filepath.Abs(o.binary)
	if err != nil {
		return err
	}
	state := filepath.Join(o.work, "dev")
	res := results{Mailboxes: o.mailboxes, Domains: o.domains, NewMailboxes: o.newOnes,
		OperatorLog: filepath.Join(o.work, "operator.log"), DevLog: filepath.Join(o.work, "dev.log")}

	dev, err := start(res.DevLog, nil, binary, "dev", "--state-dir", state, "--samples=", "--operator=false",
		"--resolver", "127.0.0.1:1", "--assets-dir", devenv.AssetsDir(), "--crd-dir", "config/crd/bases")
	if err != nil {
		return err
	}
	defer dev.stop()
	kubeconfig := filepath.Join(state, "kubeconfig")
	if err := waitFile(kubeconfig, dev, 3*time.Minute); err != nil {
		return err
	}
	opArgs := []string{"operator", "--kubeconfig", kubeconfig, "--server-image", "kubemail:dev",
		"--health-probe-bind-address", "0", "--verify-dns=false"}
	if o.pprof != "" {
		opArgs = append(opArgs, "--pprof-bind-address", o.pprof)
	}
	if o.metrics == "" {
		// Always served: the reconcile counts go in the report.
		if o.metrics, err = freeLoopbackAddr(context.Background()); err != nil {
			return err
		}
	}
	opArgs = append(opArgs, "--metrics-bind-address", o.metrics, "--metrics-secure=false")
	var opEnv []string
	if o.memLimit != "" {
		q, err := resource.ParseQuantity(strings.TrimSuffix(strings.ReplaceAll(o.memLimit, "iB", "i"), "B"))
		if err != nil {
			return fmt.Errorf("-operator-memory-limit: %w", err)
		}
		// What kubemail reads from its cgroup in a pod; GOMEMLIMIT unset,
		// so it sets its own from the limit.
		opEnv = append(opEnv, "KUBEMAIL_MEMORY_LIMIT="+strconv.FormatInt(q.Value(), 10), "GOMEMLIMIT=")
		res.OperatorMemoryLimit = o.memLimit
	}
	op, err := start(res.OperatorLog, opEnv, binary, opArgs...)
	if err != nil {
		return err
	}
	defer op.stop()

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	scheme, err := controllers.NewScheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Printf("work directory %s; setting up a MailServer and %d MailDomains\n", o.work, o.domains)
	if err := setup(ctx, c, o); err != nil {
		return err
	}
	select {
	case <-op.done:
		return fmt.Errorf("kubemail operator exited; see %s", res.OperatorLog)
	case <-time.After(time.Second):
	}
	ep, err := waitEndpoints(state, dev)
	if err != nil {
		return err
	}

	writes0, err := apiWrites(ctx, cfg)
	if err != nil {
		return err
	}
	count0, secs0, err := reconciles(ctx, o.metrics)
	if err != nil {
		return err
	}
	cpu0 := cpuByProcess(os.Getpid())
	fmt.Printf("applying %d Mailboxes with %d clients\n", o.mailboxes, o.applyers)
	began := time.Now()
	if err := applyBulk(ctx, c, o); err != nil {
		return err
	}
	res.ApplySeconds = time.Since(began).Seconds()
	fmt.Printf("applied in %.1f s; waiting for every Mailbox to be Ready\n", res.ApplySeconds)
	if err := waitAllReady(ctx, cfg, scheme, o.mailboxes, began); err != nil {
		return err
	}
	res.AllReadySeconds = time.Since(began).Seconds()
	writes1, err := apiWrites(ctx, cfg)
	if err != nil {
		return err
	}
	count1, secs1, err := reconciles(ctx, o.metrics)
	if err != nil {
		return err
	}
	res.BulkCPUSeconds = cpuByProcess(os.Getpid()).sub(cpu0)
	res.BulkAPIWrites = writes1.sub(writes0)
	res.BulkReconciles, res.BulkReconcileSeconds = count1.sub(count0), secs1.sub(secs0)
	ms := &mailv1.MailServer{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: serverName}, ms); err != nil {
		return err
	}
	res.ServedConfigHash = ms.Status.ConfigHash
	secrets := &corev1.SecretList{}
	if err := c.List(ctx, secrets, client.InNamespace(namespace), client.MatchingLabels{"mail.kubemail.io/server": serverName,
		"app.kubernetes.io/component": "config"}); err != nil {
		return err
	}
	res.ConfigSecrets = len(secrets.Items)
	fmt.Printf("all %d Mailboxes Ready after %.1f s (configuration in %d Secrets)\n", o.mailboxes, res.AllReadySeconds, res.ConfigSecrets)
	if err := loginOnce(ctx, ep["imaps"], "user0@d0.bench.test", benchPass); err != nil {
		return fmt.Errorf("a bulk Mailbox cannot log in: %w", err)
	}

	fmt.Printf("applying %d new Mailboxes, %d at a time, measuring apply → first IMAPS login\n", o.newOnes, o.newConcurrency)
	ready, login, failures, err := newMailboxes(ctx, c, ep["imaps"], o)
	if err != nil {
		return err
	}
	res.LoginFailuresObserved = failures
	res.ReadyP50, res.ReadyP95 = percentile(ready, 50), percentile(ready, 95)
	res.LoginP50, res.LoginP95, res.LoginMax = percentile(login, 50), percentile(login, 95), percentile(login, 100)
	if res.OperatorPeakRSSBytes, err = peakRSS(op.cmd.Process.Pid); err != nil {
		return err
	}
	report(res)
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.work, "results.json"), data, 0o644)
}

func waitFile(path string, p *proc, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-p.done:
			return errors.New("kubemail dev exited; see its log")
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear", path)
		}
	}
}

func waitEndpoints(state string, dev *proc) (map[string]string, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if e, err := devrun.ReadEndpoints(state); err == nil && e[namespace+"/"+serverName] != nil {
			return e[namespace+"/"+serverName], nil
		}
		select {
		case <-dev.done:
			return nil, errors.New("kubemail dev exited; see its log")
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the server did not start serving")
		}
	}
}

// setup makes the namespace, the MailServer, the MailDomains, and one
// Secret per domain holding the password hash of each of its Mailboxes,
// as a GitOps repository with sealed hashes would.
func setup(ctx context.Context, c client.Client, o options) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	ms := &mailv1.MailServer{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: serverName},
		Spec: mailv1.MailServerSpec{Hostname: "mx1.bench.test"}}
	if err := c.Create(ctx, ms); err != nil {
		return err
	}
	hash, err := auth.Hash(benchPass)
	if err != nil {
		return err
	}
	perDomain := (o.mailboxes + o.domains - 1) / o.domains
	for d := range o.domains {
		md := &mailv1.MailDomain{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("d%d", d)},
			Spec: mailv1.MailDomainSpec{Domain: mailv1.DomainName(fmt.Sprintf("d%d.bench.test", d)), ServerRef: corev1.LocalObjectReference{Name: serverName}}}
		if err := c.Create(ctx, md); err != nil {
			return err
		}
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("d%d-passwords", d)},
			Data: map[string][]byte{}}
		for i := range perDomain {
			sec.Data[fmt.Sprintf("user%d", i)] = []byte(hash)
		}
		if err := c.Create(ctx, sec); err != nil {
			return err
		}
	}
	return nil
}

func applyBulk(ctx context.Context, c client.Client, o options) error {
	perDomain := (o.mailboxes + o.domains - 1) / o.domains
	jobs := make(chan int)
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.applyers {
		wg.Go(func() {
			for n := range jobs {
				d, i := n/perDomain, n%perDomain
				m := &mailv1.Mailbox{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("user%d-d%d", i, d)},
					Spec: mailv1.MailboxSpec{
						Address:           mailv1.EmailAddress(fmt.Sprintf("user%d@d%d.bench.test", i, d)),
						PasswordSecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: fmt.Sprintf("d%d-passwords", d)}, Key: fmt.Sprintf("user%d", i)},
					}}
				if err := c.Create(ctx, m); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("creating Mailbox %s: %w", m.Name, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for n := range o.mailboxes {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	return firstErr
}

func isReady(conds []metav1.Condition, generation int64) bool {
	c := meta.FindStatusCondition(conds, mailv1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

// waitAllReady waits until n Mailboxes are Ready, following them with one
// list and then a watch: listing 10,000 Mailboxes every second would load
// the API server the benchmark measures.
func waitAllReady(ctx context.Context, cfg *rest.Config, scheme *kruntime.Scheme, n int, began time.Time) error {
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ready := map[string]bool{}
	count := func() int {
		c := 0
		for _, ok := range ready {
			if ok {
				c++
			}
		}
		return c
	}
	var rv string
	relist := func() error {
		list := &mailv1.MailboxList{}
		if err := wc.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return err
		}
		clear(ready)
		for i := range list.Items {
			ready[list.Items[i].Name] = isReady(list.Items[i].Status.Conditions, list.Items[i].Generation)
		}
		rv = list.ResourceVersion
		return nil
	}
	if err := relist(); err != nil {
		return err
	}
	last := time.Now()
	for count() < n {
		w, err := wc.Watch(ctx, &mailv1.MailboxList{}, client.InNamespace(namespace), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			return err
		}
		timeout := time.After(time.Until(began.Add(readyTimeout)))
	events:
		for count() < n {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					break events // the API server ended the watch: start another from rv
				}
				m, isMailbox := ev.Object.(*mailv1.Mailbox)
				if !isMailbox { // a watch error, such as a resource version too old: list again
					w.Stop()
					if err := relist(); err != nil {
						return err
					}
					break events
				}
				rv = m.ResourceVersion
				if ev.Type == watch.Deleted {
					delete(ready, m.Name)
				} else {
					ready[m.Name] = isReady(m.Status.Conditions, m.Generation)
				}
				if time.Since(last) > 10*time.Second {
					fmt.Printf("  %d of %d Ready after %.0f s\n", count(), n, time.Since(began).Seconds())
					last = time.Now()
				}
			case <-timeout:
				w.Stop()
				return fmt.Errorf("only %d of %d Mailboxes Ready after %v", count(), n, readyTimeout)
			}
		}
		w.Stop()
	}
	return nil
}

// loginOnce logs in over IMAPS (the certificate is the operator's
// self-signed one) and logs out.
func loginOnce(ctx context.Context, addr, user, password string) error {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the self-signed certificate of a local benchmark
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(conn, "a LOGIN %q %q\r\n", user, password); err != nil {
		return err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "a ") {
			if !strings.HasPrefix(line, "a OK") {
				return errors.New(strings.TrimSpace(line))
			}
			_, _ = fmt.Fprintf(conn, "b LOGOUT\r\n")
			return nil
		}
	}
}

// newMailboxes applies o.newOnes Mailboxes with generated passwords and
// measures, for each, apply → Ready and apply → first successful login.
// It polls the API for Ready and the credentials Secret, then logs in; a
// failed login is retried after 100 ms (and counted), so the server's
// throttling of failed logins does not colour the figure.
func newMailboxes(ctx context.Context, c client.Client, imaps string, o options) (ready, login []float64, failures int64, err error) {
	var mu sync.Mutex
	var firstErr error
	var failed atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range o.newConcurrency {
		wg.Go(func() {
			for i := range jobs {
				r, l, err := oneNew(ctx, c, imaps, i, &failed)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				ready, login = append(ready, r), append(login, l)
				mu.Unlock()
			}
		})
	}
	for i := range o.newOnes {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return ready, login, failed.Load(), firstErr
}

func oneNew(ctx context.Context, c client.Client, imaps string, i int, failed *atomic.Int64) (readyS, loginS float64, err error) {
	name := fmt.Sprintf("new%d", i)
	addr := fmt.Sprintf("new%d@d%d.bench.test", i, i%10)
	m := &mailv1.Mailbox{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: mailv1.MailboxSpec{Address: mailv1.EmailAddress(addr)}}
	began := time.Now()
	if err := c.Create(ctx, m); err != nil {
		return 0, 0, err
	}
	deadline := began.Add(2 * time.Minute)
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(m), m); err != nil {
			return 0, 0, err
		}
		if isReady(m.Status.Conditions, m.Generation) {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("mailbox %s not Ready after 2 minutes", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	readyS = time.Since(began).Seconds()
	sec := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name + "-credentials"}, sec); err != nil {
		return 0, 0, err
	}
	for {
		err := loginOnce(ctx, imaps, addr, string(sec.Data["password"]))
		if err == nil {
			break
		}
		failed.Add(1)
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("mailbox %s cannot log in: %w", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return readyS, time.Since(began).Seconds(), nil
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func report(r results) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Printf("\nkubemail operator, %d Mailboxes across %d MailDomains (one MailServer, embedded store), memory limit %q:\n\n",
		r.Mailboxes, r.Domains, r.OperatorMemoryLimit)
	fmt.Printf("%-58s %12s %10s  %s\n", "metric", "value", "target", "verdict")
	fmt.Printf("%-58s %12.1f %10s  %s\n", "apply → every Mailbox Ready and served (s)", r.AllReadySeconds, "< 60", verdict(r.AllReadySeconds < 60))
	fmt.Printf("%-58s %12.1f %10s  %s\n", "operator peak RSS (MiB)", float64(r.OperatorPeakRSSBytes)/(1<<20), "< 256", verdict(r.OperatorPeakRSSBytes < 256<<20))
	fmt.Printf("%-58s %12.2f %10s\n", fmt.Sprintf("new Mailbox apply → Ready, p50 (s, %d new)", r.NewMailboxes), r.ReadyP50, "")
	fmt.Printf("%-58s %12.2f %10s\n", "new Mailbox apply → Ready, p95 (s)", r.ReadyP95, "")
	fmt.Printf("%-58s %12.2f %10s\n", "new Mailbox apply → first IMAPS login, p50 (s)", r.LoginP50, "")
	fmt.Printf("%-58s %12.2f %10s  %s\n", "new Mailbox apply → first IMAPS login, p95 (s)", r.LoginP95, "< 3", verdict(r.LoginP95 < 3))
	fmt.Printf("%-58s %12.2f\n", "new Mailbox apply → first IMAPS login, max (s)", r.LoginMax)
	fmt.Printf("%-58s %12d\n", "configuration Secrets (shards)", r.ConfigSecrets)
	fmt.Printf("%-58s %12d\n", "failed login attempts before the first success", r.LoginFailuresObserved)
	fmt.Printf("%-58s %12.1f\n", "creating the bulk objects took (s)", r.ApplySeconds)
	fmt.Printf("\nbulk phase: %.0f API writes (%.0f/s), of which:\n", r.BulkAPIWrites.total(), r.BulkAPIWrites.total()/r.AllReadySeconds)
	for _, line := range r.BulkAPIWrites.top(8, func(k string, v float64) string { return fmt.Sprintf("  %-40s %8.0f", k, v) }) {
		fmt.Println(line)
	}
	fmt.Printf("bulk phase: %.0f CPU seconds (of %.0f on %d cores), by process:\n",
		r.BulkCPUSeconds.total(), r.AllReadySeconds*float64(runtime.NumCPU()), runtime.NumCPU())
	for _, line := range r.BulkCPUSeconds.top(8, func(k string, v float64) string { return fmt.Sprintf("  %-40s %8.1f", k, v) }) {
		fmt.Println(line)
	}
	fmt.Println("bulk phase: operator reconciles (count, seconds spent)")
	for _, line := range r.BulkReconciles.top(8, func(k string, v float64) string {
		return fmt.Sprintf("  %-40s %8.0f %8.1f", k, v, r.BulkReconcileSeconds[k])
	}) {
		fmt.Println(line)
	}
	fmt.Printf("\nlogs: %s, %s\n", r.OperatorLog, r.DevLog)
}
