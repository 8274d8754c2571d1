package controllers

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// fakeRecorder keeps the events recorded, one line each.
type fakeRecorder struct{ events []string }

func (f *fakeRecorder) Eventf(_ runtime.Object, _ runtime.Object, eventtype, reason, action, note string, args ...any) {
	f.events = append(f.events, fmt.Sprintf("%s %s %s: %s", eventtype, reason, action, fmt.Sprintf(note, args...)))
}

func TestEventsOnlyOnTransitionsThatMatter(t *testing.T) {
	cond := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: mailv1.ConditionReady, Status: status, Reason: reason, Message: "m"}}
	}
	for _, tc := range []struct {
		name          string
		before, after []metav1.Condition
		want          string
	}{
		{"the expected first Ready writes nothing", cond(metav1.ConditionUnknown, "ConfigPending"), cond(metav1.ConditionTrue, "Ready"), ""},
		{"Ready with no status before writes nothing", nil, cond(metav1.ConditionTrue, "Ready"), ""},
		{"becoming False is a warning", cond(metav1.ConditionTrue, "Ready"), cond(metav1.ConditionFalse, "AddressConflict"), "Warning AddressConflict Reconcile: m"},
		{"recovering from False is news", cond(metav1.ConditionFalse, "SecretNotFound"), cond(metav1.ConditionTrue, "Ready"), "Normal Ready Reconcile: m"},
		{"staying False writes nothing", cond(metav1.ConditionFalse, "SecretNotFound"), cond(metav1.ConditionFalse, "SecretNotFound"), ""},
		{"another reason for False is a new warning", cond(metav1.ConditionFalse, "SecretNotFound"), cond(metav1.ConditionFalse, "InvalidPassword"), "Warning InvalidPassword Reconcile: m"},
		{"going back to Unknown writes nothing", cond(metav1.ConditionTrue, "Ready"), cond(metav1.ConditionUnknown, "ConfigPending"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			Options{Recorder: rec}.recordReady(&mailv1.Mailbox{}, tc.before, tc.after)
			if got := strings.Join(rec.events, "\n"); got != tc.want {
				t.Errorf("events %q, want %q", got, tc.want)
			}
		})
	}
}
