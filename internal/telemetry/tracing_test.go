package telemetry

import (
	"context"
	"net/http"
	"testing"
)

// TestConfigured: tracing is on only when the environment names an endpoint or an exporter,
// and OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none turn it off; off, nothing is wrapped.
func TestConfigured(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"console exporter", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{"SDK disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{"only a service name", map[string]string{"OTEL_SERVICE_NAME": "x"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME"} {
				t.Setenv(k, c.env[k])
			}
			if got := Configured(); got != c.want {
				t.Fatalf("Configured() = %v, want %v", got, c.want)
			}
			tr, err := FromEnv(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			if tr.Enabled() != c.want {
				t.Fatalf("FromEnv: enabled %v, want %v", tr.Enabled(), c.want)
			}
			if !c.want {
				h := &plainHandler{}
				if got, ok := tr.HTTPHandler(h).(*plainHandler); !ok || got != h || len(tr.ServerOptions()) != 0 || len(tr.DialOptions()) != 0 {
					t.Fatal("tracing off still instruments")
				}
			}
		})
	}
	t.Run("bad protocol", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
		t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
		if _, err := FromEnv(context.Background()); err == nil {
			t.Fatal("no error for an unknown OTLP protocol")
		}
	})
}

type plainHandler struct{}

func (*plainHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}
