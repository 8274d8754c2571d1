package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kubemail/kubemail/mailserver/mail"
	"github.com/kubemail/kubemail/mailserver/store"
)

// EnsureAccount implements store.AccountStore.
func (s *Store) EnsureAccount(ctx context.Context, address string) (bool, error) {
	account := mail.Fold(address)
	if account == "" {
		return false, fmt.Errorf("ensuring account: empty address: %w", store.ErrInvalidArgument)
	}
	var created bool
	err := s.do(ctx, func(tx *wtx) error {
		created = false
		if _, err := tx.accountID(account); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrAccountNotFound) {
			return err
		}
		res, err := tx.exec(`INSERT INTO accounts (address) VALUES (?)`, account)
		if err != nil {
			return fmt.Errorf("inserting account: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("inserting account: %w", err)
		}
		for _, df := range store.DefaultFolders() {
			f := store.FolderRef{Account: account, Folder: df.Name}
			if err := tx.createFolder(id, f, store.CreateFolderOptions{SpecialUse: df.SpecialUse, Subscribed: true}); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("ensuring account %s: %w", account, err)
	}
	return created, nil
}

// DeleteAccount implements store.AccountStore.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	account := mail.Fold(address)
	err := s.do(ctx, func(tx *wtx) error {
		// Folders, messages and tombstones go by cascade; the message
		// delete trigger releases the bodies.
		res, err := tx.exec(`DELETE FROM accounts WHERE address = ?`, account)
		if err != nil {
			return fmt.Errorf("deleting account row: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting account row: %w", err)
		} else if n == 0 {
			return store.ErrAccountNotFound
		}
		tx.emit(store.Event{Kind: store.EventAccountDeleted, Account: account})
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting account %s: %w", account, err)
	}
	return nil
}

// Accounts implements store.AccountStore.
func (s *Store) Accounts(ctx context.Context) ([]store.Account, error) {
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT address, usage_bytes, usage_count FROM accounts ORDER BY address`)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a store.Account
		if err := rows.Scan(&a.Address, &a.Usage.Bytes, &a.Usage.Messages); err != nil {
			return nil, fmt.Errorf("listing accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return out, nil
}

// Usage implements store.AccountStore.
func (s *Store) Usage(ctx context.Context, address string) (store.Usage, error) {
	account := mail.Fold(address)
	if err := s.readable(); err != nil {
		return store.Usage{}, fmt.Errorf("reading usage of %s: %w", account, err)
	}
	var u store.Usage
	err := s.rdb.QueryRowContext(ctx,
		`SELECT usage_bytes, usage_count FROM accounts WHERE address = ?`, account).
		Scan(&u.Bytes, &u.Messages)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrAccountNotFound
	}
	if err != nil {
		return store.Usage{}, fmt.Errorf("reading usage of %s: %w", account, err)
	}
	return u, nil
}
