package models

import (
	"context"
	"errors"
	"time"
)

// ClaimIdempotencyKey claims (scope, key) for a request whose hash is hash.
// claimed is true when this caller is the first: it must then finish or
// release the key. Otherwise the stored row is returned: its hash tells a
// repeat from a misuse, and its status code (nil while the first request is
// still running) the answer to repeat. Two simultaneous first requests
// collide on the unique index and the loser reads the winner's row.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, scope, key, hash string, at time.Time) (IdempotencyKey, bool, error) {
	k := IdempotencyKey{Scope: scope, IdemKey: key, RequestHash: hash, CreatedAt: at, UpdatedAt: at}
	err := dup(s.db.WithContext(ctx).Create(&k).Error)
	if err == nil {
		return k, true, nil
	}
	if !errors.Is(err, ErrDuplicate) {
		return k, false, err
	}
	var got IdempotencyKey
	// In a transaction a locking read: a plain one could miss the
	// winner's row if the snapshot predates it (see current).
	err = s.current(ctx).Where("scope = ? AND idem_key = ?", scope, key).Take(&got).Error
	return got, false, one(err)
}

// FinishIdempotencyKey stores the answer given to the key's request.
func (s *Store) FinishIdempotencyKey(ctx context.Context, id int64, status int, body string, at time.Time) error {
	return s.db.WithContext(ctx).Model(&IdempotencyKey{}).Where("id = ?", id).
		Updates(map[string]any{"status_code": status, "response": body, "updated_at": at}).Error
}

// ReleaseIdempotencyKey forgets a key whose request failed in a way worth
// retrying, so that the retry runs again.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, id int64) error {
	return s.db.WithContext(ctx).Delete(&IdempotencyKey{}, id).Error
}

// TakeOverIdempotencyKey claims a key whose first request never finished
// (its process died), if nobody else took it over since it was last
// touched at seen.
func (s *Store) TakeOverIdempotencyKey(ctx context.Context, id int64, seen, at time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&IdempotencyKey{}).
		Where("id = ? AND status_code IS NULL AND updated_at = ?", id, seen).Update("updated_at", at)
	return res.RowsAffected == 1, res.Error
}
