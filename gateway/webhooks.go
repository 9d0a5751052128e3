package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/metrics"
)

// Webhook routes: the body reaches WebhookService byte for byte (signatures are over the raw
// body), so these are plain routes that call the gRPC service, not generated handlers.
const (
	hmsWebhookPath   = "/accounts/{account_id}/realtime/kit/{app_id}/webhooks/100ms"
	amityWebhookPath = "/accounts/{account_id}/realtime/kit/{app_id}/webhooks/amity"
	// HMSSecretHeader carries the app's webhook secret on 100ms deliveries (a custom header
	// set on the 100ms webhook; 100ms does not sign).
	HMSSecretHeader = "X-Webhook-Secret"
)

// WebhookAdmitter checks a webhook or RTMP callback caller from what arrives before the body
// (path, headers), so that a caller who could never be accepted is refused before its body
// is read: an unknown tenant or a wrong secret costs no buffer and no waiting on a slow
// body. It is an early refusal, not the authority: the services check everything again,
// with the body. Errors are apierror values (NOT_FOUND for an unknown tenant,
// SIGNATURE_MISMATCH for a missing or wrong secret).
type WebhookAdmitter interface {
	// AdmitHMS: the tenant exists and secret (the X-Webhook-Secret header) is its webhook
	// secret.
	AdmitHMS(ctx context.Context, accountID, appID, secret string) error
	// AdmitAmity: the tenant exists and the delivery carries a signature (x-amity-signature)
	// or a legacy one (x-eko-signature). The HMAC is over the body: the service checks it.
	AdmitAmity(ctx context.Context, accountID, appID, signature, legacySignature string) error
	// AdmitRTMP: pathSecret is the RTMP callback secret.
	AdmitRTMP(ctx context.Context, pathSecret string) error
}

// admission asks the WebhookAdmitter, answers a refusal itself, and logs it as the gRPC
// server logs the calls it finishes.
type admission struct {
	admitter WebhookAdmitter
	log      *slog.Logger
	metrics  *metrics.Metrics
	lines    *accesslog.RefusedLines // bounds the lines of callers refused for their own fault
}

// methodSource is the delivery source of a WebhookService method.
var methodSource = map[string]string{
	livegatev1.WebhookService_DeliverHmsWebhook_FullMethodName:   metrics.SourceHMS,
	livegatev1.WebhookService_DeliverAmityWebhook_FullMethodName: metrics.SourceAmity,
	livegatev1.WebhookService_DeliverRtmpCallback_FullMethodName: metrics.SourceRTMP,
}

// refused reports whether err (from the admitter) refused the caller; if so it has answered.
func (a *admission) refused(w http.ResponseWriter, r *http.Request, method string, err error, attrs ...any) bool {
	if err == nil {
		return false
	}
	a.metrics.Delivery(methodSource[method], metrics.OutcomeOf(err))
	st := apierror.ToStatus(err)
	lvl := slog.LevelInfo
	if st.Code() == codes.Internal {
		lvl = slog.LevelError
		attrs = append(attrs, "error", accesslog.Cut(err.Error())) // it may quote the ids
	}
	if a.lines.Allow(r.Context(), a.log, lvl != slog.LevelError) {
		for i := 1; i < len(attrs); i += 2 {
			if v, ok := attrs[i].(string); ok {
				attrs[i] = accesslog.Cut(v)
			}
		}
		a.log.Log(r.Context(), lvl, "refused before reading the body", append([]any{
			"method", method, "code", st.Code().String(), "message", accesslog.Cut(st.Message()), "remote", r.RemoteAddr,
		}, attrs...)...)
	}
	WriteStatus(w, st)
	return true
}

type webhooks struct {
	client  livegatev1.WebhookServiceClient
	admit   *admission
	metrics *metrics.Metrics
}

func registerWebhooks(mux *runtime.ServeMux, conn grpc.ClientConnInterface, admit *admission, m *metrics.Metrics) error {
	h := &webhooks{client: livegatev1.NewWebhookServiceClient(conn), admit: admit, metrics: m}
	if err := handlePath(mux, http.MethodPost, hmsWebhookPath, h.hms); err != nil {
		return fmt.Errorf("register %s: %w", hmsWebhookPath, err)
	}
	if err := handlePath(mux, http.MethodPost, amityWebhookPath, h.amity); err != nil {
		return fmt.Errorf("register %s: %w", amityWebhookPath, err)
	}
	return nil
}

// readBody reads a whole request body, answering itself (413 over MaxBodyBytes, 408 not
// received within the read timeout, 429 no room in the bodies-in-flight budget, 400 cut
// short) when it cannot. A body of declared length up to readChunk (every real delivery) is
// read into one buffer of that size, so it costs its length once (io.ReadAll would grow a
// buffer and copy it again at the end); a longer one grows as its bytes arrive, so a caller
// that declares 1 MiB and sends nothing costs nothing.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= MaxBodyBytes {
		body, err = readDeclared(r.Body, int(n))
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeTooLarge(w)
		return nil, false
	case classifyBodyError(err) == bodyTimedOut:
		writeBodyTimeout(w)
		return nil, false
	case errors.Is(err, errBodyBudget):
		writeBodyBusy(w, errBodyBudget)
		return nil, false
	case errors.Is(err, errClientBodyBudget):
		writeBodyBusy(w, errClientBodyBudget)
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading request body: "+err.Error(), "INVALID_ARGUMENT")
		return nil, false
	}
	return body, true
}

// readChunk is how much of a declared body readDeclared allocates before any of it arrives.
const readChunk = 64 << 10

// readDeclared reads a body of declared length n: into one buffer of n bytes when n is at
// most readChunk, else into one that grows from readChunk as the bytes arrive.
func readDeclared(r io.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	var buf bytes.Buffer
	buf.Grow(readChunk)
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

func (h *webhooks) hms(w http.ResponseWriter, r *http.Request, params map[string]string) {
	if h.admit != nil {
		err := h.admit.admitter.AdmitHMS(r.Context(), params["account_id"], params["app_id"], r.Header.Get(HMSSecretHeader))
		if h.admit.refused(w, r, livegatev1.WebhookService_DeliverHmsWebhook_FullMethodName, err, "account_id", params["account_id"], "app_id", params["app_id"]) {
			return
		}
	}
	body, ok := readBody(w, r)
	if !ok {
		refusedBeforeCall(h.metrics, r, metrics.SourceHMS)
		return
	}
	resp, err := h.client.DeliverHmsWebhook(r.Context(), &livegatev1.DeliverHmsWebhookRequest{
		AccountId:     params["account_id"],
		AppId:         params["app_id"],
		WebhookSecret: r.Header.Get(HMSSecretHeader),
		Body:          body,
	})
	respond(w, resp, err)
}

func (h *webhooks) amity(w http.ResponseWriter, r *http.Request, params map[string]string) {
	if h.admit != nil {
		err := h.admit.admitter.AdmitAmity(r.Context(), params["account_id"], params["app_id"],
			r.Header.Get(amity.SignatureHeader), r.Header.Get(amity.LegacySignatureHeader))
		if h.admit.refused(w, r, livegatev1.WebhookService_DeliverAmityWebhook_FullMethodName, err, "account_id", params["account_id"], "app_id", params["app_id"]) {
			return
		}
	}
	body, ok := readBody(w, r)
	if !ok {
		refusedBeforeCall(h.metrics, r, metrics.SourceAmity)
		return
	}
	resp, err := h.client.DeliverAmityWebhook(r.Context(), &livegatev1.DeliverAmityWebhookRequest{
		AccountId:       params["account_id"],
		AppId:           params["app_id"],
		Signature:       r.Header.Get(amity.SignatureHeader),
		LegacySignature: r.Header.Get(amity.LegacySignatureHeader),
		Body:            body,
	})
	respond(w, resp, err)
}

// respond writes a gRPC answer as REST: the message as JSON with 200, or the error envelope.
func respond(w http.ResponseWriter, m proto.Message, err error) {
	if err != nil {
		WriteStatus(w, status.Convert(err))
		return
	}
	respondStatus(w, http.StatusOK, m)
}

// respondStatus writes m as JSON with the HTTP status code.
func respondStatus(w http.ResponseWriter, code int, m proto.Message) {
	b, err := Marshaler.Marshal(m)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
