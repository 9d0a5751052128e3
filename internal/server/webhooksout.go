package server

import (
	"github.com/livegate/livegate/internal/outbound"
	"github.com/livegate/livegate/internal/webhookevents"
)

// parseWebhookFilter reads an outbound endpoint's stored events with the management API's
// filter language (the one Subscribe takes, and RealtimeKit's event names), leniently for
// entries an older livegate let in (webhookevents.ParseStored).
func parseWebhookFilter(events []string) (outbound.Filter, error) {
	f, err := webhookevents.ParseStored(events)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Deliverer is what the webhook endpoints' management API tells of changes and asks for
// pings: the outbound delivery engine.
func (s *Server) Deliverer() *outbound.Engine { return s.outbound }
