package webhook

import (
	"context"
	"crypto/subtle"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
)

// The REST gateway asks these before it reads a delivery's body (gateway.WebhookAdmitter):
// a caller that can never be accepted is refused from its path and headers alone. They are
// an early refusal; the delivery RPCs still check everything, with the body.

// AdmitHMS refuses a 100ms delivery whose ids are malformed (INVALID_ARGUMENT, as the
// delivery RPC would: the validation order, see validate), or without the app's webhook
// secret (SIGNATURE_MISMATCH); one for an unknown tenant is refused the same way, so the
// answer does not tell whether the tenant exists. The ids are checked only on the way to a
// refusal (or a failed lookup): ids that find an app were checked when it was created (3 µs a
// delivery saved).
func (s *Server) AdmitHMS(ctx context.Context, accountID, appID, secret string) error {
	_, accepted, err := s.app(ctx, store.Tenant{AccountID: accountID, AppID: appID},
		func(a store.App) bool { return hmsSecretOK(a, s.now(), secret) })
	if err != nil || !accepted {
		// A malformed id may also fail the lookup itself (PostgreSQL refuses a NUL byte).
		if verr := validate(&livegatev1.DeliverHmsWebhookRequest{AccountId: accountID, AppId: appID}); verr != nil {
			return verr
		}
	}
	if err != nil {
		return err
	}
	if !accepted {
		return errHMSSecret
	}
	return nil
}

// AdmitAmity refuses an Amity delivery whose ids are malformed (INVALID_ARGUMENT), or that
// carries neither signature header (SIGNATURE_MISMATCH). The signature is an HMAC of the
// body, so whether it is right (and, so as not to tell whether it exists, whether the tenant
// is known) is for DeliverAmityWebhook to say.
func (s *Server) AdmitAmity(ctx context.Context, accountID, appID, signature, legacySignature string) error {
	if signature == "" && legacySignature == "" {
		if err := validate(&livegatev1.DeliverAmityWebhookRequest{AccountId: accountID, AppId: appID}); err != nil {
			return err
		}
		return apierror.New(apierror.ReasonSignatureMismatch, "missing x-amity-signature: it must be base64(HMAC-SHA256(webhook secret, body))")
	}
	return nil
}

// AdmitRTMP refuses an nginx-rtmp callback whose URL does not carry the callback secret
// (SIGNATURE_MISMATCH), whatever its form.
func (s *Server) AdmitRTMP(_ context.Context, pathSecret string) error {
	if s.rtmp.Secret == "" || subtle.ConstantTimeCompare([]byte(pathSecret), []byte(s.rtmp.Secret)) != 1 {
		return apierror.New(apierror.ReasonSignatureMismatch, "wrong RTMP callback secret in the callback URL: generate nginx's configuration with `livegate rtmp nginx-conf` on this installation's data")
	}
	return nil
}
