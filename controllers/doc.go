// Package controllers holds one reconciler per kind of the mail.kubemail.io API.
//
// The operator's RBAC Role (config/rbac/role.yaml) is generated from the
// +kubebuilder:rbac markers below: it may manage the five kinds and their
// status, and nothing else until the reconcilers that need more declare it.
//
// +kubebuilder:rbac:groups=mail.kubemail.io,resources=mailservers;maildomains;mailboxes;mailaliases;relaypolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=mail.kubemail.io,resources=mailservers/status;maildomains/status;mailboxes/status;mailaliases/status;relaypolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mail.kubemail.io,resources=mailservers/finalizers;maildomains/finalizers;mailboxes/finalizers;mailaliases/finalizers;relaypolicies/finalizers,verbs=update
package controllers
