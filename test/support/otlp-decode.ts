/**
 * A test-side decoder of OTLP/protobuf trace exports (ExportTraceServiceRequest, from
 * opentelemetry/proto/collector/trace/v1 and the messages it uses), written from the .proto
 * field numbers, independent of the encoders under test. It is strict: an unknown field or a
 * wrong wire type throws. Output names follow the OTLP JSON mapping (camelCase, ids in hex,
 * 64-bit times as decimal strings), so tests can read protobuf and JSON exports alike.
 */

type Kind = 'string' | 'bytes' | 'varint' | 'fixed64' | 'fixed32' | 'double' | Schema;
interface Field {
  readonly name: string;
  readonly kind: Kind;
  readonly repeated?: boolean;
}
interface Schema {
  readonly [field: number]: Field;
}

const anyValue: Schema = {};
const keyValue: Schema = { 1: { name: 'key', kind: 'string' }, 2: { name: 'value', kind: anyValue } };
Object.assign(anyValue, {
  1: { name: 'stringValue', kind: 'string' },
  2: { name: 'boolValue', kind: 'varint' },
  3: { name: 'intValue', kind: 'varint' },
  4: { name: 'doubleValue', kind: 'double' },
  5: { name: 'arrayValue', kind: { 1: { name: 'values', kind: anyValue, repeated: true } } },
  6: { name: 'kvlistValue', kind: { 1: { name: 'values', kind: keyValue, repeated: true } } },
  7: { name: 'bytesValue', kind: 'bytes' },
});
const attributes = (n: number): Record<number, Field> => ({ [n]: { name: 'attributes', kind: keyValue, repeated: true } });
const span: Schema = {
  1: { name: 'traceId', kind: 'bytes' },
  2: { name: 'spanId', kind: 'bytes' },
  3: { name: 'traceState', kind: 'string' },
  4: { name: 'parentSpanId', kind: 'bytes' },
  5: { name: 'name', kind: 'string' },
  6: { name: 'kind', kind: 'varint' },
  7: { name: 'startTimeUnixNano', kind: 'fixed64' },
  8: { name: 'endTimeUnixNano', kind: 'fixed64' },
  ...attributes(9),
  10: { name: 'droppedAttributesCount', kind: 'varint' },
  11: { name: 'events', kind: { 1: { name: 'timeUnixNano', kind: 'fixed64' }, 2: { name: 'name', kind: 'string' }, ...attributes(3), 4: { name: 'droppedAttributesCount', kind: 'varint' } }, repeated: true },
  12: { name: 'droppedEventsCount', kind: 'varint' },
  13: { name: 'links', kind: { 1: { name: 'traceId', kind: 'bytes' }, 2: { name: 'spanId', kind: 'bytes' }, 3: { name: 'traceState', kind: 'string' }, ...attributes(4), 5: { name: 'droppedAttributesCount', kind: 'varint' }, 6: { name: 'flags', kind: 'fixed32' } }, repeated: true },
  14: { name: 'droppedLinksCount', kind: 'varint' },
  15: { name: 'status', kind: { 2: { name: 'message', kind: 'string' }, 3: { name: 'code', kind: 'varint' } } },
  16: { name: 'flags', kind: 'fixed32' },
};
const exportTraceServiceRequest: Schema = {
  1: {
    name: 'resourceSpans', repeated: true, kind: {
      1: { name: 'resource', kind: { ...attributes(1), 2: { name: 'droppedAttributesCount', kind: 'varint' } } },
      2: {
        name: 'scopeSpans', repeated: true, kind: {
          1: { name: 'scope', kind: { 1: { name: 'name', kind: 'string' }, 2: { name: 'version', kind: 'string' }, ...attributes(3), 4: { name: 'droppedAttributesCount', kind: 'varint' } } },
          2: { name: 'spans', kind: span, repeated: true },
          3: { name: 'schemaUrl', kind: 'string' },
        },
      },
      3: { name: 'schemaUrl', kind: 'string' },
    },
  },
};

const WIRE: Record<string, number> = { varint: 0, fixed64: 1, double: 1, string: 2, bytes: 2, fixed32: 5 };

function decodeMessage(buf: Buffer, start: number, end: number, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let pos = start;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= end) throw new Error('truncated varint');
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  };
  while (pos < end) {
    const tag = Number(varint());
    const number = tag >>> 3;
    const wire = tag & 7;
    const field = schema[number];
    if (field === undefined) throw new Error(`unknown field ${number}`);
    const expected = typeof field.kind === 'string' ? WIRE[field.kind] : 2;
    if (wire !== expected) throw new Error(`field ${field.name}: wire type ${wire}, expected ${expected}`);
    let value: unknown;
    if (field.kind === 'varint') {
      value = Number(BigInt.asIntN(64, varint()));
    } else if (field.kind === 'fixed64') {
      value = buf.readBigUInt64LE(pos).toString();
      pos += 8;
    } else if (field.kind === 'double') {
      value = buf.readDoubleLE(pos);
      pos += 8;
    } else if (field.kind === 'fixed32') {
      value = buf.readUInt32LE(pos);
      pos += 4;
    } else {
      const length = Number(varint());
      if (pos + length > end) throw new Error(`field ${field.name}: length past the end`);
      if (field.kind === 'string') value = buf.toString('utf8', pos, pos + length);
      else if (field.kind === 'bytes') value = buf.toString('hex', pos, pos + length);
      else value = decodeMessage(buf, pos, pos + length, field.kind);
      pos += length;
    }
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(value);
    else out[field.name] = value;
  }
  if (pos !== end) throw new Error('message overran its length');
  return out;
}

/** Decode an OTLP/protobuf ExportTraceServiceRequest body. */
export function decodeTraceExport(body: Uint8Array): Record<string, unknown> {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return decodeMessage(buf, 0, buf.length, exportTraceServiceRequest);
}
