// Command finish completes the OpenAPI document protoc-gen-openapiv2 writes (run by
// scripts/generate.sh, after buf generate): it merges in scripts/openapi/supplement.json
// (the title, a version placeholder the server replaces with its own version, the security
// schemes, the error envelope, and the routes the gateway registers by hand: webhooks, SSE,
// RTMP callbacks), and, on every operation, sets the security its route requires, the error
// responses, and 201 for the operations that create.
//
//	go run ./scripts/openapi gen/openapi/livegate.swagger.json scripts/openapi/supplement.json
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// created are the operations answered 201 (the gateway's successStatus).
var created = map[string]bool{
	"LivestreamService_CreateLivestream":   true,
	"AdminService_CreateApp":               true,
	"WebhookEndpointService_CreateWebhook": true,
}

// errorResponses every operation declares (refs to the supplement's responses).
var errorResponses = map[string]string{
	"400":     "BadRequest",
	"401":     "Unauthorized",
	"404":     "NotFound",
	"429":     "TooManyRequests",
	"503":     "Unavailable",
	"default": "Error",
}

type object = map[string]any

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: finish DOCUMENT SUPPLEMENT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "openapi finish:", err)
		os.Exit(1)
	}
}

func run(docPath, supplementPath string) error {
	var doc, sup object
	if err := readJSON(docPath, &doc); err != nil {
		return err
	}
	if err := readJSON(supplementPath, &sup); err != nil {
		return err
	}
	for key, v := range sup {
		switch key {
		case "tags":
			doc[key] = append(asList(doc[key]), asList(v)...)
		case "info":
			doc[key] = v
		default: // paths, definitions, responses, parameters, securityDefinitions
			m := asObject(doc[key])
			for name, item := range asObject(v) {
				if _, dup := m[name]; dup {
					return fmt.Errorf("%s: %q is both generated and in the supplement", key, name)
				}
				m[name] = item
			}
			doc[key] = m
		}
	}
	for path, item := range asObject(doc["paths"]) {
		for method, op := range asObject(item) {
			if err := finishOperation(path, method, asObject(op)); err != nil {
				return err
			}
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(docPath, out.Bytes(), 0o644)
}

func finishOperation(path, method string, op object) error {
	id, _ := op["operationId"].(string)
	responses := asObject(op["responses"])
	op["responses"] = responses
	if created[id] {
		ok, found := responses["200"]
		if !found {
			return fmt.Errorf("%s %s: %s has no 200 response to make 201", method, path, id)
		}
		delete(responses, "200")
		responses["201"] = ok
	}
	for code, name := range errorResponses {
		if _, set := responses[code]; !set {
			responses[code] = object{"$ref": "#/responses/" + name}
		}
	}
	if strings.HasSuffix(path, "events:stream") {
		op["produces"] = []any{"application/x-ndjson"}
	}
	if _, set := op["security"]; set { // the supplement's routes say their own
		return nil
	}
	switch {
	case strings.HasPrefix(path, "/admin/v1/"):
		op["security"] = []any{object{"operatorToken": []any{}}}
	case strings.HasPrefix(path, "/accounts/"):
		op["security"] = []any{object{"appToken": []any{}}}
	default:
		return fmt.Errorf("%s %s: no security rule for this path: say it in the supplement", method, path)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func asObject(v any) object {
	if m, ok := v.(object); ok {
		return m
	}
	return object{}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
