package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchUsage lists the bench subcommands.
const benchUsage = `livegate bench — measure a running livegate.

  livegate bench ingest [flags]        drive the 100ms webhook with unique peer.join.success
                                       deliveries from N senders; throughput and latency
  livegate bench feed [flags]          N gRPC subscribers (only new events) while deliveries are
                                       posted at a rate; deliveries/s to subscribers, post→receipt latency
  livegate bench bare-server [flags]   serve a bare HTTP handler that only decodes the JSON (the
                                       ceiling bench ingest is compared with)
`

// bench dispatches `livegate bench <sub>`.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "ingest":
		return benchIngest(ctx, args[1:], stdout, stderr)
	case "feed":
		return benchFeed(ctx, args[1:], stdout, stderr)
	case "bare-server":
		return benchBareServer(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, benchUsage)
		return nil
	}
	fmt.Fprint(stderr, benchUsage)
	return errors.New(`"bench" needs a subcommand: ingest, feed, bare-server`)
}

// defaultMaxSamples bounds the latency samples a run keeps (8 bytes each): beyond it, a
// uniform random sample (reservoir sampling) of that size stands for all; max is exact.
const defaultMaxSamples = 1 << 20

// reservoir keeps a uniform random sample of at most cap durations (Algorithm R) and the
// exact count and maximum. Not safe for concurrent use: one per goroutine, merged at the end.
type reservoir struct {
	cap     int
	n       int64
	max     time.Duration
	samples []time.Duration
	rng     *rand.Rand
}

func newReservoir(capacity int) *reservoir {
	return &reservoir{cap: max(1, capacity), rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

func (r *reservoir) add(d time.Duration) {
	r.n++
	r.max = max(r.max, d)
	if len(r.samples) < r.cap {
		r.samples = append(r.samples, d)
		return
	}
	if i := r.rng.Int64N(r.n); i < int64(r.cap) {
		r.samples[i] = d
	}
}

// latencySummary is the distribution of a run's latencies, in milliseconds.
type latencySummary struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	// Samples is how many latencies the percentiles were computed from (at most
	// --max-samples, a uniform random sample of all of them beyond that).
	Samples int `json:"samples"`
}

// summarize merges per-goroutine reservoirs. Each reservoir is a uniform sample of its own
// goroutine's latencies; goroutines doing similar work make the union close to uniform.
func summarize(rs []*reservoir) latencySummary {
	var all []time.Duration
	var mx time.Duration
	for _, r := range rs {
		all = append(all, r.samples...)
		mx = max(mx, r.max)
	}
	if len(all) == 0 {
		return latencySummary{}
	}
	slices.Sort(all)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(all)))) - 1
		return ms(all[min(max(i, 0), len(all)-1)])
	}
	return latencySummary{P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(mx), Samples: len(all)}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func (l latencySummary) String() string {
	return fmt.Sprintf("p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms", l.P50, l.P90, l.P99, l.Max)
}

// failures counts failed requests by cause ("HTTP 401", "transport: ...") and keeps the
// first answer body of each cause.
type failures struct {
	mu    sync.Mutex
	count map[string]int64
	first map[string]string
	total atomic.Int64
}

func (f *failures) add(cause, detail string) {
	f.total.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.count == nil {
		f.count, f.first = map[string]int64{}, map[string]string{}
	}
	if f.count[cause] == 0 {
		f.first[cause] = detail
	}
	f.count[cause]++
}

// summary is "HTTP 401 ×12 (first: {...}); ..." in a stable order.
func (f *failures) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	causes := make([]string, 0, len(f.count))
	for c := range f.count {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	var parts []string
	for _, c := range causes {
		s := fmt.Sprintf("%s ×%d", c, f.count[c])
		if d := strings.TrimSpace(f.first[c]); d != "" {
			s += " (first: " + truncate(d, 200) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func (f *failures) byCause() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int64{}
	for c, n := range f.count {
		out[c] = n
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// progress prints a line to w once a second until stop is called: on a terminal it
// rewrites one line, elsewhere it appends lines.
func progress(w io.Writer, line func(elapsed time.Duration) string) (stop func()) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprint(w, "\r\033[K"+line(time.Since(start)))
				} else {
					fmt.Fprintln(w, line(time.Since(start)))
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// webhookURL is the 100ms webhook URL of --url, --account and --app: --url alone when it
// has a path (a full URL), else its base with /accounts/<account>/realtime/kit/<app>/webhooks/100ms.
func webhookURL(base, account, app string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--url %q: want http(s)://host:port (with --account and --app) or the full webhook URL", base)
	}
	if strings.Trim(u.Path, "/") != "" {
		if account != "" || app != "" {
			return "", errors.New("--url has a path: give either the full webhook URL or --account and --app, not both")
		}
		return u.String(), nil
	}
	if account == "" || app == "" {
		return "", errors.New("--account and --app are required unless --url is the full webhook URL")
	}
	u.Path = "/accounts/" + url.PathEscape(account) + "/realtime/kit/" + url.PathEscape(app) + "/webhooks/100ms"
	return u.String(), nil
}

// peerJoin is a 100ms peer.join.success delivery with envelope id id and peer id peer.
func peerJoin(id, room, peer string, at time.Time) []byte {
	ts := at.UTC().Format(time.RFC3339Nano)
	return fmt.Appendf(nil, `{"version":"2.0","id":%q,"account_id":"bench","timestamp":%q,"type":"peer.join.success",`+
		`"data":{"joined_at":%q,"peer_id":%q,"role":"viewer","room_id":%q,"room_name":"bench","session_id":"bench-session",`+
		`"template_id":"bench-template","type":"regular","user_id":"bench-user","user_name":"bench","user_data":"","session_started_at":%q}}`,
		id, at.UTC().Format(time.RFC3339), ts, peer, room, ts)
}

// runID is a random prefix that makes a run's delivery ids unique across runs.
func runID() string { return strconv.FormatUint(rand.Uint64(), 36) }

// poster sends deliveries to one webhook URL.
type poster struct {
	client *http.Client
	url    string
	secret string
}

func newPoster(target, secret string, conns int, timeout time.Duration) *poster {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns, conns, conns
	return &poster{client: &http.Client{Transport: tr, Timeout: timeout}, url: target, secret: secret}
}

// post sends body and reports whether it was answered 2xx; else the cause and detail.
func (p *poster) post(ctx context.Context, body []byte) (ok bool, cause, detail string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return false, "request", err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if p.secret != "" {
		req.Header.Set("X-Webhook-Secret", p.secret)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false, "transport error", err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, resp.Body)
		return true, "", ""
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return false, "HTTP " + strconv.Itoa(resp.StatusCode), string(raw)
}

// ingestResult is what `bench ingest --json` prints.
type ingestResult struct {
	URL      string  `json:"url"`
	Senders  int     `json:"senders"`
	Seconds  float64 `json:"seconds"`
	Accepted int64   `json:"accepted"`
	Failed   int64   `json:"failed"`
	// Errors counts the failures by cause: "HTTP 401", "transport error".
	Errors    map[string]int64 `json:"errors,omitempty"`
	PerSecond float64          `json:"per_second"`
	// LatencyMS is the time from sending a delivery to its answer, of the accepted ones.
	LatencyMS latencySummary `json:"latency_ms"`
}

// benchIngest drives a webhook with unique deliveries for a while and reports.
func benchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livegate bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := envString(fs, "url", "LIVEGATE_URL", "http://localhost:8080", "livegate's REST base URL (with --account and --app), or the full 100ms webhook URL")
	secret := envSecret(fs, "secret", "LIVEGATE_WEBHOOK_SECRET", "the app's webhook secret (sent as X-Webhook-Secret)", nil)
	account := fs.String("account", "", "account id")
	app := fs.String("app", "", "app id")
	senders := fs.Int("senders", 64, "concurrent senders, each with its own connection, one delivery at a time")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on one delivery after this long (counted as failed)")
	maxSamples := fs.Int("max-samples", defaultMaxSamples, "latency samples kept for the percentiles; beyond, a uniform random sample")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench ingest: unexpected argument %q", fs.Arg(0))
	}
	if *senders < 1 || *duration <= 0 {
		return errors.New("bench ingest: --senders must be at least 1 and --duration positive")
	}
	target, err := webhookURL(*base, *account, *app)
	if err != nil {
		return fmt.Errorf("bench ingest: %w", err)
	}
	p := newPoster(target, *secret, *senders, *timeout)

	var accepted atomic.Int64
	var fails failures
	rs := make([]*reservoir, *senders)
	run := runID()
	stopProgress := func() {}
	if !*quiet {
		stopProgress = progress(stderr, func(el time.Duration) string {
			a := accepted.Load()
			return fmt.Sprintf("bench ingest: %3.0fs  %d accepted (%.0f/s)  %d failed", el.Seconds(), a, float64(a)/el.Seconds(), fails.total.Load())
		})
	}
	runCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *senders {
		rs[i] = newReservoir(*maxSamples / *senders)
		wg.Add(1)
		go func() {
			defer wg.Done()
			prefix := run + "-" + strconv.Itoa(i) + "-"
			for n := 0; runCtx.Err() == nil; n++ {
				id := prefix + strconv.Itoa(n)
				t0 := time.Now()
				// The request outlives runCtx (one sent is answered, not cut off at the end),
				// not an interrupt.
				ok, cause, detail := p.post(ctx, peerJoin(id, "bench-room-"+run, "peer-"+id, t0))
				if ok {
					rs[i].add(time.Since(t0))
					accepted.Add(1)
				} else {
					fails.add(cause, detail)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	res := ingestResult{
		URL: target, Senders: *senders, Seconds: math.Round(elapsed.Seconds()*1000) / 1000,
		Accepted: accepted.Load(), Failed: fails.total.Load(), Errors: fails.byCause(),
		PerSecond: math.Round(float64(accepted.Load())/elapsed.Seconds()*10) / 10,
		LatencyMS: summarize(rs),
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "bench ingest: %s\n", res.URL)
		fmt.Fprintf(stdout, "  senders     %d for %.1fs\n", res.Senders, res.Seconds)
		fmt.Fprintf(stdout, "  accepted    %d (%.1f/s)\n", res.Accepted, res.PerSecond)
		fmt.Fprintf(stdout, "  failed      %d\n", res.Failed)
		fmt.Fprintf(stdout, "  latency     %s (%d samples)\n", res.LatencyMS, res.LatencyMS.Samples)
	}
	if ctx.Err() != nil {
		return &exitError{code: 1, msg: "bench ingest: interrupted"}
	}
	if res.Failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("bench ingest: %d of %d deliveries failed: %s", res.Failed, res.Failed+res.Accepted, fails.summary())}
	}
	if res.Accepted == 0 {
		return &exitError{code: 1, msg: "bench ingest: no delivery was answered within the run"}
	}
	return nil
}

// bareHandler only decodes the JSON body and answers like livegate's webhook does: the
// ceiling of what HTTP and JSON decoding alone allow on this machine.
func bareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"sequence":"1","duplicate":false}`))
	})
}

// benchBareServer serves bareHandler on --addr until interrupted; it prints the URL it
// serves as its first line of output.
func benchBareServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livegate bench bare-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (port 0: any free port; the URL is printed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench bare-server: unexpected argument %q", fs.Arg(0))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("bench bare-server: %w", err)
	}
	srv := &http.Server{Handler: bareHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "http://%s/webhooks/100ms\n", ln.Addr())
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	case err := <-errc:
		return fmt.Errorf("bench bare-server: %w", err)
	}
}
