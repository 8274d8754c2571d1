package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// Reasons the API package does not define (yet); each is documented where
// it is used and listed in controllers/doc.go.
const (
	// reasonAddressPending: the Service has no external address yet.
	reasonAddressPending = "AddressPending"
	// reasonScaledToZero: spec.replicas is 0.
	reasonScaledToZero = "ScaledToZero"
	// reasonNoImage: neither spec.image nor the operator's --server-image is set.
	reasonNoImage = "NoImage"
	// reasonObjectConflict: an object the operator must manage exists and
	// belongs to someone else.
	reasonObjectConflict = "ObjectConflict"
	// reasonConfigApplied: every replica serves the latest configuration.
	reasonConfigApplied = "Applied"
	// reasonAvailable: a replica is ready and the Service has an address.
	reasonAvailable = "Available"
)

// conditionSet collects an object's conditions during one reconcile, each
// stamped with the generation being reconciled.
type conditionSet struct {
	generation int64
	conds      *[]metav1.Condition
}

func newConditionSet(generation int64, conds *[]metav1.Condition) conditionSet {
	return conditionSet{generation: generation, conds: conds}
}

// set records a condition; its lastTransitionTime changes only when its status does.
func (c conditionSet) set(typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(c.conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: c.generation,
	})
}

func (c conditionSet) get(typ string) *metav1.Condition {
	return meta.FindStatusCondition(*c.conds, typ)
}

// summarise sets Ready from the detail conditions, in order: the first
// False makes Ready False with its reason, else the first Unknown makes it
// Unknown, else Ready is True with readyMessage.
func (c conditionSet) summarise(readyMessage string, details ...string) {
	var unknown *metav1.Condition
	for _, typ := range details {
		d := c.get(typ)
		switch {
		case d == nil:
			if unknown == nil {
				unknown = &metav1.Condition{Reason: mailv1.ReasonReconciling, Message: typ + " has not been observed yet"}
			}
		case d.Status == metav1.ConditionFalse:
			c.set(mailv1.ConditionReady, metav1.ConditionFalse, d.Reason, d.Message)
			return
		case d.Status == metav1.ConditionUnknown && unknown == nil:
			unknown = d
		}
	}
	if unknown != nil {
		c.set(mailv1.ConditionReady, metav1.ConditionUnknown, unknown.Reason, unknown.Message)
		return
	}
	c.set(mailv1.ConditionReady, metav1.ConditionTrue, mailv1.ReasonReady, readyMessage)
}

// readyTransition returns the Ready condition if it differs in status from before.
func readyTransition(before, after []metav1.Condition) (*metav1.Condition, bool) {
	b := meta.FindStatusCondition(before, mailv1.ConditionReady)
	a := meta.FindStatusCondition(after, mailv1.ConditionReady)
	if a == nil || (b != nil && b.Status == a.Status && b.Reason == a.Reason) {
		return nil, false
	}
	return a, true
}

// firstStatusGrace is how long a new Mailbox or MailAlias may go without a
// status while all there is to say is that its server has yet to serve it.
const firstStatusGrace = 10 * time.Second

// holdFirstStatus reports whether to leave out writing s, and when to look
// again: s only says "wait" (Unknown), obj has never had a Ready condition
// and was created less than firstStatusGrace ago. When thousands of
// Mailboxes are applied at once, these statuses would be a third of the
// operator's API writes, each overwritten seconds later by the Ready they
// announce; a Mailbox still waiting after the grace gets its status.
func holdFirstStatus(obj client.Object, before []metav1.Condition, s readiness, now time.Time) (time.Duration, bool) {
	if s.status != metav1.ConditionUnknown || meta.FindStatusCondition(before, mailv1.ConditionReady) != nil {
		return 0, false
	}
	age := max(now.Sub(obj.GetCreationTimestamp().Time), 0) // a clock behind the API server's
	if age >= firstStatusGrace {
		return 0, false
	}
	return firstStatusGrace - age, true
}
