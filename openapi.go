// Package livegate holds what belongs to the repository as a whole: the generated OpenAPI
// document, embedded so the server can serve it.
package livegate

import (
	"bytes"
	_ "embed"
	"encoding/json"
)

// OpenAPI is the REST face's OpenAPI v2 document, generated from the protos into gen/openapi
// and completed by scripts/openapi. Its info.version is OpenAPIVersionPlaceholder: serve
// OpenAPIDocument instead, which holds the binary's version.
//
//go:embed gen/openapi/livegate.swagger.json
var OpenAPI []byte

// OpenAPIVersionPlaceholder is the committed document's info.version (scripts/openapi/
// supplement.json), replaced at serve time by the binary's version.
const OpenAPIVersionPlaceholder = "@LIVEGATE_VERSION@"

// OpenAPIDocument is OpenAPI with version as its info.version.
func OpenAPIDocument(version string) []byte {
	placeholder, _ := json.Marshal(OpenAPIVersionPlaceholder)
	v, _ := json.Marshal(version)
	return bytes.Replace(OpenAPI, placeholder, v, 1)
}
