package rtmp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/livegate/livegate/internal/store"
)

// SecretSetting is the installation-wide setting that holds the callback secret.
const SecretSetting = "rtmp_callback_secret"

// CallbackSecret returns the secret nginx-rtmp puts in its callback URLs
// (/rtmp/SECRET/on_publish), creating it on first use. It is one per installation, kept in
// the store, so that `livegate serve` and `livegate rtmp nginx-conf` on the same data agree,
// whichever runs first. It is 26 characters of crypto/rand base32 (130 bits).
//
// A secret already made is read in a read transaction: a node that may not write (on
// PostgreSQL, one whose clock is off) still starts, and serves what it can.
func CallbackSecret(ctx context.Context, st store.Store) (string, error) {
	var secret string
	err := st.View(ctx, func(r store.Reader) error {
		var err error
		secret, err = r.Setting(ctx, SecretSetting)
		return err
	})
	switch {
	case err == nil:
		return secret, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("read the RTMP callback secret: %w", err)
	}
	err = st.Update(ctx, func(w store.Writer) error {
		// Read and create in one transaction: of two processes starting at once, the first
		// one's secret wins.
		s, err := w.Setting(ctx, SecretSetting)
		if err == nil {
			secret = s
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		secret = rand.Text()
		return w.CreateSetting(ctx, SecretSetting, secret)
	})
	if err != nil {
		return "", fmt.Errorf("read or create the RTMP callback secret: %w", err)
	}
	return secret, nil
}
