/**
 * OTLP requests in their JSON shape (lowerCamelCase fields, ids as hex, 64-bit integers as strings or
 * numbers), which is what OTLP/JSON sends and what decode.ts turns a protobuf request into.
 */
export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: string;
}

export interface KeyValue {
  /** Absent when empty: proto3 does not encode `""`. */
  key?: string;
  value?: AnyValue;
}

export interface Resource {
  attributes?: KeyValue[];
}

export interface Span {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  /** A SpanKind number: check.ts turns an enum name into its number. */
  kind?: number;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValue[];
  events?: { timeUnixNano?: string | number; name?: string; attributes?: KeyValue[] }[];
  links?: { traceId?: string; spanId?: string; attributes?: KeyValue[] }[];
  status?: { code?: number; message?: string };
}

export interface TraceRequest {
  resourceSpans?: { resource?: Resource; scopeSpans?: { scope?: { name?: string }; spans?: Span[] }[] }[];
}

export interface LogRecord {
  timeUnixNano?: string | number;
  observedTimeUnixNano?: string | number;
  severityNumber?: number;
  severityText?: string;
  body?: AnyValue;
  attributes?: KeyValue[];
  traceId?: string;
  spanId?: string;
  eventName?: string;
}

export interface LogsRequest {
  resourceLogs?: {
    resource?: Resource;
    scopeLogs?: { scope?: { name?: string }; logRecords?: LogRecord[] }[];
  }[];
}
