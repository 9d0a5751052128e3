package server

import "github.com/livegate/livegate/internal/store"

// StoreOf is the server's own store, for tests that append events through the server's commit
// path (so that its hub publishes them to live subscribers, as it does a webhook's) or tune
// its writer connection (a size cap). Other tests open the store themselves.
func StoreOf(s *Server) store.Store { return s.store }
