"""MS6 data acquisition: Sparkplug B host, plain MQTT, OPC UA client, tag mapping, machine state, counters."""
