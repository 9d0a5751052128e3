// Package webhook implements livegate.v1.WebhookService: provider deliveries in. Each is
// authenticated with the provider's own means, decoded into its typed message, deduplicated,
// and stored with every state change it causes in one transaction, committed before the
// call returns.
package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	amityv1 "github.com/livegate/livegate/gen/go/livegate/amity/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/decode"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/hms"
	"github.com/livegate/livegate/internal/limits"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/validation"
)

// Server implements WebhookService.
type Server struct {
	livegatev1.UnsafeWebhookServiceServer

	store store.Store
	rtmp  RTMP
	now   func() time.Time
	apps  *appCache
}

// NewServer returns a WebhookService over st; rtmp configures the nginx-rtmp callbacks.
func NewServer(st store.Store, rtmp RTMP) *Server {
	return &Server{store: st, rtmp: rtmp, now: time.Now, apps: newAppCache()}
}

var _ livegatev1.WebhookServiceServer = (*Server)(nil)

// app returns the tenant's app for a delivery that accepts(app) checks, and whether it
// accepts the delivery (accepts runs once): the cached app if it accepts the delivery,
// otherwise the app read anew (and cached). The commit checks that a cached app is still
// current (see appCache). An unknown tenant is no error: its deliveries are refused exactly
// like those with a wrong secret (accepted is false), so that an unauthenticated caller
// cannot tell which accounts and apps exist.
func (s *Server) app(ctx context.Context, t store.Tenant, accepts func(store.App) bool) (app cachedApp, accepted bool, err error) {
	if e, ok := s.apps.get(t); ok && accepts(e.app) {
		return e, true, nil
	}
	err = s.store.View(ctx, func(r store.Reader) error {
		var err error
		if app.version, err = r.AppsVersion(ctx); err != nil {
			return err
		}
		app.app, err = r.App(ctx, t)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		s.apps.drop(t)
		return cachedApp{app: store.App{Tenant: t}}, false, nil
	}
	if err != nil {
		return cachedApp{}, false, fmt.Errorf("look up app %s/%s: %w", t.AccountID, t.AppID, err)
	}
	s.apps.put(t, app)
	return app, accepts(app.app), nil
}

// stillAccepted checks, inside the transaction that commits a delivery, that the app it was
// accepted with is current; if apps changed since (AppsVersion), it reads the app in the
// transaction and checks the delivery against it (accepts): refused is the delivery's 401,
// and fresh is the app read, to cache once the transaction commits.
func stillAccepted(ctx context.Context, w store.Writer, d delivery) (fresh *cachedApp, err error) {
	v, err := w.AppsVersion(ctx)
	if err != nil {
		return nil, err
	}
	if v == d.appVersion {
		return nil, nil
	}
	app, err := w.App(ctx, d.tenant)
	if errors.Is(err, store.ErrNotFound) {
		return nil, d.refused
	}
	if err != nil {
		return nil, err
	}
	if !d.accepts(app) {
		return nil, d.refused
	}
	return &cachedApp{app: app, version: v}, nil
}

// hmsSecretOK reports whether secret (a 100ms delivery's X-Webhook-Secret) is one of the
// app's webhook secrets at now (its secret, or the one a rotation replaced, in its grace).
// An unknown tenant has no app to ask: app and stillAccepted refuse it first.
func hmsSecretOK(app store.App, now time.Time, secret string) bool {
	ok := false
	for _, want := range auth.WebhookSecrets(app, now) {
		if secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(want)) == 1 {
			ok = true
		}
	}
	return ok
}

// amitySignatureOK reports whether signature is the HMAC of body with one of the app's
// webhook secrets at now (an unknown tenant is refused before: see hmsSecretOK).
func amitySignatureOK(app store.App, now time.Time, body []byte, signature string) bool {
	ok := false
	for _, key := range auth.WebhookSecrets(app, now) {
		if amity.Verify([]byte(key), body, signature) {
			ok = true
		}
	}
	return ok
}

var (
	errHMSSecret = apierror.New(apierror.ReasonSignatureMismatch, "missing or wrong X-Webhook-Secret header")
	errAmitySig  = apierror.New(apierror.ReasonSignatureMismatch, "missing or wrong x-amity-signature: it must be base64(HMAC-SHA256(webhook secret, body))")
)

// delivery is one provider delivery, decoded: the events it becomes, in order, before they
// are stored.
type delivery struct {
	tenant     store.Tenant
	source     string
	deliveryID string
	events     []*livegatev1.Event
	payloads   []proto.Message
	dedupeKeys []string

	// appVersion is the AppsVersion of the app the delivery was accepted with; accepts
	// checks the delivery against an app read anew, refused is its error when that refuses.
	appVersion uint64
	accepts    func(store.App) bool
	refused    error
}

// DeliverHmsWebhook takes one 100ms delivery.
func (s *Server) DeliverHmsWebhook(ctx context.Context, req *livegatev1.DeliverHmsWebhookRequest) (*livegatev1.DeliverHmsWebhookResponse, error) {
	t := store.TenantOf(req)
	// A request that passes every rule needs neither check below; one that does not is
	// checked step by step, in the validation order (see validate).
	valid := validate(req) == nil
	if !valid {
		if err := validate(&livegatev1.DeliverHmsWebhookRequest{AccountId: req.GetAccountId(), AppId: req.GetAppId()}); err != nil {
			return nil, err
		}
	}
	accepts := func(a store.App) bool { return hmsSecretOK(a, s.now(), req.GetWebhookSecret()) }
	app, accepted, err := s.app(ctx, t, accepts)
	if err != nil {
		return nil, err
	}
	if !accepted {
		return nil, errHMSSecret
	}
	if err := checkBody(req, req.GetBody(), valid); err != nil {
		return nil, err
	}
	decoded, err := hms.DecodeLean(req.GetBody()) // the envelope's Data is not used
	if err != nil {
		return nil, decodeError(err)
	}
	env := decoded.Delivery
	now := s.now().UTC()
	deliveryID := env.GetId()
	if err := checkProviderID("id", deliveryID); err != nil {
		return nil, err
	}
	if err := checkProviderID("type", env.GetType()); err != nil {
		return nil, err
	}
	if strings.HasPrefix(deliveryID, digestPrefix) {
		return nil, invalidValue("id", "must not begin with "+strconv.Quote(digestPrefix)+", which livegate gives a delivery without an id")
	}
	if deliveryID == "" {
		deliveryID = digest(req.GetBody())
	}
	ev := &livegatev1.Event{
		Id:              uuid.NewString(),
		Type:            env.GetType(),
		Source:          payload.SourceHMS,
		AccountId:       t.AccountID,
		AppId:           t.AppID,
		ProviderEventId: deliveryID,
		OccurredAt:      env.GetTimestamp(),
		ReceivedAt:      timestamppb.New(now),
		IsReplay:        env.GetIsReplay(),
	}
	if ev.OccurredAt == nil {
		ev.OccurredAt = ev.ReceivedAt
	}
	p := decoded.Payload // nil for a type livegate does not know: stored raw, drives no state
	if p == nil {
		u, err := unknownPayload(req.GetBody())
		if err != nil {
			return nil, err
		}
		ev.Payload = &livegatev1.Event_Unknown{Unknown: u}
		correlateUnknown(ev, u.GetRaw())
	} else if err := payload.Set(ev, payload.SourceHMS, env.GetType(), p); err != nil {
		return nil, fmt.Errorf("100ms delivery %s: %w", deliveryID, err)
	}
	projection.Correlate(ev, p)
	for _, k := range hmsKeys(ev) {
		if err := checkProviderID("data."+k.name, *k.dst); err != nil {
			return nil, err
		}
	}
	d := delivery{tenant: t, source: payload.SourceHMS, deliveryID: deliveryID,
		events: []*livegatev1.Event{ev}, payloads: []proto.Message{p}, dedupeKeys: []string{deliveryID},
		appVersion: app.version, accepts: accepts, refused: errHMSSecret}
	seqs, dup, err := s.commit(ctx, d, now)
	if err != nil {
		return nil, err
	}
	return &livegatev1.DeliverHmsWebhookResponse{Sequence: seqs[0], Duplicate: dup}, nil
}

// DeliverAmityWebhook takes one Amity delivery: one event per video stream.
func (s *Server) DeliverAmityWebhook(ctx context.Context, req *livegatev1.DeliverAmityWebhookRequest) (*livegatev1.DeliverAmityWebhookResponse, error) {
	t := store.TenantOf(req)
	// A request that passes every rule needs neither check below; one that does not is
	// checked step by step, in the validation order (see validate).
	valid := validate(req) == nil
	if !valid {
		if err := validate(&livegatev1.DeliverAmityWebhookRequest{AccountId: req.GetAccountId(), AppId: req.GetAppId()}); err != nil {
			return nil, err
		}
	}
	accepts := func(a store.App) bool { return amitySignatureOK(a, s.now(), req.GetBody(), req.GetSignature()) }
	app, accepted, err := s.app(ctx, t, accepts)
	if err != nil {
		return nil, err
	}
	if amity.LegacyDuplicate(req.GetSignature(), req.GetLegacySignature()) {
		// Acknowledged unverified, for a known and an unknown tenant alike.
		return &livegatev1.DeliverAmityWebhookResponse{Ignored: true}, nil
	}
	if !accepted {
		return nil, errAmitySig
	}
	if err := checkBody(req, req.GetBody(), valid); err != nil {
		return nil, err
	}
	w, err := amity.Decode(req.GetBody())
	if err != nil {
		return nil, decodeError(err)
	}
	now := s.now().UTC()
	// Amity sends no event id: the delivery is known by a digest of its body.
	deliveryID := digest(req.GetBody())
	d := delivery{tenant: t, source: payload.SourceAmity, deliveryID: deliveryID,
		appVersion: app.version, accepts: accepts, refused: errAmitySig}
	if err := checkProviderID("event", w.GetEvent()); err != nil {
		return nil, err
	}
	known := amity.Known(w.GetEvent())
	for i, one := range amity.Split(w) {
		if err := checkProviderID(fmt.Sprintf("data.videoStreamings[%d].streamId", i), one.GetVideoStreaming().GetStreamId()); err != nil {
			return nil, err
		}
		ev := &livegatev1.Event{
			Id:              uuid.NewString(),
			Type:            w.GetEvent(),
			Source:          payload.SourceAmity,
			AccountId:       t.AccountID,
			AppId:           t.AppID,
			ProviderEventId: fmt.Sprintf("%s/%d", deliveryID, i),
			OccurredAt:      occurredAt(one, now),
			ReceivedAt:      timestamppb.New(now),
			StreamId:        one.GetVideoStreaming().GetStreamId(),
		}
		var p proto.Message = one
		if known {
			if err := payload.Set(ev, payload.SourceAmity, w.GetEvent(), one); err != nil {
				return nil, fmt.Errorf("Amity delivery %s: %w", deliveryID, err)
			}
		} else {
			u, err := unknownPayload(req.GetBody())
			if err != nil {
				return nil, err
			}
			ev.Payload = &livegatev1.Event_Unknown{Unknown: u}
			p = nil // an unknown type drives no state
		}
		d.events = append(d.events, ev)
		d.payloads = append(d.payloads, p)
		d.dedupeKeys = append(d.dedupeKeys, ev.ProviderEventId)
	}
	if len(d.events) == 0 {
		return nil, decodeError(&decode.FieldError{Field: "data.videoStreamings", Kind: decode.ErrMissingField, Reason: "at least one video stream is required"})
	}
	seqs, dup, err := s.commit(ctx, d, now)
	if err != nil {
		return nil, err
	}
	return &livegatev1.DeliverAmityWebhookResponse{Sequences: seqs, Duplicate: dup}, nil
}

// commit stores a delivery's events with what they cause, in one transaction: or, when the
// delivery is already stored, changes nothing and returns the original sequences.
func (s *Server) commit(ctx context.Context, d delivery, now time.Time) (seqs []uint64, duplicate bool, err error) {
	total := 0
	for _, ev := range d.events {
		total += proto.Size(ev)
	}
	if total > limits.MaxDeliveryEventBytes {
		return nil, false, limits.DeliveryTooLarge(len(d.events), total)
	}
	var fresh *cachedApp
	err = s.store.Update(ctx, func(w store.Writer) error {
		seqs, duplicate = nil, false
		var err error
		if fresh, err = stillAccepted(ctx, w, d); err != nil {
			return err
		}
		prior, err := w.DeliverySequences(ctx, d.tenant, d.source, d.deliveryID)
		if err != nil {
			return err
		}
		if len(prior) > 0 {
			seqs, duplicate = prior, true
			return nil
		}
		for i, ev := range d.events {
			seq, err := s.appendAndProject(ctx, w, d, i, ev, now)
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	if d.refused != nil && errors.Is(err, d.refused) {
		s.apps.drop(d.tenant)
		return nil, false, d.refused
	}
	if err != nil {
		return nil, false, fmt.Errorf("store %s delivery %s: %w", d.source, d.deliveryID, err)
	}
	if fresh != nil {
		s.apps.put(d.tenant, *fresh)
	}
	return seqs, duplicate, nil
}

func (s *Server) appendAndProject(ctx context.Context, w store.Writer, d delivery, i int, ev *livegatev1.Event, now time.Time) (uint64, error) {
	pe := projection.Event{Tenant: d.tenant, Source: d.source, Type: ev.GetType(), At: ev.GetOccurredAt().AsTime(), Payload: d.payloads[i]}
	var target *store.Livestream
	if pe.Payload != nil {
		var err error
		if target, err = projection.Target(ctx, w, pe, now); err != nil {
			return 0, err
		}
	}
	if target != nil {
		ev.LivestreamId = target.ID
	}
	if err := eventlog.Append(ctx, w, ev, d.deliveryID, d.dedupeKeys[i]); err != nil {
		return 0, err
	}
	if pe.Payload == nil {
		return ev.GetSequence(), nil
	}
	if _, err := projection.Apply(ctx, w, pe, target, projection.CausedBy(ev), now); err != nil {
		return 0, err
	}
	return ev.GetSequence(), nil
}

// The validation order of every delivery: the ids that find the tenant (a malformed one is
// 400), then the tenant's secret or signature (401; an unknown tenant is answered as a
// wrong secret, so the answer does not tell whether it exists), and only then the rest of the
// request and the body's bounds (limits), so that a caller without the secret learns nothing
// about what a valid body is, and a wrong secret is 401 whatever the body. WebhookService is
// therefore left out of the server's validation interceptor, and its handlers validate here.

// validate checks req against its proto's rules, as the server's validation interceptor
// does for the other services: INVALID_ARGUMENT with the violations.
func validate(req proto.Message) error {
	v, err := validation.Validator()
	if err != nil {
		return err
	}
	err = v.Validate(req)
	if err == nil {
		return nil
	}
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate %s: %w", req.ProtoReflect().Descriptor().Name(), err)
	}
	st := status.New(codes.InvalidArgument, err.Error())
	if withDetails, derr := st.WithDetails(ve.ToProto()); derr == nil {
		st = withDetails
	}
	return st.Err()
}

// checkBody checks an authenticated delivery: its size (413), its request's rules (unless
// valid: checked already), and the JSON bounds that keep what is stored decodable
// (limits.CheckJSON).
func checkBody(req proto.Message, body []byte, valid bool) error {
	if len(body) > limits.MaxBodyBytes {
		return limits.BodyTooLarge(len(body))
	}
	if valid {
		return limits.CheckJSON(body)
	}
	if err := validate(req); err != nil {
		return err
	}
	return limits.CheckJSON(body)
}

// decodeError turns a provider decoder's error into 400 INVALID_ARGUMENT naming the field:
// every decoder's errors are a *decode.FieldError.
func decodeError(err error) error {
	var fe *decode.FieldError
	if errors.As(err, &fe) {
		return fe.APIError()
	}
	return fmt.Errorf("decode delivery: %w", err)
}

// hmsKey is a 100ms correlation key: its name in a payload's data, and ev's field for it.
type hmsKey struct {
	name string
	dst  *string
}

// hmsKeys are ev's 100ms correlation keys (an array: nothing allocated per delivery).
func hmsKeys(ev *livegatev1.Event) [6]hmsKey {
	return [6]hmsKey{
		{"room_id", &ev.RoomId}, {"session_id", &ev.SessionId}, {"peer_id", &ev.PeerId},
		{"beam_id", &ev.BeamId}, {"ingest_id", &ev.IngestId}, {"stream_id", &ev.StreamId},
	}
}

// correlateUnknown gives a 100ms event of a type livegate does not know the correlation keys
// its raw data names as every known type does (data.room_id, data.session_id, ...), so that
// the feed's room_id filter finds it too (the feed audit's new type had no room). A key that
// is not a string, or that a known type's would be refused for (checkProviderID), is left
// out, not refused: the event is stored all the same.
func correlateUnknown(ev *livegatev1.Event, raw *structpb.Struct) {
	data := raw.GetFields()["data"].GetStructValue().GetFields()
	for _, k := range hmsKeys(ev) {
		v, ok := data[k.name].GetKind().(*structpb.Value_StringValue)
		if !ok || checkProviderID("data."+k.name, v.StringValue) != nil {
			continue
		}
		*k.dst = v.StringValue
	}
}

func unknownPayload(body []byte) (*livegatev1.UnknownPayload, error) {
	raw := &structpb.Struct{}
	if err := raw.UnmarshalJSON(body); err != nil {
		return nil, apierror.New(apierror.ReasonInvalidArgument, "body: not a JSON object: %v", err)
	}
	return &livegatev1.UnknownPayload{Raw: raw}, nil
}

func occurredAt(e *amityv1.VideoStreamingEvent, now time.Time) *timestamppb.Timestamp {
	vs := e.GetVideoStreaming()
	for _, t := range []*timestamppb.Timestamp{vs.GetUpdatedAt(), vs.GetEndedAt(), vs.GetStartedAt()} {
		if t != nil {
			return t
		}
	}
	return timestamppb.New(now)
}

// maxProviderID bounds the provider ids a delivery carries that livegate keys rows by or
// files events under: a 100ms delivery's id and its payload's correlation keys, an Amity
// stream's streamId. Providers' ids are 24 to 36 characters. PostgreSQL's indexes refuse an
// entry over about 2.7 KB: a longer id was a 500 there.
const maxProviderID = 255

// checkProviderID is 400 naming field when provider id v is longer than maxProviderID or
// holds a NUL character: such values are keys and columns of their own, and PostgreSQL
// stores no NUL in text (a room_id with one was a 500 there, and stored on SQLite).
func checkProviderID(field, v string) error {
	if len(v) > maxProviderID {
		return invalidValue(field, fmt.Sprintf("longer than %d bytes (%d)", maxProviderID, len(v)))
	}
	if strings.IndexByte(v, 0) >= 0 {
		return invalidValue(field, "holds a NUL character")
	}
	return nil
}

// invalidValue is 400 INVALID_ARGUMENT in the decoders' words: "FIELD: invalid value: REASON".
func invalidValue(field, reason string) error {
	return decodeError(&decode.FieldError{Field: field, Kind: decode.ErrInvalidValue, Reason: reason})
}

// digestPrefix begins the name digest gives a delivery without an id; a provider's id may not,
// so that no delivery can be taken for another's repeat.
const digestPrefix = "sha256:"

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return digestPrefix + hex.EncodeToString(h[:])
}
