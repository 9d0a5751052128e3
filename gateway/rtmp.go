package gateway

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/decode"
	"github.com/livegate/livegate/internal/metrics"
	"github.com/livegate/livegate/internal/rtmp"
)

// rtmpCallbackPath is where nginx-rtmp's callbacks arrive (see `livegate rtmp nginx-conf`):
// /rtmp/SECRET/on_publish, on_publish_done, on_play, on_play_done, on_done, on_update.
const rtmpCallbackPath = "/rtmp/{secret}/{hook}"

// hooks are the nginx-rtmp directives livegate serves, and the calls each one sends.
var hooks = map[string][]string{
	"on_publish":      {rtmp.CallPublish},
	"on_publish_done": {rtmp.CallPublishDone},
	"on_play":         {rtmp.CallPlay},
	"on_play_done":    {rtmp.CallPlayDone},
	"on_done":         {rtmp.CallDone},
	"on_update":       {rtmp.CallUpdatePublish, rtmp.CallUpdatePlay, rtmp.CallUpdate},
	"on_connect":      {rtmp.CallConnect},
	"on_disconnect":   {rtmp.CallDisconnect},
	"on_record_done":  {rtmp.CallRecordDone},
}

func registerRTMP(mux *runtime.ServeMux, conn grpc.ClientConnInterface, admit *admission, m *metrics.Metrics) error {
	client := livegatev1.NewWebhookServiceClient(conn)
	h := func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		// The secret first: a caller without it learns nothing of the hooks or the form, and
		// its body is not read.
		if admit != nil {
			err := admit.admitter.AdmitRTMP(r.Context(), params["secret"])
			if admit.refused(w, r, livegatev1.WebhookService_DeliverRtmpCallback_FullMethodName, err, "hook", params["hook"]) {
				return
			}
		}
		if !rtmpCallback(client, w, r, params) {
			refusedBeforeCall(m, r, metrics.SourceRTMP)
		}
	}
	if err := handlePath(mux, http.MethodPost, rtmpCallbackPath, h); err != nil {
		return fmt.Errorf("register %s: %w", rtmpCallbackPath, err)
	}
	return nil
}

// rtmpCallback answers one nginx-rtmp callback: 200 allows, 302 with Location renames the
// stream (and allows), any other status refuses (nginx drops the client). It reports whether
// it called the gRPC server (false: it refused the callback itself).
func rtmpCallback(client livegatev1.WebhookServiceClient, w http.ResponseWriter, r *http.Request, params map[string]string) (called bool) {
	calls, ok := hooks[params["hook"]]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no nginx-rtmp callback %q: livegate serves %s", params["hook"], strings.Join(slices.Sorted(maps.Keys(hooks)), ", ")), "NOT_FOUND")
		return false
	}
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	cb, err := parseCallback(body, params["hook"], calls)
	if err != nil {
		var fe *decode.FieldError
		if errors.As(err, &fe) {
			err = fe.APIError() // 400 naming the field, as for every provider's delivery
		}
		WriteStatus(w, apierror.ToStatus(err))
		return false
	}
	resp, err := client.DeliverRtmpCallback(r.Context(), &livegatev1.DeliverRtmpCallbackRequest{
		CallbackSecret: params["secret"],
		Callback:       cb,
	})
	if err != nil {
		WriteStatus(w, status.Convert(err))
		return true
	}
	if resp.GetRenameTo() != "" {
		// nginx-rtmp reads a Location that does not start with rtmp:// as the stream's new name.
		w.Header().Set("Location", resp.GetRenameTo())
		respondStatus(w, http.StatusFound, resp)
		return true
	}
	respondStatus(w, http.StatusOK, resp)
	return true
}

// parseCallback reads the form nginx-rtmp POSTs (notify_method post, its default and what
// nginx-conf writes) and checks that its call belongs on hook, which serves calls. Every error
// is a *decode.FieldError.
func parseCallback(body []byte, hook string, calls []string) (*rtmpv1.Callback, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &decode.FieldError{Kind: decode.ErrInvalidValue, Reason: "not a URL-encoded form: " + err.Error(), Err: err}
	}
	cb, err := rtmp.ParseCallback(form)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(calls, cb.GetCall()) {
		return nil, &decode.FieldError{Field: "call", Kind: decode.ErrInvalidValue,
			Reason: fmt.Sprintf("%s does not belong on %s (expected %s)", strconv.Quote(cb.GetCall()), hook, strings.Join(calls, " or "))}
	}
	return cb, nil
}
