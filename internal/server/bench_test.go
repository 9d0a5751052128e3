package server_test

import (
	"fmt"
	"testing"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// Create and list throughput over both faces, with parallel clients (go test -bench).
// Reports ops/s; nothing here asserts a time.

func BenchmarkCreateGRPC(b *testing.B) {
	s := startServer(b, b.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: "bench"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

func BenchmarkCreateREST(b *testing.B) {
	s := startServer(b, b.TempDir())
	creds := s.createApp(accA, appA)
	path := "/accounts/" + accA + "/realtime/kit/" + appA + "/livestreams"
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := s.rest("POST", path, creds.APIToken, `{"name":"bench"}`); r.Status != 201 {
				b.Errorf("HTTP %d", r.Status)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// listServer is a server holding 1,000 livestreams; lists read pages of 20.
func listServer(b *testing.B) (*testServer, string) {
	s := startServer(b, b.TempDir())
	creds := s.createApp(accA, appA)
	ctx := withToken(creds.APIToken)
	for i := range 1000 {
		if _, err := s.livestreams.CreateLivestream(ctx, &livegatev1.CreateLivestreamRequest{AccountId: accA, AppId: appA, Name: fmt.Sprint("s", i)}); err != nil {
			b.Fatal(err)
		}
	}
	return s, creds.APIToken
}

func BenchmarkListGRPC(b *testing.B) {
	s, token := listServer(b)
	ctx := withToken(token)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: accA, AppId: appA, PerPage: 20, PageNo: 3}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lists/s")
}

func BenchmarkListREST(b *testing.B) {
	s, token := listServer(b)
	path := "/accounts/" + accA + "/realtime/kit/" + appA + "/livestreams?per_page=20&page_no=3"
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := s.rest("GET", path, token, nil); r.Status != 200 {
				b.Errorf("HTTP %d", r.Status)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lists/s")
}
