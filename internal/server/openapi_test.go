package server_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/livegate/livegate/gateway"
	_ "github.com/livegate/livegate/gen/go/livegate/v1" // registers the services' descriptors
	"github.com/livegate/livegate/internal/metrics"
)

// openAPIDoc is the part of the served OpenAPI 2.0 document the test reads.
type openAPIDoc struct {
	Info struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	SecurityDefinitions map[string]struct {
		Type        string `json:"type"`
		In          string `json:"in"`
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"securityDefinitions"`
	Responses   map[string]struct{ Schema map[string]any } `json:"responses"`
	Definitions map[string]json.RawMessage                 `json:"definitions"`
	Paths       map[string]map[string]struct {
		OperationID string                    `json:"operationId"`
		Security    *[]map[string][]string    `json:"security"`
		Responses   map[string]map[string]any `json:"responses"`
	} `json:"paths"`
}

// TestOpenAPIDocument: /openapi.json, fetched from a running server, is titled livegate,
// carries the binary's version, requires the app's bearer token on the app API, the operator
// token on /admin/v1 and no bearer on provider deliveries, declares the error envelope as
// every operation's error responses and 201 where the server answers 201, and describes every
// route the server serves (the RPCs' and the gateway's own), and only those.
func TestOpenAPIDocument(t *testing.T) {
	s := startServer(t, t.TempDir(), withAdminAPI)
	resp := s.rest("GET", "/openapi.json", "", nil)
	if resp.Status != 200 {
		t.Fatalf("GET /openapi.json: HTTP %d", resp.Status)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(resp.Raw, &doc); err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	if doc.Info.Title != "livegate" {
		t.Errorf("info.title = %q, want livegate", doc.Info.Title)
	}
	if v, _ := metrics.Build(); doc.Info.Version != v {
		t.Errorf("info.version = %q, want the binary's %q", doc.Info.Version, v)
	}

	// Security schemes: both bearer tokens in Authorization.
	for _, name := range []string{"appToken", "operatorToken"} {
		sd := doc.SecurityDefinitions[name]
		if sd.Type != "apiKey" || sd.In != "header" || sd.Name != "Authorization" || !strings.Contains(sd.Description, "Bearer") {
			t.Errorf("securityDefinitions.%s = %+v, want the bearer token in Authorization", name, sd)
		}
	}
	if !strings.Contains(doc.SecurityDefinitions["operatorToken"].Description, "--admin-token-file") {
		t.Errorf("operatorToken does not say where operator tokens come from: %q", doc.SecurityDefinitions["operatorToken"].Description)
	}

	// The error envelope, as the server writes it.
	var envelope struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(doc.Definitions["Error"], &envelope); err != nil || envelope.Properties["success"] == nil || envelope.Properties["errors"] == nil {
		t.Fatalf("definitions.Error = %s, want {success, errors}", doc.Definitions["Error"])
	}
	var detail struct {
		Properties map[string]any `json:"properties"`
	}
	_ = json.Unmarshal(doc.Definitions["ErrorDetail"], &detail)
	creds := s.createApp("acme", "web")
	base := "/accounts/acme/realtime/kit/web"
	real := s.rest("GET", base+"/livestreams/00000000-0000-4000-8000-000000000000", creds.APIToken, nil)
	if real.Status != 404 {
		t.Fatalf("GET an unknown livestream: HTTP %d %s", real.Status, real.Raw)
	}
	for key := range real.Body {
		if envelope.Properties[key] == nil {
			t.Errorf("the server's error has %q, which definitions.Error does not declare", key)
		}
	}
	for key := range real.Body["errors"].([]any)[0].(map[string]any) {
		if detail.Properties[key] == nil {
			t.Errorf("the server's error detail has %q, which definitions.ErrorDetail does not declare", key)
		}
	}
	for name, r := range doc.Responses {
		if r.Schema["$ref"] != "#/definitions/Error" {
			t.Errorf("responses.%s: schema %v, want the error envelope", name, r.Schema)
		}
	}

	// Every operation: its security, its error responses.
	provider := regexp.MustCompile(`/webhooks/(100ms|amity)$|^/rtmp/|^/openapi\.json$`) // not the outbound webhooks API
	for path, ops := range doc.Paths {
		for method, op := range ops {
			where := strings.ToUpper(method) + " " + path
			var schemes []string
			if op.Security == nil {
				t.Errorf("%s: no security", where)
				continue
			}
			for _, req := range *op.Security {
				for name := range req {
					schemes = append(schemes, name)
				}
			}
			switch {
			case strings.HasPrefix(path, "/admin/v1/"):
				if !slices.Equal(schemes, []string{"operatorToken"}) {
					t.Errorf("%s: security %v, want operatorToken", where, schemes)
				}
			case provider.MatchString(path):
				if len(schemes) != 0 {
					t.Errorf("%s: security %v, want none (authenticated otherwise)", where, schemes)
				}
			default:
				if !slices.Contains(schemes, "appToken") || slices.Contains(schemes, "operatorToken") {
					t.Errorf("%s: security %v, want appToken", where, schemes)
				}
			}
			for _, code := range []string{"400", "401", "404", "default"} {
				ref, _ := op.Responses[code]["$ref"].(string)
				if _, ok := doc.Responses[strings.TrimPrefix(ref, "#/responses/")]; !ok {
					t.Errorf("%s: response %s is %v, want the error envelope", where, code, op.Responses[code])
				}
			}
		}
	}

	// 201 where the server answers 201.
	creates := []struct{ method, path, docPath, token string }{
		{"POST", base + "/livestreams", "/accounts/{account_id}/realtime/kit/{app_id}/livestreams", creds.APIToken},
		{"POST", "/admin/v1/apps", "/admin/v1/apps", operatorToken},
	}
	for _, c := range creates {
		op := doc.Paths[c.docPath][strings.ToLower(c.method)]
		if op.Responses["201"] == nil || op.Responses["200"] != nil {
			t.Errorf("%s %s: documented success %v, want 201 only", c.method, c.docPath, slices.Sorted(maps.Keys(op.Responses)))
		}
		body := map[string]any{"name": "doc"}
		if c.token == operatorToken {
			body = map[string]any{"account_id": "acme", "app_id": "other"}
		}
		if got := s.rest(c.method, c.path, c.token, body); got.Status != 201 {
			t.Errorf("%s %s: HTTP %d %s, want 201 as documented", c.method, c.path, got.Status, got.Raw)
		}
	}

	// Every route served is documented: the RPCs' (google.api.http) and the gateway's own.
	served := gateway.HandRoutes()
	protoregistry.GlobalFiles.RangeFilesByPackage("livegate.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				rule, _ := proto.GetExtension(svc.Methods().Get(j).Options(), annotations.E_Http).(*annotations.HttpRule)
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					if r == nil {
						continue
					}
					for method, p := range map[string]string{"GET": r.GetGet(), "POST": r.GetPost(), "PUT": r.GetPut(), "DELETE": r.GetDelete(), "PATCH": r.GetPatch()} {
						if p != "" {
							served = append(served, gateway.Route{Method: method, Path: p})
						}
					}
				}
			}
		}
		return true
	})
	if len(served) < 20 {
		t.Fatalf("found only %d routes: %v", len(served), served)
	}
	for _, r := range served {
		if _, ok := doc.Paths[r.Path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s is served but not in the document", r.Method, r.Path)
		}
	}

	// ... and every documented route is served: no routing 404/405 for any of them.
	param := regexp.MustCompile(`\{[^}]+\}`)
	for path, ops := range doc.Paths {
		for method := range ops {
			url := param.ReplaceAllString(path, "x")
			req, _ := http.NewRequest(strings.ToUpper(method), s.base+url, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, url, err)
			}
			var body struct {
				Errors []struct{ Message, Reason string }
			}
			_ = json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if res.StatusCode == 405 || (res.StatusCode == 404 && len(body.Errors) > 0 && strings.HasPrefix(body.Errors[0].Message, "no such route")) {
				t.Errorf("%s %s is documented but not served: HTTP %d %v", strings.ToUpper(method), path, res.StatusCode, body.Errors)
			}
		}
	}
}
