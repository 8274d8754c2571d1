// Package v1alpha1 holds the kubemail API: MailServer, MailDomain, Mailbox,
// MailAlias and RelayPolicy in the group mail.kubemail.io.
//
// +kubebuilder:object:generate=true
// +groupName=mail.kubemail.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "mail.kubemail.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&MailServer{}, &MailServerList{},
		&MailDomain{}, &MailDomainList{},
		&Mailbox{}, &MailboxList{},
		&MailAlias{}, &MailAliasList{},
		&RelayPolicy{}, &RelayPolicyList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
