package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// writeCounter counts the writes a fake client receives and fails the
// kinds of write it is told to.
type writeCounter struct {
	creates, updates, others int
	failCreate, failUpdate   bool
}

var errInjected = errors.New("injected failure")

func (w *writeCounter) funcs() interceptor.Funcs {
	other := func() { w.others++ }
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.creates++
			if w.failCreate {
				return errInjected
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.updates++
			if w.failUpdate {
				return errInjected
			}
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			other()
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			other()
			return c.Delete(ctx, obj, opts...)
		},
	}
}

func TestEnsure(t *testing.T) {
	owner := &mailv1.MailServer{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mx", UID: "uid-mx"}}
	someoneElse := &mailv1.MailServer{ObjectMeta: metav1.ObjectMeta{Namespace: "mail", Name: "mx2", UID: "uid-mx2"}}
	// desired is the Secret the operator builds, holding data.
	desired := func(data string) *corev1.Secret {
		return &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: objectMeta(owner, "mx-dkim", map[string]string{"app": "kubemail"}),
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"key": []byte(data)},
		}
	}
	hashOf := func(data string) string {
		h, err := specHash(desired(data))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// written is the Secret as a previous ensure of desired(data) left it.
	written := func(data string) *corev1.Secret {
		s := desired(data)
		s.Annotations = map[string]string{annotationSpecHash: hashOf(data)}
		return s
	}
	tests := map[string]struct {
		existing *corev1.Secret // nil: none
		desired  *corev1.Secret
		// failCreate and failUpdate make the client refuse those writes.
		failCreate, failUpdate bool
		// wantCreates and wantUpdates count the writes; no other write is expected.
		wantCreates, wantUpdates int
		// wantErr is "" for none, "notOwned" for a *notOwnedError, or else
		// a fragment of the error.
		wantErr string
		// wantData and wantHash are what the stored Secret holds afterwards.
		wantData, wantHash string
		// wantAnnotations are further annotations the stored Secret keeps.
		wantAnnotations map[string]string
	}{
		"a missing object is created with its spec hash": {
			desired: desired("v1"), wantCreates: 1, wantData: "v1", wantHash: hashOf("v1"),
		},
		"an owned object whose spec hash matches is not written": {
			existing: written("v1"), desired: desired("v1"), wantData: "v1", wantHash: hashOf("v1"),
		},
		"the hash alone decides: an owned object changed by hand but with a matching hash is not written": {
			existing: func() *corev1.Secret { s := written("v1"); s.Data["key"] = []byte("by hand"); return s }(),
			desired:  desired("v1"), wantData: "by hand", wantHash: hashOf("v1"),
		},
		"an owned object whose spec changed is updated, keeping others' annotations": {
			existing: func() *corev1.Secret {
				s := written("v1")
				s.Annotations["note"] = "kept"
				s.Labels = map[string]string{"stale": "label"}
				return s
			}(),
			desired: desired("v2"), wantUpdates: 1, wantData: "v2", wantHash: hashOf("v2"),
			wantAnnotations: map[string]string{"note": "kept"},
		},
		"an object another controller owns is refused with notOwnedError": {
			existing: func() *corev1.Secret {
				s := written("v1")
				s.OwnerReferences = []metav1.OwnerReference{controllerRef(someoneElse, "MailServer")}
				return s
			}(),
			desired: desired("v2"), wantErr: "notOwned", wantData: "v1", wantHash: hashOf("v1"),
		},
		"an object without a controller is refused with notOwnedError": {
			existing: func() *corev1.Secret { s := written("v1"); s.OwnerReferences = nil; return s }(),
			desired:  desired("v2"), wantErr: "notOwned", wantData: "v1", wantHash: hashOf("v1"),
		},
		"a desired object without a controller owner reference is an error, not a conflict": {
			desired: func() *corev1.Secret { s := desired("v1"); s.OwnerReferences = nil; return s }(),
			wantErr: "no controller owner reference",
		},
		"a failed create is returned with the action": {
			desired: desired("v1"), failCreate: true, wantCreates: 1,
			wantErr: "creating *v1.Secret mx-dkim: injected failure",
		},
		"a failed update is returned with the action": {
			existing: written("v1"), desired: desired("v2"), failUpdate: true, wantUpdates: 1,
			wantErr: "updating *v1.Secret mx-dkim: injected failure", wantData: "v1", wantHash: hashOf("v1"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := fake.NewClientBuilder()
			if tc.existing != nil {
				b = b.WithObjects(tc.existing)
			}
			w := &writeCounter{failCreate: tc.failCreate, failUpdate: tc.failUpdate}
			c := b.WithInterceptorFuncs(w.funcs()).Build()

			got, err := ensure(ctx, c, tc.desired, updateSecret)
			switch e, notOwned := asNotOwned(err); {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ensure: %v", err)
			case tc.wantErr == "notOwned" && !notOwned:
				t.Fatalf("ensure = %v, want a *notOwnedError", err)
			case tc.wantErr == "notOwned":
				if want := "Secret mx-dkim already exists and is not managed by MailServer mx"; !strings.Contains(e.Error(), want) {
					t.Errorf("ensure = %q, want it to contain %q", e, want)
				}
			case tc.wantErr != "" && (err == nil || notOwned || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("ensure = %v, want an error containing %q", err, tc.wantErr)
			}
			if w.creates != tc.wantCreates || w.updates != tc.wantUpdates || w.others != 0 {
				t.Errorf("writes: %d creates, %d updates, %d others; want %d, %d, 0",
					w.creates, w.updates, w.others, tc.wantCreates, tc.wantUpdates)
			}

			stored := &corev1.Secret{}
			getErr := c.Get(ctx, client.ObjectKey{Namespace: "mail", Name: "mx-dkim"}, stored)
			if tc.wantData == "" {
				if getErr == nil {
					t.Fatalf("a Secret was stored: %v", stored.Data)
				}
				return
			}
			if getErr != nil {
				t.Fatalf("reading the stored Secret: %v", getErr)
			}
			if d := string(stored.Data["key"]); d != tc.wantData {
				t.Errorf("stored data %q, want %q", d, tc.wantData)
			}
			if h := stored.Annotations[annotationSpecHash]; h != tc.wantHash {
				t.Errorf("stored spec hash %q, want %q", h, tc.wantHash)
			}
			for k, v := range tc.wantAnnotations {
				if stored.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q kept", k, stored.Annotations[k], v)
				}
			}
			if tc.wantUpdates == 1 && tc.wantErr == "" {
				if stored.Labels["app"] != "kubemail" || len(stored.Labels) != 1 {
					t.Errorf("stored labels %v, want the desired ones only", stored.Labels)
				}
			}
			if tc.wantErr == "" {
				if d := string(got.Data["key"]); d != tc.wantData || got.Annotations[annotationSpecHash] != tc.wantHash {
					t.Errorf("ensure returned data %q hash %q, want the object as stored (%q, %q)",
						d, got.Annotations[annotationSpecHash], tc.wantData, tc.wantHash)
				}
			}
		})
	}
}
