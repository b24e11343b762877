package plugins

// Instrument exposes instrument to the external tests.
var Instrument = instrument

// InterruptExport is the name of the interrupt global.
const InterruptExport = interruptExport
