package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Events are recorded only when an object's Ready condition changes status
// or reason: Normal when it becomes True, Warning when it becomes False
// (the reason and message say what to fix). Nothing is recorded while an
// object stays as it is, so a busy namespace is not flooded.

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
		o.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, c.Reason, eventAction, "%s", c.Message)
	case metav1.ConditionFalse:
		o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, c.Reason, eventAction, "%s", c.Message)
	}
}
