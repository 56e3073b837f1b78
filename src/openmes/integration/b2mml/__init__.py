"""B2MML (ISA-95 XML) master-data exchange: parse a business object document, read its nouns, write V0701.

`document` parses safely and splits the envelope, `reader` turns nouns of V0401, V0600 and V07 into
plain records, `routing` holds the shape a work master takes on the way in and out, `writer` produces
V0701 documents and replies. None of them does I/O; `integration.service` applies records to the
resources and definitions areas.
"""
