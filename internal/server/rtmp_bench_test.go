package server_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/rtmp"
)

// BenchmarkRTMPViewerCallbacks reports nginx-rtmp callbacks per second over real HTTP with 16
// concurrent senders, as nginx sends them when many RTMP viewers come and go: each operation
// is one viewer's on_play then on_play_done on a LIVE livestream (two callbacks, each one
// durable transaction with its feed event).
func BenchmarkRTMPViewerCallbacks(b *testing.B) {
	const senders = 16
	s := startServer(b, b.TempDir())
	token := s.createApp(accA, appA).APIToken
	secret, err := rtmp.CallbackSecret(context.Background(), s.db())
	if err != nil {
		b.Fatal(err)
	}
	ls, err := s.livestreams.CreateLivestream(withToken(token), &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var failed atomic.Int64
	post := func(hook, form string, want int) {
		resp, err := client.Post(s.base+"/rtmp/"+secret+"/"+hook, "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			failed.Add(1)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			failed.Add(1)
		}
	}
	post("on_publish", "app=live&addr=127.0.0.1&clientid=1&call=publish&name="+ls.GetData().GetStreamKey()+"&type=live", http.StatusFound)

	var next atomic.Uint64
	next.Store(1)
	id := ls.GetData().GetId()
	b.SetParallelism(max(1, senders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := strconv.FormatUint(next.Add(1), 10)
			post("on_play", "app=watch&addr=127.0.0.1&clientid="+c+"&call=play&name="+id+"&start=4294967294&duration=0&reset=0", http.StatusOK)
			post("on_play_done", "app=watch&addr=127.0.0.1&clientid="+c+"&call=play_done&name="+id, http.StatusOK)
		}
	})
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "callbacks/s")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d callbacks failed", n)
	}
}
