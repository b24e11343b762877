// Package forward sends what lakegate receives on to an upstream MQTT
// broker (edge to cloud), with store-and-forward: each item to forward is
// first appended to a durable Outbox (segment files under the data
// directory, fsynced with group commit before the publisher is
// acknowledged), and an Uplink sends the outbox's items in order while the
// upstream broker is reachable, advancing a durable cursor as they are
// acknowledged. Nothing acknowledged to a publisher is lost while the
// uplink is down or across restarts; an item may arrive twice (MQTT QoS 1,
// at-least-once). Topic templates (Template) and the JSON form of a row
// (RowJSON) say what is sent where. See README.md for the configuration
// and the guarantees, and the reasons behind them.
package forward
