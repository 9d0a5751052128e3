package hms_test

import (
	"testing"

	"github.com/livegate/livegate/internal/hms"
)

// benchBody is what `livegate bench ingest` sends: a 100ms peer.join.success delivery.
var benchBody = []byte(`{"version":"2.0","id":"0b6f8c1e-3f9b-4a53-9b1e-5f0d7c2a9e11","account_id":"bench","timestamp":"2026-11-29T05:00:00Z","type":"peer.join.success",` +
	`"data":{"joined_at":"2026-11-29T05:00:00.123456789Z","peer_id":"peer-1","role":"viewer","room_id":"room-1","room_name":"bench","session_id":"bench-session",` +
	`"template_id":"bench-template","type":"regular","user_id":"bench-user","user_name":"bench","user_data":"","session_started_at":"2026-11-29T05:00:00.123456789Z"}}`)

// BenchmarkDecode: decoding one 100ms delivery (the webhook's decode step).
func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := hms.Decode(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeLean: the same, without the envelope's data as a Struct (what ingest uses).
func BenchmarkDecodeLean(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := hms.DecodeLean(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}
