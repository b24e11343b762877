package gateway

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lakegate/lakegate/arrowstore"
	"github.com/lakegate/lakegate/arrowstore/rows"
)

// ingestHook takes every PUBLISH inside the broker, before it is
// acknowledged, and hands it to the Ingester. Blocking here is deliberate:
// mochi sends the PUBACK / PUBREC only after OnPublish returns, so a QoS 1/2
// message is acknowledged only once its rows are fsynced. Taking messages in
// a hook rather than as a subscriber also means nothing is dropped when the
// store is slower than the publishers (mochi drops QoS 0 messages for a
// subscriber 8,192 messages behind). A message that cannot be stored is
// already in the dead-letter table (as durably as the message) when
// Ingest returns, so it is kept before the negative ack goes out.
type ingestHook struct {
	mqtt.HookBase
	ctx    context.Context
	ingest *Ingester
	log    *slog.Logger
}

var _ mqtt.Hook = (*ingestHook)(nil)

func (h *ingestHook) ID() string { return "lakegate-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish }

// maxReasonString bounds the reason text put in a PUBACK.
const maxReasonString = 256

func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || strings.HasPrefix(pk.TopicName, "$") {
		return pk, nil
	}
	msg := rows.Message{
		Topic:           pk.TopicName,
		Payload:         pk.Payload,
		ClientID:        cl.ID,
		Username:        string(cl.Properties.Username),
		QoS:             pk.FixedHeader.Qos,
		Retain:          pk.FixedHeader.Retain,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		ContentType:     pk.Properties.ContentType,
		Received:        time.Now(),
	}
	for _, p := range pk.Properties.User {
		msg.UserProperties = append(msg.UserProperties, rows.Property{Key: p.Key, Value: p.Val})
	}
	out, err := h.ingest.Ingest(h.ctx, &msg, pk.FixedHeader.Qos > 0)
	if err == nil || !out.Routed {
		return pk, nil
	}
	code := reasonFor(err)
	h.log.Warn("message not stored", "topic", pk.TopicName, "client", cl.ID, "qos", pk.FixedHeader.Qos,
		"reason_code", code.Code, "reason", err)

	if pk.FixedHeader.Qos == 0 {
		// Nobody waits for an answer; the broker still delivers it.
		return pk, nil
	}
	if cl.Properties.ProtocolVersion == 5 {
		// Answer with the reason ourselves: mochi's own error path sends a
		// PUBACK even for QoS 2, where the client expects a PUBREC.
		ack := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Puback},
			PacketID:    pk.PacketID,
			ReasonCode:  code.Code,
		}
		if pk.FixedHeader.Qos == 2 {
			ack.FixedHeader.Type = packets.Pubrec
		}
		ack.Properties.ReasonString = truncate(code.Reason+": "+err.Error(), maxReasonString)
		if werr := cl.WritePacket(ack); werr != nil {
			h.log.Debug("writing negative ack", "client", cl.ID, "error", werr)
		}
		return pk, packets.ErrRejectPacket
	}
	if isPermanent(err) {
		// MQTT 3 has no negative acknowledgement: acknowledge, so the client
		// does not resend a message that can never be stored; it is logged
		// and counted above.
		return pk, nil
	}
	// A store failure: withhold the ack and drop the connection, so the
	// client resends the message once it reconnects.
	cl.Stop(err)
	return pk, packets.ErrRejectPacket
}

// reasonFor maps an ingest error to its MQTT 5 reason code.
func reasonFor(err error) packets.Code {
	switch {
	case errors.Is(err, rows.ErrMalformedPayload), errors.Is(err, ErrAllRowsRejected):
		return packets.ErrPayloadFormatInvalid
	case errors.Is(err, rows.ErrInvalidName):
		return packets.ErrTopicNameInvalid
	case errors.Is(err, rows.ErrPluginFailed):
		return packets.ErrImplementationSpecificError
	case errors.Is(err, arrowstore.ErrBackpressure):
		return packets.ErrQuotaExceeded
	}
	return packets.ErrUnspecifiedError
}

// isPermanent reports whether sending the same message again would fail the same way.
func isPermanent(err error) bool {
	return errors.Is(err, rows.ErrMalformedPayload) || errors.Is(err, ErrAllRowsRejected) ||
		errors.Is(err, rows.ErrInvalidName) || errors.Is(err, rows.ErrPluginFailed)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
