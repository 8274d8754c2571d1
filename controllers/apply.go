package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// notOwnedError means an object the operator wants to manage already
// exists and belongs to someone else. It is the user's to resolve, so it
// becomes a condition, not a retry.
type notOwnedError struct {
	kind, name, owner string
}

func (e *notOwnedError) Error() string {
	return fmt.Sprintf("%s %s already exists and is not managed by %s; delete or rename it", e.kind, e.name, e.owner)
}

// asNotOwned returns err as a *notOwnedError, if it is one.
func asNotOwned(err error) (*notOwnedError, bool) {
	var e *notOwnedError
	ok := errors.As(err, &e)
	return e, ok
}

// specHash returns a hash of the desired object, which must not carry
// annotationSpecHash yet.
func specHash(obj client.Object) (string, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("hashing %T %s: %w", obj, obj.GetName(), err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16]), nil
}

// ensure makes the object desired exist as built: it creates it, or, when
// the hash of desired differs from the one recorded on the existing object,
// lets update copy desired onto the existing object and writes it. An
// object whose recorded hash matches is not written, so a reconcile that
// changes nothing writes nothing. desired must have a controller owner
// reference; an existing object with another controller is not touched and
// a *notOwnedError is returned. ensure returns the object as stored.
func ensure[T client.Object](ctx context.Context, c client.Client, desired T, update func(existing, desired T)) (T, error) {
	owner := metav1.GetControllerOf(desired)
	if owner == nil {
		return desired, fmt.Errorf("ensuring %T %s: no controller owner reference", desired, desired.GetName())
	}
	hash, err := specHash(desired)
	if err != nil {
		return desired, err
	}
	setAnnotation(desired, annotationSpecHash, hash)

	existing := desired.DeepCopyObject().(T)
	err = c.Get(ctx, client.ObjectKeyFromObject(desired), existing)
	if apierrors.IsNotFound(err) {
		if err := c.Create(ctx, desired); err != nil {
			return desired, fmt.Errorf("creating %T %s: %w", desired, desired.GetName(), err)
		}
		return desired, nil
	}
	if err != nil {
		return desired, fmt.Errorf("reading %T %s: %w", desired, desired.GetName(), err)
	}
	if ref := metav1.GetControllerOf(existing); ref == nil || ref.UID != owner.UID {
		return existing, &notOwnedError{kind: kindOf(desired), name: desired.GetName(), owner: owner.Kind + " " + owner.Name}
	}
	if existing.GetAnnotations()[annotationSpecHash] == hash {
		return existing, nil
	}
	existing.SetLabels(desired.GetLabels())
	annotations := existing.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	for k, v := range desired.GetAnnotations() {
		annotations[k] = v
	}
	existing.SetAnnotations(annotations)
	existing.SetOwnerReferences(desired.GetOwnerReferences())
	update(existing, desired)
	if err := c.Update(ctx, existing); err != nil {
		return existing, fmt.Errorf("updating %T %s: %w", desired, desired.GetName(), err)
	}
	return existing, nil
}

func setAnnotation(obj client.Object, key, value string) {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	obj.SetAnnotations(a)
}

// kindOf names an object's type for messages, e.g. "Secret".
func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return reflect.TypeOf(obj).Elem().Name()
}

// controllerRef returns a controller owner reference to owner.
func controllerRef(owner client.Object, kind string) metav1.OwnerReference {
	return *metav1.NewControllerRef(owner, mailv1.GroupVersion.WithKind(kind))
}

// ownedBy reports whether obj's controller is the object with uid.
func ownedBy(obj client.Object, uid string) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && string(ref.UID) == uid
}

// deleteOwned deletes the named object in owner's namespace if owner
// controls it; obj is a blank object of its kind.
func deleteOwned(ctx context.Context, c client.Client, owner, obj client.Object, name string) error {
	err := c.Get(ctx, client.ObjectKey{Namespace: owner.GetNamespace(), Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !ownedBy(obj, string(owner.GetUID())) {
		return nil
	}
	if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting %s %s: %w", kindOf(obj), name, err)
	}
	return nil
}

// peekSecret returns a Secret from the cache without copying it (nil when
// there is none); the caller must not modify it. A Secret may hold the
// password hashes of thousands of Mailboxes, each of which reads it.
func peekSecret(ctx context.Context, c client.Reader, ns, name string) (*corev1.Secret, error) {
	var list corev1.SecretList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{indexName: name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", name, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// updateStatus writes obj's status with an update of the version the cache
// gave, for the kinds that come by the thousand: the API server takes an
// update for less work than a merge patch, which it must first apply to
// the stored object. conflict means the object changed since (the cache
// was behind): look again, quietly — the reconcile reads the new version.
func updateStatus(ctx context.Context, c client.Client, obj client.Object) (conflict bool, err error) {
	err = c.Status().Update(ctx, obj)
	switch {
	case apierrors.IsConflict(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("writing the status of %s %s: %w", kindOf(obj), obj.GetName(), err)
	}
	return false, nil
}

// conflictRetry is how soon a reconcile whose status write conflicted
// looks again: time for the cache to catch up with the newer version.
func conflictRetry(conflict bool) time.Duration {
	if conflict {
		return 200 * time.Millisecond
	}
	return 0
}
