package devrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Token lifetimes: tokens last a day and are renewed hourly, so a
// restarted kubemail dev never hands out an expired one.
const (
	tokenLifetime = 24 * time.Hour
	tokenRenewal  = time.Hour
)

// syncVolumes writes each Secret volume's keys as files under the pod's
// root at the mount path, removing keys the Secret no longer has, as the
// kubelet keeps a mounted Secret current. A missing Secret that is not
// optional is an error: the pod cannot start without it.
func (p *pod) syncVolumes(ctx context.Context, c client.Client) error {
	var errs []error
	for _, m := range p.container.VolumeMounts {
		dir := filepath.Join(p.root(), m.MountPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating the mount %s: %w", m.MountPath, err)
		}
		v, ok := p.volumes[m.Name]
		if !ok || v.Secret == nil {
			continue // a claim or an emptyDir: a directory is all it needs
		}
		sec := &corev1.Secret{}
		err := c.Get(ctx, client.ObjectKey{Namespace: p.namespace, Name: v.Secret.SecretName}, sec)
		switch {
		case apierrors.IsNotFound(err) && ptr.Deref(v.Secret.Optional, false):
			sec.Data = nil // an optional Secret that is absent is an empty directory
		case err != nil:
			errs = append(errs, fmt.Errorf("volume %s: Secret %s/%s: %w", m.Name, p.namespace, v.Secret.SecretName, err))
			continue
		}
		mode := os.FileMode(0o644)
		if m := ptr.Deref(v.Secret.DefaultMode, 0o644); m >= 0 && m <= 0o777 {
			mode = os.FileMode(m) | 0o200 // the owner rewrites it
		}
		if err := syncDir(dir, sec.Data, mode); err != nil {
			errs = append(errs, fmt.Errorf("volume %s: %w", m.Name, err))
		}
	}
	return errors.Join(errs...)
}

// syncDir makes dir hold exactly one file per key of data.
func syncDir(dir string, data map[string][]byte, mode os.FileMode) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, e := range entries {
		if _, ok := data[e.Name()]; !ok && !e.IsDir() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("removing a key no longer in the Secret: %w", err)
			}
		}
	}
	for key, value := range data {
		path := filepath.Join(dir, key)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, value) {
			continue
		}
		if err := writeFileAtomic(path, value, mode); err != nil {
			return err
		}
	}
	return nil
}

// clearEmptyDirs empties the pod's emptyDir volumes, which do not outlive
// a container start.
func (p *pod) clearEmptyDirs() error {
	for _, m := range p.container.VolumeMounts {
		if v, ok := p.volumes[m.Name]; ok && v.EmptyDir != nil {
			dir := filepath.Join(p.root(), m.MountPath)
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("clearing the emptyDir %s: %w", m.Name, err)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("creating the emptyDir %s: %w", m.Name, err)
			}
		}
	}
	return nil
}

// refreshToken asks for a token of the pod's ServiceAccount when the one
// on disk is due for renewal, and writes the kubeconfig that reads it. The
// process re-reads the token file, so a renewal needs no restart.
func (p *pod) refreshToken(ctx context.Context, kube kubernetes.Interface, cfg clientcmdapi.Cluster) error {
	p.mu.Lock()
	due := time.Since(p.tokenAt) > tokenRenewal
	p.mu.Unlock()
	if !due {
		return nil
	}
	tr, err := kube.CoreV1().ServiceAccounts(p.namespace).CreateToken(ctx, p.serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(tokenLifetime.Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", p.namespace, p.serviceAccount, err)
	}
	if err := writeFileAtomic(p.tokenPath(), []byte(tr.Status.Token), 0o600); err != nil {
		return err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &cfg
	kc.AuthInfos[p.serviceAccount] = &clientcmdapi.AuthInfo{TokenFile: p.tokenPath()}
	kc.Contexts["pod"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: p.serviceAccount, Namespace: p.namespace}
	kc.CurrentContext = "pod"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("writing the pod's kubeconfig: %w", err)
	}
	if err := writeFileAtomic(p.kubeconfigPath(), data, 0o600); err != nil {
		return err
	}
	p.mu.Lock()
	p.tokenAt = time.Now()
	p.mu.Unlock()
	return nil
}
