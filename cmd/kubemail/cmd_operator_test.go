package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
	"github.com/kubemail/kubemail/controllers"
	"github.com/kubemail/kubemail/internal/devenv"
	"github.com/kubemail/kubemail/internal/testlog"
)

func TestOperatorFlags(t *testing.T) {
	t.Setenv("KUBEMAIL_IMAGE", "registry.example.com/kubemail:v1")
	f, err := parseOperatorFlags([]string{"--namespace", "mail,team-a", "--namespace", " team-b ", "--leader-elect"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f.namespaces.String() != "mail,team-a,team-b" || !f.leaderElect || f.serverImage != "registry.example.com/kubemail:v1" {
		t.Errorf("parsed %+v", f)
	}
	if f.metricsAddr != "0" || f.probeAddr != ":8081" || !f.metricsSecure || !f.verifyDNS {
		t.Errorf("defaults %+v", f)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestOperatorReconcilesItsNamespaces runs `kubemail operator` against a
// local control plane: it serves its probes, elects itself leader,
// reconciles MailServers in the namespaces it is given and leaves the
// others alone, and stops cleanly when interrupted.
func TestOperatorReconcilesItsNamespaces(t *testing.T) {
	state := t.TempDir()
	env, err := devenv.Start(devenv.Options{CRDDirs: []string{filepath.Join("..", "..", "config", "crd", "bases")}, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	scheme, err := controllers.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"mail", "other"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, &mailv1.MailServer{ObjectMeta: metav1.ObjectMeta{Name: "mx1", Namespace: ns},
			Spec: mailv1.MailServerSpec{Hostname: "mx1.example.com"}}); err != nil {
			t.Fatal(err)
		}
	}

	port := freePort(t)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stderr testlog.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"operator", "--kubeconfig", env.Kubeconfig, "--namespace", "mail",
			"--health-probe-bind-address", "127.0.0.1:" + port, "--leader-elect", "--leader-election-namespace", "default",
			"--server-image", "kubemail:test", "--verify-dns=false"}, io.Discard, &stderr)
	}()

	wait := func(what string, check func() error) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			err := check()
			if err == nil {
				return
			}
			select {
			case code := <-done:
				t.Fatalf("the operator exited with %d: %s", code, stderr.String())
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v\n%s", what, err, stderr.String())
			}
		}
	}
	wait("the health probe answers", func() error {
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	wait("the MailServer in a watched namespace gets a status", func() error {
		ms := &mailv1.MailServer{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "mail", Name: "mx1"}, ms); err != nil {
			return err
		}
		if meta.FindStatusCondition(ms.Status.Conditions, mailv1.ConditionReady) == nil {
			return errors.New("no Ready condition yet")
		}
		return nil
	})
	other := &mailv1.MailServer{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "other", Name: "mx1"}, other); err != nil {
		t.Fatal(err)
	}
	if len(other.Status.Conditions) != 0 {
		t.Errorf("the operator reconciled a namespace it was not given: %+v", other.Status)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("the operator exited with %d: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the operator did not stop after the interrupt")
	}
}
