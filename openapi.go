// Package livegate holds what belongs to the repository as a whole: the generated OpenAPI
// document, embedded so the server can serve it.
package livegate

import _ "embed"

// OpenAPI is the REST face's OpenAPI v2 document, generated from the protos into gen/openapi.
//
//go:embed gen/openapi/livegate.swagger.json
var OpenAPI []byte
