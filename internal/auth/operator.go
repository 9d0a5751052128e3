package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"

	"github.com/livegate/livegate/internal/apierror"
)

// MinOperatorTokenLen is the shortest operator token livegate accepts.
const MinOperatorTokenLen = 32

// Operators authenticates the admin API's callers: each holds one of the operator tokens
// livegate was given. Only SHA-256 of each token is kept, compared in constant time; a
// caller is known by OperatorActor of its token (a fingerprint) in the audit log.
type Operators struct {
	hashes [][sha256.Size]byte
	actors []string
}

// NewOperators returns the Operators holding tokens. Each must be at least
// MinOperatorTokenLen characters and must not look like an app token (lgt_...), so that
// the two kinds can never be confused.
func NewOperators(tokens []string) (*Operators, error) {
	o := &Operators{}
	for i, tok := range tokens {
		if len(tok) < MinOperatorTokenLen {
			return nil, fmt.Errorf("operator token %d: %d characters, want at least %d (for example: openssl rand -hex 32)", i+1, len(tok), MinOperatorTokenLen)
		}
		if strings.HasPrefix(tok, tokenPrefix) {
			return nil, fmt.Errorf("operator token %d starts with %q, as app API tokens do: use a separate random value (for example: openssl rand -hex 32)", i+1, tokenPrefix)
		}
		o.hashes = append(o.hashes, sha256.Sum256([]byte(tok)))
		o.actors = append(o.actors, OperatorActor(tok))
	}
	if len(o.hashes) == 0 {
		return nil, fmt.Errorf("no operator token given")
	}
	return o, nil
}

// ReadOperatorTokens reads operator tokens from a file: one a line; blank lines and lines
// starting with '#' are skipped. Errors name the file, never a token.
func ReadOperatorTokens(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the operator tokens: %w", err)
	}
	var tokens []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tokens = append(tokens, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the operator tokens in %s: %w", path, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s holds no operator token (one a line)", path)
	}
	return tokens, nil
}

var errOperatorUnauthenticated = apierror.New(apierror.ReasonUnauthenticated, "missing or unknown operator token: the admin API takes Authorization: Bearer <operator token>, never an app's API token")

// Authenticate returns the actor an "Authorization" header value (with or without the
// "Bearer " scheme) belongs to, or an UNAUTHENTICATED error.
func (o *Operators) Authenticate(authorization string) (string, error) {
	scheme, token, found := strings.Cut(strings.TrimSpace(authorization), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", errOperatorUnauthenticated
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(token)))
	actor := ""
	for i := range o.hashes {
		if subtle.ConstantTimeCompare(h[:], o.hashes[i][:]) == 1 {
			actor = o.actors[i]
		}
	}
	if actor == "" {
		return "", errOperatorUnauthenticated
	}
	return actor, nil
}

type actorKey struct{}

// WithActor returns a context carrying the authenticated operator.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the authenticated operator of a request context.
func ActorFrom(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(actorKey{}).(string)
	return a, ok && a != ""
}
