package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// Events are recorded only when an object's Ready condition changes status
// or reason: Warning when it becomes False (the reason and message say what
// to fix), Normal when it becomes True again after having been False. The
// expected first Ready is in the status alone: applying 10,000 Mailboxes
// would otherwise write 10,000 events the API server has to store. Nothing
// is recorded while an object stays as it is.

// eventAction is the action of the operator's events.
const eventAction = "Reconcile"

// recordReady records an event if Ready changed between before and after.
func (o Options) recordReady(obj runtime.Object, before, after []metav1.Condition) {
	c, changed := readyTransition(before, after)
	if !changed || o.Recorder == nil {
		return
	}
	switch c.Status {
	case metav1.ConditionTrue:
		if was := meta.FindStatusCondition(before, mailv1.ConditionReady); was != nil && was.Status == metav1.ConditionFalse {
			o.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, c.Reason, eventAction, "%s", c.Message)
		}
	case metav1.ConditionFalse:
		o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, c.Reason, eventAction, "%s", c.Message)
	}
}
