package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mailv1 "github.com/kubemail/kubemail/api/v1alpha1"
)

// setReady sets Ready from a chain of checks, the first failing one
// deciding: the domain is the namespace's only claim on it, its server
// exists, its DKIM key is ready, the server compiled the domain (with the
// key) into a configuration every replica serves, and the server is Ready.
// DNS does not hold Ready back: records published by hand are the user's step.
func (r *MailDomainReconciler) setReady(d *mailv1.MailDomain, st *domainState) {
	set := func(s metav1.ConditionStatus, reason, msg string) {
		st.conds.set(mailv1.ConditionReady, s, reason, msg)
	}
	if st.conflict != nil {
		set(metav1.ConditionFalse, st.conflict.Reason, st.conflict.Message)
		return
	}
	if st.server == nil {
		set(metav1.ConditionFalse, mailv1.ReasonServerNotFound, fmt.Sprintf(
			"MailServer %s does not exist in this namespace; create it or correct spec.serverRef.name", d.Spec.ServerRef.Name))
		return
	}
	if k := st.conds.get(mailv1.MailDomainDKIMReady); k.Status != metav1.ConditionTrue {
		set(k.Status, k.Reason, k.Message)
		return
	}
	ms := st.server
	served := r.verdicts.ServedByReplicas(ms)
	if served == nil || !served.Domains[d.Name] || !served.DKIM[d.Name] {
		set(metav1.ConditionUnknown, mailv1.ReasonConfigPending, fmt.Sprintf(
			"waiting for every replica of MailServer %s to serve the domain with its DKIM key", ms.Name))
		return
	}
	if c := meta.FindStatusCondition(ms.Status.Conditions, mailv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		status, msg := metav1.ConditionUnknown, "MailServer "+ms.Name+" is not Ready yet"
		if c != nil {
			msg = fmt.Sprintf("MailServer %s is not Ready: %s", ms.Name, c.Message)
			if c.Status == metav1.ConditionFalse {
				status = metav1.ConditionFalse
			}
		}
		set(status, mailv1.ReasonServerNotReady, msg)
		return
	}
	set(metav1.ConditionTrue, mailv1.ReasonReady, fmt.Sprintf("served by MailServer %s", ms.Name))
}
