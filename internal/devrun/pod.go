package devrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// stopTimeout bounds a graceful stop before the process is killed; the
// server's own shutdown timeout is shorter.
const stopTimeout = 30 * time.Second

// podSpec is what the runtime takes from a StatefulSet.
type podSpec struct {
	namespace, server, name string // name is the pod's: <statefulset>-0
	serviceAccount          string
	container               corev1.Container
	volumes                 map[string]corev1.Volume
	claims                  map[string]bool // volumeClaimTemplates
	templateHash            string
}

// podSpecOf reads the pod template of sts.
func (r *Runtime) podSpecOf(_ context.Context, sts *appsv1.StatefulSet) (*podSpec, error) {
	tmpl := sts.Spec.Template.Spec
	if len(tmpl.Containers) != 1 {
		return nil, fmt.Errorf("the pod template has %d containers; the local runtime runs one", len(tmpl.Containers))
	}
	data, err := json.Marshal(sts.Spec.Template)
	if err != nil {
		return nil, fmt.Errorf("hashing the pod template: %w", err)
	}
	sum := sha256.Sum256(data)
	s := &podSpec{
		namespace: sts.Namespace, server: sts.Labels[labelServer], name: sts.Name + "-0",
		serviceAccount: tmpl.ServiceAccountName, container: tmpl.Containers[0],
		volumes: map[string]corev1.Volume{}, claims: map[string]bool{},
		templateHash: hex.EncodeToString(sum[:]),
	}
	if s.server == "" {
		s.server = sts.Name
	}
	if s.serviceAccount == "" {
		s.serviceAccount = "default"
	}
	for _, v := range tmpl.Volumes {
		s.volumes[v.Name] = v
	}
	for _, c := range sts.Spec.VolumeClaimTemplates {
		s.claims[c.Name] = true
	}
	for _, m := range s.container.VolumeMounts {
		v, ok := s.volumes[m.Name]
		switch {
		case s.claims[m.Name]:
		case !ok:
			return nil, fmt.Errorf("volume mount %s names no volume", m.Name)
		case v.Secret == nil && v.EmptyDir == nil:
			return nil, fmt.Errorf("volume %s: the local runtime runs Secret, emptyDir and claimed volumes only", m.Name)
		}
	}
	return s, nil
}

// pod is one server process and its directory.
type pod struct {
	*podSpec
	dir     string
	log     *slog.Logger
	command string
	args    []string
	env     []string
	ports   map[int32]string // container port → published address
	names   map[int32]string // container port → its name
	http    *http.Client

	mu        sync.Mutex
	started   bool
	isReady   bool // at the last probe
	announced bool // since the process last started
	tokenAt   time.Time
	cancel    context.CancelFunc
	done      chan struct{}
}

// newPod prepares a pod's directory, ports and command line.
func (r *Runtime) newPod(ctx context.Context, s *podSpec) (*pod, error) {
	p := &pod{
		podSpec: s,
		dir:     filepath.Join(r.opts.StateDir, "pods", s.namespace, s.name),
		log:     r.log.With("pod", s.namespace+"/"+s.name),
		command: r.opts.Command,
		names:   map[int32]string{},
		http:    &http.Client{Timeout: time.Second},
	}
	if err := os.MkdirAll(p.root(), 0o700); err != nil {
		return nil, fmt.Errorf("creating the pod directory: %w", err)
	}
	for _, cp := range s.container.Ports {
		p.names[cp.ContainerPort] = cp.Name
	}
	var err error
	if p.ports, err = publishPorts(ctx, filepath.Join(p.dir, "ports.json"), slices.Collect(maps.Keys(p.names))); err != nil {
		return nil, err
	}
	env, err := containerEnv(s)
	if err != nil {
		return nil, err
	}
	p.env = append(append(os.Environ(), r.opts.Env...), env...)
	p.args = append(slices.Clone(s.container.Args),
		"--kubeconfig", p.kubeconfigPath(), "--root", p.root())
	if r.opts.Resolver != "" {
		p.args = append(p.args, "--resolver", r.opts.Resolver)
	}
	for _, port := range slices.Sorted(maps.Keys(p.ports)) {
		p.args = append(p.args, "--publish", fmt.Sprintf("%d=%s", port, p.ports[port]))
	}
	return p, nil
}

func (p *pod) root() string           { return filepath.Join(p.dir, "root") }
func (p *pod) logPath() string        { return filepath.Join(p.dir, "server.log") }
func (p *pod) kubeconfigPath() string { return filepath.Join(p.dir, "kubeconfig") }
func (p *pod) tokenPath() string      { return filepath.Join(p.dir, "token") }

// mounts reports whether the pod mounts the Secret.
func (p *pod) mounts(secret string) bool {
	for _, v := range p.volumes {
		if v.Secret != nil && v.Secret.SecretName == secret {
			return true
		}
	}
	return false
}

// start runs the process, again with back-off each time it exits, until
// stop or ctx ends.
func (p *pod) start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	go func() {
		defer close(p.done)
		// Pdeathsig is sent when the thread that started the process
		// exits; keep this goroutine on one thread for the process's life.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		backoff := time.Second
		for {
			began := time.Now()
			err := p.runOnce(ctx)
			if ctx.Err() != nil {
				return
			}
			if time.Since(began) > time.Minute {
				backoff = time.Second
			}
			p.log.Error("The server process exited; restarting it", "error", err, "after", backoff, "log", p.logPath())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
}

// runOnce runs the process until it exits, or stops it when ctx ends.
func (p *pod) runOnce(ctx context.Context) error {
	if err := p.clearEmptyDirs(); err != nil {
		return err
	}
	logf, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the server log: %w", err)
	}
	defer func() { _ = logf.Close() }()
	// Stopping sends SIGTERM, as the kubelet does, and kills the process
	// when it has not exited after stopTimeout.
	cmd := exec.CommandContext(ctx, p.command, p.args...) //nolint:gosec // the kubemail binary with the operator's pod arguments
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	cmd.Env, cmd.Dir = p.env, p.root()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so the terminal's Ctrl-C reaches kubemail dev
	// alone, which stops the servers in order; killed if dev dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.command, err)
	}
	p.log.Info("Started the server process", "pid", cmd.Process.Pid, "log", p.logPath())
	p.mu.Lock()
	p.announced = false
	p.mu.Unlock()
	err = cmd.Wait()
	if ctx.Err() != nil {
		p.log.Info("The server process stopped", "status", errOrExit(err))
		return nil
	}
	return fmt.Errorf("the server process exited: %w", errOrExit(err))
}

func errOrExit(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

// running reports whether start was called and stop was not.
func (p *pod) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// stop stops the process and waits for it.
func (p *pod) stop() {
	p.mu.Lock()
	started := p.started
	p.started = false
	p.mu.Unlock()
	if started {
		p.cancel()
		<-p.done
	}
	p.mu.Lock()
	p.isReady = false
	p.mu.Unlock()
}

// ready probes the server's /readyz, as the readiness probe would.
func (p *pod) ready(ctx context.Context) bool {
	ok := false
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if addr := p.ports[p.portNamed("ops")]; started && addr != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err == nil {
			if resp, err := p.http.Do(req); err == nil {
				_ = resp.Body.Close()
				ok = resp.StatusCode == http.StatusOK
			}
		}
	}
	p.mu.Lock()
	p.isReady = ok
	p.mu.Unlock()
	return ok
}

// announce reports whether the pod became ready since it last started,
// once.
func (p *pod) announce() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isReady || p.announced {
		return false
	}
	p.announced = true
	return true
}

func (p *pod) portNamed(name string) int32 {
	for port, n := range p.names {
		if n == name {
			return port
		}
	}
	return 0
}

// endpoints are the published addresses of the mail protocols, nil while
// the pod is not ready.
func (p *pod) endpoints() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isReady {
		return nil
	}
	out := map[string]string{}
	for port, name := range p.names {
		if name != "ops" && name != "" {
			out[name] = p.ports[port]
		}
	}
	return out
}

// publishPorts picks a distinct 127.0.0.1 address for each container port,
// the same as last time when it is still free. The listeners that picked
// new ports stay open until every port is picked, so the kernel cannot hand
// out one port twice.
func publishPorts(ctx context.Context, path string, ports []int32) (map[int32]string, error) {
	prev := map[int32]string{}
	if data, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(data, &prev) // a damaged file means new ports
	}
	out := map[int32]string{}
	taken := map[string]bool{}
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			_ = ln.Close()
		}
	}()
	for _, port := range ports {
		if addr, ok := prev[port]; ok && !taken[addr] && free(ctx, addr) {
			out[port], taken[addr] = addr, true
			continue
		}
		for {
			ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("picking a port for container port %d: %w", port, err)
			}
			held = append(held, ln)
			if addr := ln.Addr().String(); !taken[addr] {
				out[port], taken[addr] = addr, true
				break
			}
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("recording the ports: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return nil, err
	}
	return out, nil
}

// free reports whether addr can be listened on.
func free(ctx context.Context, addr string) bool {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// containerEnv resolves the container's environment as the kubelet does:
// the pod's name and namespace from the downward API, and $(VAR)
// references to variables defined before.
func containerEnv(s *podSpec) ([]string, error) {
	vals := map[string]string{}
	var out []string
	for _, e := range s.container.Env {
		v := e.Value
		if e.ValueFrom != nil {
			f := e.ValueFrom.FieldRef
			switch {
			case f != nil && f.FieldPath == "metadata.name":
				v = s.name
			case f != nil && f.FieldPath == "metadata.namespace":
				v = s.namespace
			default:
				return nil, fmt.Errorf("environment variable %s: the local runtime resolves metadata.name and metadata.namespace only", e.Name)
			}
		} else {
			v = expand(v, vals)
		}
		vals[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

// expand replaces $(NAME) with vals[NAME] and $$ with $, leaving unknown
// references as they are (Kubernetes' rules).
func expand(s string, vals map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vals[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// writeFileAtomic writes data to path through a rename, so a reader sees
// the old content or the new, never a part.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
