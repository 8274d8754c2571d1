// Package mail is the vocabulary every part of the mail server shares: the
// one address normaliser (CanonicalAddress, CanonicalDomain, Domain, Fold),
// the envelope of an accepted message (Envelope, Recipient, Remote), the
// small interfaces the protocol servers consume (Directory, QuotaChecker,
// Authenticator, Deliverer, Relayer, MessageChecker) and the one error set
// their implementations return (ErrUnknownRecipient, ErrInvalidCredentials,
// ErrSuspended, ErrThrottled, ErrRateLimited, *OverQuotaError; any other
// error is a temporary failure).
//
// It imports nothing else of kubemail, so every package may depend on it:
// the protocol packages (smtp, imap, pop3) consume its interfaces, package
// delivery and package auth implement them, and each protocol maps the
// error set to its replies in one boundary function of its own.
package mail
